"""An XGBoost cost model of absolute kernel latency, shared by every task and architecture.

MetaSchedule's own ``XGBModel`` ranks schedules *within* a task (targets are normalized per
workload), which cannot say whether one architecture's kernels are faster than another's. This
model predicts the absolute latency of a candidate, in log-seconds, from features of the
candidate and of its task, so predictions add up over an architecture's kernels. It is trained
online on every measurement of every task; a small bagged ensemble gives an uncertainty with
each prediction, which the joint search uses to decide what to measure next.

Features of one candidate: MetaSchedule's per-store features (164 per buffer store) summed and
maxed over the stores, the number of stores, and the task's FLOPs, all ``log1p``-scaled. A
candidate with no buffer store (possible for trivial kernels) gets zero store features, where
MetaSchedule's model crashes on numpy 2 (``np.bincount`` on an empty float id array).

Extracting them costs ~8 ms a candidate (MetaSchedule lowers the schedule), and the same
candidates come back: the evolutionary search scores the database's best of a task again in
every population, and the batch it picks is scored again for the search and once more when
it is learnt from. The rows are kept by the scheduled program's structural hash (43 % of the
candidates a default run scores were repeats).

It is a MetaSchedule ``PyCostModel``: pass it as ``cost_model=`` to ``ms.tune_tasks``.
"""

from __future__ import annotations

import logging
import math
import pickle
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from tvm.ir.utils import derived_object

from tvm_nacos._compat import estimate_tir_flops, meta_schedule, structural_hash
from tvm_nacos.tuning.database import FAILED_RUN_SECS, mean_run_secs

ms = meta_schedule()

logger = logging.getLogger(__name__)

__all__ = ["CostModelAccuracy", "LatencyCostModel"]

_STORE_FEATURES = 164
_FEATURE_CACHE_ROWS = 16384  # ~22 MB of float32 rows


@dataclass(frozen=True)
class CostModelAccuracy:
    """How well the model predicts measurements it was not trained on.

    Attributes
    ----------
    spearman : float
        Rank correlation of predicted and measured latency.
    median_abs_rel_error : float
        Median of |predicted − measured| / measured.
    num_samples : int
        Held-out measurements the figures come from.
    """

    spearman: float
    median_abs_rel_error: float
    num_samples: int


def _mean_run_secs(result: Any) -> float | None:
    if result.error_msg is not None or result.run_secs is None or len(result.run_secs) == 0:
        return None
    secs = mean_run_secs(result.run_secs)
    return None if secs <= 0 or secs >= FAILED_RUN_SECS else secs


@derived_object
class LatencyCostModel(ms.cost_model.PyCostModel):
    """XGBoost ensemble predicting log run time of a schedule candidate, across tasks.

    Parameters
    ----------
    num_models : int
        Boosters in the bagged ensemble (the spread of their predictions is the uncertainty).
    num_rounds : int
        Boosting rounds per booster.
    retrain_growth : float
        Retrain when the data has grown by this fraction since the last training.
    seed : int
        Seed of bootstrap sampling and of the untrained model's random scores.
    nthread : int
        XGBoost threads.

    Attributes
    ----------
    feature_cache_hits : int
        Candidates whose features came from the cache (rows kept by task and scheduled program,
        the least recently used dropped past 16384 rows, ~22 MB): the evolutionary search
        scores a task's best schedules again and again.
    """

    def __init__(
        self,
        num_models: int = 4,
        num_rounds: int = 120,
        retrain_growth: float = 0.2,
        seed: int = 0,
        nthread: int = 2,
    ) -> None:
        super().__init__()
        self.num_models = num_models
        self.num_rounds = num_rounds
        self.retrain_growth = retrain_growth
        self.seed = seed
        self.nthread = nthread
        self._features: list[np.ndarray] = []
        self._log_secs: list[float] = []
        self._boosters: list[Any] = []
        self._trained_on = 0
        self._rng = np.random.default_rng(seed)
        self._extractor = ms.feature_extractor.PerStoreFeature()
        self._task_features: dict[int, np.ndarray] = {}  # structural hash of the task -> features
        # (task hash, scheduled program's hash) -> feature row, least recently used first
        self._candidate_rows: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self.feature_cache_hits = 0

    def unfitted_copy(self) -> LatencyCostModel:
        """A model with the same settings and nothing learnt (one per target of a search over several)."""
        return LatencyCostModel(num_models=self.num_models, num_rounds=self.num_rounds, retrain_growth=self.retrain_growth,
                          seed=self.seed, nthread=self.nthread)

    @contextmanager
    def threads(self, nthread: int) -> Iterator[None]:
        """Train with ``nthread`` XGBoost threads inside the ``with`` block (at least 1): fewer
        while a build holds cores (XGBoost's threads wait on each other, so two of them beside a
        busy core train about 2× slower than one)."""
        saved, self.nthread = self.nthread, max(1, int(nthread))
        try:
            yield
        finally:
            self.nthread = saved

    # -- features ---------------------------------------------------------------------------

    def _task_key(self, context: Any) -> int:
        # Not id(context.mod): each access returns a new wrapper, and freed ids are reused.
        key = int(structural_hash(context.mod))
        if key not in self._task_features:
            flop = estimate_tir_flops(context.mod)
            self._task_features[key] = np.array([math.log1p(max(flop, 0.0))], dtype=np.float32)
        return key

    def features(self, context: Any, candidates: Sequence[Any]) -> np.ndarray:
        """One feature row per candidate (see the module docstring); rows of candidates seen
        before come from a cache."""
        task_key = self._task_key(context)
        keys = [(task_key, int(structural_hash(c.sch.mod))) for c in candidates]
        missing = {key: c for key, c in zip(keys, candidates, strict=True) if key not in self._candidate_rows}
        self.feature_cache_hits += len(keys) - len(missing)
        if missing:
            new_rows = self._extract(context, self._task_features[task_key], list(missing.values()))
            for key, row in zip(missing, new_rows, strict=True):
                self._candidate_rows[key] = row
        rows = []
        for key in keys:
            self._candidate_rows.move_to_end(key)
            rows.append(self._candidate_rows[key])
        while len(self._candidate_rows) > _FEATURE_CACHE_ROWS:
            self._candidate_rows.popitem(last=False)
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), 2 * _STORE_FEATURES + 2)

    def _extract(self, context: Any, task: np.ndarray, candidates: list[Any]) -> list[np.ndarray]:
        """Feature rows of ``candidates`` from MetaSchedule's per-store features."""
        rows = []
        for stores in self._extractor.extract_from(context, candidates):
            array = stores.numpy().astype(np.float32).reshape(-1, _STORE_FEATURES)
            if array.shape[0] == 0:
                summed = maxed = np.zeros(_STORE_FEATURES, dtype=np.float32)
            else:
                summed, maxed = array.sum(axis=0), array.max(axis=0)
            rows.append(np.concatenate(
                [np.log1p(np.abs(summed)), np.log1p(np.abs(maxed)), [math.log1p(array.shape[0])], task]
            ).astype(np.float32))
        return rows

    # -- training ---------------------------------------------------------------------------

    @property
    def num_samples(self) -> int:
        """Measurements the model has seen."""
        return len(self._log_secs)

    def add_measurements(self, features: np.ndarray, run_secs: Sequence[float]) -> None:
        """Add (features, mean run seconds) pairs; retrain if the data grew enough."""
        for row, secs in zip(features, run_secs, strict=True):
            self._features.append(np.asarray(row, dtype=np.float32))
            self._log_secs.append(math.log(secs))
        if self.num_samples >= 4 and self.num_samples >= (1 + self.retrain_growth) * self._trained_on:
            self._train()

    def _train(self) -> None:
        import xgboost as xgb

        x = np.stack(self._features)
        y = np.asarray(self._log_secs, dtype=np.float32)
        params = {
            "max_depth": 6,
            "eta": 0.1,
            "subsample": 0.9,
            "colsample_bytree": 0.8,
            "min_child_weight": 1,
            "objective": "reg:squarederror",
            "nthread": self.nthread,
            "verbosity": 0,
        }
        boosters = []
        for i in range(self.num_models):
            index = self._rng.integers(0, len(y), len(y)) if self.num_models > 1 else np.arange(len(y))
            data = xgb.DMatrix(x[index], label=y[index])
            boosters.append(xgb.train({**params, "seed": self.seed + i}, data, num_boost_round=self.num_rounds))
        self._boosters = boosters
        self._trained_on = len(y)
        logger.debug("cost model trained on %d measurements", len(y))

    def update(self, context: Any, candidates: list[Any], results: list[Any]) -> None:
        """MetaSchedule hook: learn from a measured batch (failed candidates are skipped)."""
        keep = [(c, s) for c, r in zip(candidates, results, strict=True) if (s := _mean_run_secs(r)) is not None]
        if not keep:
            return
        features = self.features(context, [c for c, _ in keep])
        self.add_measurements(features, [s for _, s in keep])

    # -- prediction -------------------------------------------------------------------------

    @property
    def is_trained(self) -> bool:
        """Whether any booster has been trained."""
        return bool(self._boosters)

    def predict_log_secs(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation, over the ensemble, of predicted log run seconds."""
        import xgboost as xgb

        if not self.is_trained:
            raise RuntimeError("the cost model has no measurement to learn from yet")
        data = xgb.DMatrix(np.asarray(features, dtype=np.float32))
        preds = np.stack([b.predict(data) for b in self._boosters])
        return preds.mean(axis=0), preds.std(axis=0)

    def predict_secs(self, context: Any, candidates: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted run seconds of each candidate, and the log-space standard deviation."""
        mean, std = self.predict_log_secs(self.features(context, candidates))
        return np.exp(mean), std

    def predict(self, context: Any, candidates: list[Any]) -> np.ndarray:
        """MetaSchedule hook: a score per candidate, higher is faster (1 / predicted ms)."""
        if not candidates:
            return np.zeros(0, dtype=np.float64)
        if not self.is_trained:
            return self._rng.random(len(candidates))
        secs, _ = self.predict_secs(context, candidates)
        return (1e-3 / secs).astype(np.float64)

    def held_out_accuracy(self, folds: int = 5) -> CostModelAccuracy:
        """K-fold estimate of rank correlation and relative error on unseen measurements."""
        from scipy.stats import spearmanr

        n = self.num_samples
        if n < 2 * folds:
            raise ValueError(f"need at least {2 * folds} measurements for {folds}-fold validation, have {n}")
        x = np.stack(self._features)
        y = np.asarray(self._log_secs)
        order = np.random.default_rng(self.seed).permutation(n)
        predicted = np.empty(n)
        for fold in range(folds):
            test = order[fold::folds]
            train = np.setdiff1d(order, test)
            probe = LatencyCostModel(self.num_models, self.num_rounds, self.retrain_growth, self.seed, self.nthread)
            probe.add_measurements(x[train], np.exp(y[train]))
            predicted[test] = probe.predict_log_secs(x[test])[0]
        rho = float(spearmanr(predicted, y).statistic)
        rel = np.abs(np.exp(predicted) - np.exp(y)) / np.exp(y)
        return CostModelAccuracy(rho, float(np.median(rel)), n)

    # -- persistence ------------------------------------------------------------------------

    def save(self, path: str) -> None:
        """Save the measurements and boosters."""
        state = {
            "features": self._features,
            "log_secs": self._log_secs,
            "boosters": [bytes(b.save_raw("ubj")) for b in self._boosters],
            "trained_on": self._trained_on,
            "rng": self._rng.bit_generator.state,
        }
        with open(path, "wb") as f:
            pickle.dump(state, f)

    def load(self, path: str) -> None:
        """Load what :meth:`save` wrote."""
        import xgboost as xgb

        with open(path, "rb") as f:
            state = pickle.load(f)
        self._features = list(state["features"])
        self._log_secs = list(state["log_secs"])
        self._boosters = []
        for raw in state["boosters"]:
            booster = xgb.Booster()
            booster.load_model(bytearray(raw))
            self._boosters.append(booster)
        self._trained_on = int(state["trained_on"])
        self._rng.bit_generator.state = state["rng"]
