"""NACOSSearchStrategy: MetaSchedule's evolutionary schedule search, made to report what it expects.

Schedule moves are MetaSchedule's own: ``EvolutionarySearch`` mutates traces, guided by the cost
model. What this strategy adds is the bridge to the architecture level: when the cost model is a
:class:`~tvm_nacos.cosearch.cost_model.LatencyCostModel`, every batch it proposes carries the
model's predicted latency (and uncertainty) of each candidate, so the joint search can tell what
measuring this task next would gain for the architectures that use it. It honours the
``SearchStrategy`` contract (``pre_tuning``, ``generate_measure_candidates``,
``notify_runner_results``, ``post_tuning``, trial budgets), so it also works in a plain
``ms.tune_tasks`` session.

It also never proposes a schedule the database already holds. MetaSchedule's evolutionary search
remembers what it measured only within one session, so a resumed search (or a second search on
the same work directory) would measure old candidates again; here the records of the task are
replayed once at ``pre_tuning`` and every proposal is filtered against them. (The database's
``get_top_k`` leaves failed records out; pass ``previous_records`` to include those too.)
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from tvm.ir.utils import derived_object

from tvm_nacos._compat import meta_schedule, structural_hash, tir_schedule_class
from tvm_nacos.cosearch.cost_model import LatencyCostModel

ms = meta_schedule()

logger = logging.getLogger(__name__)

__all__ = ["NACOSSearchStrategy"]


@derived_object
class NACOSSearchStrategy(ms.search_strategy.PySearchStrategy):
    """Evolutionary schedule search that exposes predicted latencies of its candidates.

    Parameters
    ----------
    population_size : int
        Population of the evolutionary search (smaller than MetaSchedule's 512: many tasks share
        a small budget here).
    init_min_unmeasured : int
        Random schedules drawn per generation before evolution.
    genetic_num_iters : int
        Evolution rounds per batch.
    eps_greedy : float
        Share of each batch picked at random instead of by the model.
    latency_model : LatencyCostModel, optional
        The model whose predictions to attach to each batch. (The cost model MetaSchedule hands
        to ``pre_tuning`` is an FFI wrapper that hides our Python object, so it is passed here.)
    previous_records : list of TuningRecord, optional
        Every earlier record of this task, failed ones included; by default the database's
        valid records.

    Attributes
    ----------
    predicted_secs : numpy.ndarray or None
        Predicted run seconds of the last batch proposed, when the cost model can predict them.
    predicted_log_std : numpy.ndarray or None
        Their uncertainty (standard deviation in log space).
    trials_measured : int
        Candidates whose results came back.
    num_skipped : int
        Proposals dropped because the database already held them.
    """

    #: Proposals are re-drawn at most this many times when all were already measured.
    MAX_REDRAWS = 4

    def __init__(
        self,
        population_size: int = 64,
        init_min_unmeasured: int = 16,
        genetic_num_iters: int = 2,
        eps_greedy: float = 0.05,
        latency_model: LatencyCostModel | None = None,
        previous_records: list[Any] | None = None,
    ) -> None:
        self.latency_model = latency_model
        self.previous_records = previous_records
        self.population_size = population_size
        self.init_min_unmeasured = init_min_unmeasured
        self.genetic_num_iters = genetic_num_iters
        self.eps_greedy = eps_greedy
        self._inner = ms.search_strategy.EvolutionarySearch(
            population_size=population_size,
            init_min_unmeasured=init_min_unmeasured,
            genetic_num_iters=genetic_num_iters,
            eps_greedy=eps_greedy,
        )
        self._context: Any = None
        self.predicted_secs: np.ndarray | None = None
        self.predicted_log_std: np.ndarray | None = None
        self.trials_measured = 0
        self.num_skipped = 0
        self._measured: set[int] = set()

    def _initialize_with_tune_context(self, context: Any) -> None:
        self._context = context
        self._inner._initialize_with_tune_context(context)

    def pre_tuning(
        self,
        max_trials: int,
        num_trials_per_iter: int,
        design_spaces: list[Any],
        database: Any = None,
        cost_model: Any = None,
    ) -> None:
        self._inner.pre_tuning(max_trials, num_trials_per_iter, design_spaces, database, cost_model)
        self._measured = set()
        records = self.previous_records
        if records is None and database is not None and self._context is not None:
            if database.has_workload(self._context.mod):
                records = database.get_top_k(database.commit_workload(self._context.mod), 1 << 20)
        if records:
            schedule_class = tir_schedule_class()
            for record in records:
                sch = schedule_class(record.workload.mod)
                try:
                    record.trace.apply_to_schedule(sch, remove_postproc=False)
                except Exception:  # pylint: disable=broad-except
                    continue  # a record this TVM cannot replay: it cannot be proposed again either
                self._measured.add(int(structural_hash(sch.mod)))

    def post_tuning(self) -> None:
        self._inner.post_tuning()

    def generate_measure_candidates(self) -> list[Any] | None:
        candidates = self._fresh(self._inner.generate_measure_candidates())
        for _ in range(self.MAX_REDRAWS):
            if candidates is None or candidates:
                break
            candidates = self._fresh(self._inner.generate_measure_candidates())
        if candidates is not None and not candidates:
            candidates = None  # everything it can propose was measured before: exhausted
        if candidates:
            self.predicted_secs = self.predicted_log_std = None
        if candidates and self.latency_model is not None and self.latency_model.is_trained:
            self.predicted_secs, self.predicted_log_std = self.latency_model.predict_secs(self._context, candidates)
        return candidates

    def _fresh(self, candidates: list[Any] | None) -> list[Any] | None:
        """``candidates`` without those measured before (``None`` stays ``None``: exhausted)."""
        if candidates is None or not self._measured:
            return candidates
        fresh = [c for c in candidates if int(structural_hash(c.sch.mod)) not in self._measured]
        self.num_skipped += len(candidates) - len(fresh)
        return fresh

    def notify_runner_results(self, measure_candidates: list[Any], results: list[Any]) -> None:
        self._measured.update(int(structural_hash(c.sch.mod)) for c in measure_candidates)
        self.trials_measured += len(results)
        self._inner.notify_runner_results(measure_candidates, results)

    def clone(self) -> NACOSSearchStrategy:
        return NACOSSearchStrategy(
            self.population_size, self.init_min_unmeasured, self.genetic_num_iters, self.eps_greedy, self.latency_model
        )
