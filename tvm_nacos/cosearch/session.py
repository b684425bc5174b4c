"""State shared by every search strategy: architectures, their task pool, and measurement.

One :class:`SearchSession` owns the pieces that make strategies comparable at an equal budget:
the task pool (a kernel shared by several architectures is one task), one tuning database per
work directory, one :class:`~tvm_nacos.cosearch.cost_model.LatencyCostModel`, one builder and
runner, and the count of measured trials. Strategies differ only in *which* architectures they
look at and *which* task they measure next.

Measurement is MetaSchedule's loop, driven one task and one batch at a time
(:class:`TaskTuner`): the task's :class:`~tvm_nacos.cosearch.schedule_strategy.NACOSSearchStrategy`
proposes a batch, the builder and runner measure it, and the results go to the strategy, the
database (appended as they arrive) and the shared cost model. Driving it ourselves, rather than
through ``ms.tune_tasks``, lets the pool grow while the search moves through architectures.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tvm
from tvm import relax

from tvm_nacos._compat import estimate_tir_flops, find_anchor_block, meta_schedule, structural_hash
from tvm_nacos.cosearch.cost_model import LatencyCostModel
from tvm_nacos.cosearch.objectives import Constraints, pareto_indices
from tvm_nacos.cosearch.progress import FrontPoint, SearchProgress
from tvm_nacos.cosearch.schedule_strategy import NACOSSearchStrategy
from tvm_nacos.cosearch.timing import PhaseTimes
from tvm_nacos.errors import SearchConfigError, WorkDirError
from tvm_nacos.search_space import ArchSample, SearchSpace
from tvm_nacos.target import device_for
from tvm_nacos.tuning.builder import PersistentBuilder
from tvm_nacos.tuning.database import (
    FAILED_RUN_SECS,
    best_run_secs,
    count_records,
    open_database,
    apply_tuned_schedules,
    transfer_schedule,
)
from tvm_nacos.tuning.intrin import register_tensor_intrinsics
from tvm_nacos.tuning.runner import MeasureConfig, make_runner
from tvm_nacos.tuning.tasks import ArchitectureTasks, TaskPool, lower_for_tuning, task_key
from tvm_nacos.workdir import atomic_write_text, prepare_work_dir, read_json, search_state_dir

ms = meta_schedule()

logger = logging.getLogger(__name__)

__all__ = ["ArchitectureEstimate", "SearchSession", "TaskTuner", "headroom_log_std", "tuned_log_std"]

#: Before the cost model has data: assume this throughput for an unmeasured kernel ...
PRIOR_GFLOPS = 20.0
#: ... plus this fixed cost per call, and this log-space uncertainty.
PRIOR_OVERHEAD_SECS = 5e-6
PRIOR_LOG_STD = 1.0
#: Log-space headroom the search assumes left in a kernel measured with one batch ...
TUNED_LOG_STD = 0.3
#: ... and the headroom measured on tuning logs after one trial (``bench/tuning_curve.py``).
HEADROOM_LOG_STD = 1.0
#: Bounds of the slope of the log-latency vs log-FLOPs prior.
MIN_PRIOR_SLOPE, MAX_PRIOR_SLOPE = 0.1, 1.5
#: Version of ``WORK_DIR/search/state.json``.
STATE_FORMAT = 1


def tuned_log_std(trials: int, batch_size: int) -> float:
    """The log-space headroom the joint search assumes left in a kernel after ``trials``
    measurements: :data:`TUNED_LOG_STD` / √(1 + trials / batch_size).

    ``bench/tuning_curve.py`` measures what is really left on tuning logs: on the 2-core CPU
    (26 kernels tuned to ≥ 64 trials) the median is 1.15 / 0.54 / 0.40 / 0.21 after 1 / 4 / 8
    / 16 trials, two to four times this. Assuming that much instead (1/√n) made the joint
    search spread the 83 trials of the exhaustive-subspace benchmark over more architectures
    and fall to 44–93 % of the exhaustive hypervolume (109–120 % with this one): this is an
    exploration setting of the acquisition, not a calibrated uncertainty.
    """
    return TUNED_LOG_STD / math.sqrt(1 + trials / batch_size)


def headroom_log_std(trials: int) -> float:
    """What tuning a kernel further was measured to remove after ``trials`` trials, in log
    space: :data:`HEADROOM_LOG_STD` / √trials.

    ``bench/tuning_curve.py`` on this project's tuning logs (2-core CPU, 26 kernels tuned to
    ≥ 64 trials): log(best of n / best of 64) has median 1.15 / 0.54 / 0.40 / 0.21 / 0.09 and
    mean 1.23 / 0.66 / 0.50 / 0.33 / 0.15 after 1 / 4 / 8 / 16 / 32 trials.
    """
    return HEADROOM_LOG_STD / math.sqrt(max(1, trials))


class TaskTuner:
    """One kernel of the pool, tuned a batch at a time.

    Parameters
    ----------
    mod : tvm.IRModule
        The kernel (``{"main": PrimFunc}``).
    name : str
        Its name, for logs.
    session : SearchSession
        Supplies target, database, cost model, seed.
    """

    def __init__(self, mod: tvm.IRModule, name: str, session: SearchSession, key: str | None = None) -> None:
        self.mod = mod
        self.name = name
        self.session = session
        self.key = key if key is not None else task_key(mod)
        self.flop = max(estimate_tir_flops(mod), 1.0)
        previous = session.records_of(mod)
        self.best_secs = best_run_secs(session.database, mod) if previous else None
        self.trials = len(previous)
        if self.key in session.transfers:  # measured through a transferred schedule (resume)
            transferred = session.transfers[self.key]
            self.trials += 1
            if transferred is not None and (self.best_secs is None or transferred < self.best_secs):
                self.best_secs = transferred
        self.exhausted = False
        self._context: Any = None
        # Our handle on the strategy: the context hands back only its FFI wrapper. It is told
        # every earlier record, failed ones included, so that nothing is measured twice.
        self._strategy = NACOSSearchStrategy(latency_model=session.cost_model, previous_records=previous)
        self._pending: list[Any] | None = None
        self._workload: Any = None
        self._transfer: Any = None
        self._transfer_replays = False
        self._transfer_looked = -1
        if previous and self.best_secs is not None:
            best = min(
                (r for r in previous if r.run_secs and float(np.mean([float(x) for x in r.run_secs])) < FAILED_RUN_SECS),
                key=lambda r: float(np.mean([float(x) for x in r.run_secs])),
                default=None,
            )
            if best is not None:
                session.share_schedule(mod, best.trace, best.run_secs, best.args_info)

    def _ensure_context(self) -> Any:
        if self._context is None:
            session = self.session
            with session.times.phase("schedule search"):  # design spaces are the search's first step
                self._context = ms.TuneContext(
                    mod=self.mod,
                    target=session.target,
                    space_generator="post-order-apply",
                    search_strategy=self._strategy,
                    task_name=self.name,
                    num_threads=session.num_threads,
                    rand_state=session.seed + len(session.tuners),
                )
                self._context.pre_tuning(
                    max_trials=1 << 20,
                    num_trials_per_iter=session.batch_size,
                    design_spaces=self._context.generate_design_space(),
                    database=session.database,
                    cost_model=session.cost_model,
                )
            self._workload = session.database.commit_workload(self.mod)
            if getattr(session.builder, "check_outputs", False):
                session.builder.add_reference(self.mod)
        return self._context

    def _proposal(self) -> list[Any] | None:
        if self._pending is None and not self.exhausted:
            context = self._ensure_context()
            with self.session.times.phase("schedule search"):
                self._pending = context.generate_measure_candidates()
            if not self._pending:
                self.exhausted, self._pending = True, None
        return self._pending

    def transfer_candidate(self) -> Any:
        """A first candidate borrowed from a measured kernel with the same anchor block, or ``None``.

        Fused variants of one convolution (with or without a residual add, another bias or
        activation) share the anchor block. Before this kernel's first measurement, the best
        schedule of such a variant is re-applied to it (MetaSchedule's anchor-trace transfer,
        the one ``MetaScheduleApplyDatabase`` uses with ``anchor-block`` equality): one trial
        then gives it a tuned-quality measurement where a first look at fresh random schedules
        needs several.
        """
        if self.trials == 0 and self._transfer is None and self._transfer_looked != self.session.anchor_version:
            self._transfer_looked = self.session.anchor_version  # look again when a sibling improves
            sch = self.session.transferred_schedule(self.mod)
            if sch is not None:
                # Arguments as the scheduled kernel takes them (weights in a rewritten layout).
                self._transfer = ms.MeasureCandidate(sch, ms.arg_info.ArgInfo.from_entry_func(sch.mod, remove_preproc=True))
                self._transfer_replays = _replays(sch, self.mod)
        return self._transfer if self.trials == 0 else None

    def predicted_best_secs(self) -> tuple[float, float]:
        """Optimistic-ready estimate of this kernel's best latency: (seconds, log-space std).

        Measured: the best measurement (std shrinking with trials). Unmeasured, with a measured
        variant of the same anchor block: that variant's best. Unmeasured, with a batch
        already proposed: the cost model's best prediction over that batch. Otherwise a prior
        from the kernel's FLOPs (:meth:`SearchSession.flop_prior`). Proposing a batch runs an
        evolutionary search, about a second per kernel here: doing it for every unmeasured
        kernel of every architecture in view (hundreds on NAS-Bench-201) cost minutes per round,
        so it happens only for the kernel about to be measured.
        """
        if self.best_secs is not None:
            return self.best_secs, tuned_log_std(self.trials, self.session.batch_size)
        if self.trials == 0:
            sibling = self.session.anchor_sibling_secs(self.mod)
            if sibling is not None:  # a variant with this anchor block was measured: about as fast
                return sibling, 0.3
        strategy = self._strategy
        if self._pending is not None and strategy.predicted_secs is not None and len(strategy.predicted_secs):
            i = int(np.argmin(strategy.predicted_secs))
            return float(strategy.predicted_secs[i]), float(strategy.predicted_log_std[i]) + 0.3
        return self.session.flop_prior(self.flop)

    def measure(self, max_candidates: int) -> int:
        """Measure one batch (at most ``max_candidates``); returns the trials spent.

        A kernel's first batch starts with its :meth:`transfer_candidate`, if any; a first batch
        of one candidate is that candidate alone (no schedule search is run for it).
        """
        transfer = self.transfer_candidate()
        if transfer is not None and max_candidates == 1:
            candidates = [transfer]
        else:
            proposal = self._proposal()
            self._pending = None
            candidates = ([transfer] if transfer is not None else []) + list(proposal or [])
            if not candidates:
                return 0
            candidates = candidates[:max_candidates]
        self._transfer = None
        session = self.session
        context = self._ensure_context()
        with session.times.phase("build"):
            builds = session.builder.build([ms.builder.BuilderInput(c.sch.mod, session.target) for c in candidates])
        runnable = [
            (i, ms.runner.RunnerInput(b.artifact_path, session.device_type, c.args_info))
            for i, (c, b) in enumerate(zip(candidates, builds))
            if b.error_msg is None
        ]
        results: list[Any] = [ms.runner.RunnerResult(None, b.error_msg) for b in builds]
        with session.times.phase("run"):
            futures = session.runner.run([r for _, r in runnable])
            for (i, _), future in zip(runnable, futures):
                results[i] = future.result()
        context.notify_runner_results(candidates, results)
        for candidate, result in zip(candidates, results):
            run_secs = result.run_secs if result.error_msg is None and result.run_secs else [FAILED_RUN_SECS * 10]
            ok = result.error_msg is None and bool(result.run_secs)
            if candidate is transfer and not self._transfer_replays:
                # A transferred schedule whose trace does not replay on this kernel by itself
                # cannot be a database record: it is kept in the search state, and compiling
                # re-derives it (tuning.database.apply_tuned_schedules).
                session.transfers[self.key] = float(np.mean([float(x) for x in run_secs])) if ok else None
            else:
                session.database.commit_tuning_record(
                    ms.database.TuningRecord(
                        candidate.sch.trace, self._workload, [float(x) for x in run_secs], session.target,
                        candidate.args_info,
                    )
                )
            if ok:
                secs = float(np.mean([float(x) for x in result.run_secs]))
                if candidate is transfer:
                    session.num_transfers += 1
                if self.best_secs is None or secs < self.best_secs:
                    self.best_secs = secs
                    if candidate is not transfer:
                        session.share_schedule(self.mod, candidate.sch.trace, run_secs, candidate.args_info)
            else:
                session.num_failed += 1
                session.record_failure(self.name, result.error_msg or "no run time")
        with session.times.phase("cost model"):
            session.cost_model.update(context, candidates, results)
        self.trials += len(candidates)
        _remove_artifacts(builds)
        return len(candidates)


def _replays(sch: Any, mod: tvm.IRModule) -> bool:
    """Whether ``sch``'s trace, replayed on ``mod`` alone, gives ``sch``'s module."""
    from tvm_nacos._compat import structural_equal, tir_schedule_class  # pylint: disable=import-outside-toplevel

    replay = tir_schedule_class()(mod)
    try:
        sch.trace.apply_to_schedule(replay, remove_postproc=False)
    except Exception:  # pylint: disable=broad-except
        return False
    return bool(structural_equal(replay.mod, sch.mod))


def _remove_artifacts(builds: Sequence[Any]) -> None:
    """Delete the temporary folders of a measured batch's build artifacts."""
    for build in builds:
        path = build.artifact_path
        if path:
            folder = os.path.dirname(str(path))
            if os.path.basename(folder).startswith(("nacos-", "tmp")) and folder.startswith(tempfile.gettempdir()):
                shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class ArchitectureEstimate:
    """What the session currently knows of one architecture.

    Attributes
    ----------
    sample : ArchSample
    accuracy : float
    latency_ms : float
        Σ weight × best kernel latency, measured where measured, predicted otherwise.
    optimistic_latency_ms : float
        The same with every kernel at its optimistic (lower-confidence) estimate.
    measured : bool
        Every kernel has at least one measurement.
    """

    sample: ArchSample
    accuracy: float
    latency_ms: float
    optimistic_latency_ms: float
    measured: bool


class SearchSession:
    """Architectures, task pool, database, cost model and budget of one search.

    Parameters
    ----------
    mod : tvm.IRModule
        The module with choice points.
    space : SearchSpace
        Its search space.
    accuracy : callable
        ``samples -> list[float]``, e.g. an estimator's ``evaluate``.
    target : tvm.target.Target
    work_dir : path
    budget : int
        Measurement trials the search may spend.
    constraints : Constraints, optional
    seed : int
    builder, runner : optional
        Defaults: a :class:`PersistentBuilder` and the local runner.
    batch_size : int
        Candidates per measured batch.
    deterministic : bool
        Generate schedule candidates on one thread: MetaSchedule's evolutionary search hands
        work to threads dynamically, so with several threads the same seed can give other
        candidates. Slower; for reproducibility checks.
    source : BuiltinSpace, optional
        The built-in space ``mod`` was built from, if any: its PyTorch reference serves the
        ``eager`` latency proxy of the two-stage baseline.
    run_info : Mapping, optional
        What identifies the run besides seed, budget, space and target (the strategy and its
        options): a resumed run must match it.
    resume : bool
        Continue the run whose state is in ``work_dir/search/`` (trials spent, random state,
        cost model, the strategy's own state) instead of starting a new one. Without a saved
        state, a warning is logged and a new run starts.
    progress : callable, optional
        Called with a :class:`~tvm_nacos.cosearch.progress.SearchProgress` after every batch.
    check_outputs : bool
        Run every candidate on random inputs and compare its outputs with the unscheduled
        kernel's before timing it; a mismatch is a failed trial ("output mismatch: ...").
        Applies to the default builder and runner.
    cost_model : LatencyCostModel, optional
        The shared cost model; by default ``LatencyCostModel(seed=seed)``.

    Attributes
    ----------
    state : dict
        The strategy's own JSON-able state (its population, its plan), saved with each
        checkpoint and restored on resume.
    resumed : bool
        Whether this session continues a saved run.
    times : PhaseTimes
        Wall seconds this session spent in schedule search, build, run and cost-model updates
        (:mod:`tvm_nacos.cosearch.timing`).
    """

    def __init__(
        self,
        mod: tvm.IRModule,
        space: SearchSpace,
        *,
        accuracy: Callable[[Sequence[ArchSample]], list[float]],
        target: tvm.target.Target,
        work_dir: str | os.PathLike,
        budget: int,
        constraints: Constraints | None = None,
        seed: int = 0,
        builder: Any = None,
        runner: Any = None,
        batch_size: int = 16,
        deterministic: bool = False,
        source: Any = None,
        run_info: Mapping[str, Any] | None = None,
        resume: bool = False,
        progress: Callable[[SearchProgress], None] | None = None,
        check_outputs: bool = False,
        cost_model: LatencyCostModel | None = None,
    ) -> None:
        if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
            raise SearchConfigError(f"budget must be a positive number of trials, got {budget!r}")
        prepare_work_dir(work_dir)
        self.mod = mod
        self.space = space
        self.source = source
        self.accuracy_fn = accuracy
        self.target = target
        self.work_dir = work_dir
        self.budget = budget
        self.constraints = constraints or Constraints()
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.batch_size = batch_size
        self.num_threads = 1 if deterministic else max(1, len(os.sched_getaffinity(0)))
        self.device_type = "cpu" if target.kind.name == "llvm" else target.kind.name
        register_tensor_intrinsics(target)
        self.database = open_database(work_dir, target)
        self._record_index: dict[int, list[Any]] | None = None
        self.cost_model = cost_model if cost_model is not None else LatencyCostModel(seed=seed)
        # Best schedule of every measured kernel, keyed by anchor block: the source of
        # TaskTuner.transfer_candidate (in memory; rebuilt from the database on resume).
        self._anchor_db = ms.database.MemoryDatabase(module_equality="anchor-block")
        self.num_transfers = 0
        #: Kernel key → mean run seconds of its transferred first schedule (``None``: it failed).
        self.transfers: dict[str, float | None] = {}
        #: Bumped whenever a kernel's best schedule is offered to its anchor siblings.
        self.anchor_version = 0
        self._sibling_cache: dict[int, tuple[int, float | None]] = {}
        # The runner first: a bad runner name must not leave build workers behind.
        self.runner = make_runner(runner, measure=MeasureConfig(check_outputs=True) if check_outputs else None)
        self._own_builder = builder is None
        self.builder = builder or PersistentBuilder(check_outputs=check_outputs)
        if isinstance(self.builder, PersistentBuilder):
            self.builder.warm_up()
        self.pool = TaskPool(target)
        self.tuners: dict[str, TaskTuner] = {}
        self.trials_used = 0
        self.num_failed = 0
        self._accuracy: dict[str, float] = {}
        self._fused: dict[str, tvm.IRModule] = {}
        self.history: list[dict[str, Any]] = []
        self.started = time.perf_counter()
        #: Wall seconds of this session in each phase of measurement (not carried over on resume).
        self.times = PhaseTimes()
        self.state: dict[str, Any] = {}
        self.failure_reasons: dict[str, int] = {}
        self._prior_fit: tuple[int, float, float, float] | None = None
        self.progress = progress
        self.run_info = {
            **dict(run_info or {}),
            "seed": seed,
            "budget": budget,
            "target": str(target),
            "space": hashlib.sha256(json.dumps(space.to_dict(), sort_keys=True).encode()).hexdigest()[:16],
        }
        self._state_dir = search_state_dir(work_dir)
        self.resumed = bool(resume) and self._restore()
        self._trials_at_start = self.trials_used

    # -- checkpoints ------------------------------------------------------------------------

    def _restore(self) -> bool:
        state_file = self._state_dir / "state.json"
        if not state_file.exists():
            logger.warning("nothing to resume in %s (no search/state.json): starting a new run", self.work_dir)
            return False
        saved = read_json(state_file)
        if saved.get("format") != STATE_FORMAT:
            raise WorkDirError(f"{state_file} has state format {saved.get('format')!r}; this version reads {STATE_FORMAT}")
        differences = sorted(k for k in set(saved["run"]) | set(self.run_info) if saved["run"].get(k) != self.run_info.get(k))
        if differences:
            shown = {k: (saved["run"].get(k), self.run_info.get(k)) for k in differences if k != "space"}
            raise WorkDirError(
                f"cannot resume the run in {self.work_dir}: it differs in {', '.join(differences)} "
                f"(saved vs asked: {shown}); run without resume to start a new search in this directory "
                "(its tuning records are reused), or pass the same settings"
            )
        # Records appended after the last checkpoint were measured too: they count.
        unseen = max(0, count_records(self.work_dir, self.target) - int(saved["records_total"]))
        self.trials_used = int(saved["trials_used"]) + unseen
        self.num_failed = int(saved["num_failed"])
        self.rng.bit_generator.state = saved["rng"]
        self.state = saved["strategy_state"]
        self.history = list(saved["history"])
        self.transfers = dict(saved.get("transfers", {}))
        self.num_transfers = int(saved.get("num_transfers", 0))
        model_file = self._state_dir / "cost_model.pkl"
        if model_file.exists():
            self.cost_model.load(str(model_file))
        logger.info(
            "resuming %s: %d of %d trials spent (%d after the last checkpoint)",
            self.work_dir, self.trials_used, self.budget, unseen,
        )
        return True

    def checkpoint(self) -> None:
        """Save what a resumed run needs (atomically): called after every measured batch."""
        model_file = self._state_dir / "cost_model.pkl"
        if self.cost_model.is_trained:
            self._state_dir.mkdir(parents=True, exist_ok=True)
            tmp = model_file.with_name(model_file.name + ".tmp")
            self.cost_model.save(str(tmp))
            os.replace(tmp, model_file)
        state = {
            "format": STATE_FORMAT,
            "run": self.run_info,
            "trials_used": self.trials_used,
            "num_failed": self.num_failed,
            "records_total": count_records(self.work_dir, self.target),
            "rng": self.rng.bit_generator.state,
            "strategy_state": self.state,
            "history": self.history,
            "transfers": self.transfers,
            "num_transfers": self.num_transfers,
        }
        atomic_write_text(self._state_dir / "state.json", json.dumps(state, default=str) + "\n")

    def flop_prior(self, flop: float) -> tuple[float, float]:
        """Latency (s) and log-space std expected of an unmeasured kernel of ``flop`` FLOPs.

        A least-squares line of log best latency against log FLOPs over the kernels measured so
        far (its residual spread as the std); before three kernels are measured,
        ``flop / 20 GFLOP/s + 5 µs`` with std 1.
        """
        measured = [(t.flop, t.best_secs) for t in self.tuners.values() if t.best_secs is not None]
        if len(measured) < 3:
            return flop / (PRIOR_GFLOPS * 1e9) + PRIOR_OVERHEAD_SECS, PRIOR_LOG_STD
        if self._prior_fit is None or self._prior_fit[0] != len(measured):
            x = np.log([m[0] for m in measured])
            y = np.log([m[1] for m in measured])
            # Latency grows with work: keep the slope in a physical range, and fall back to
            # "proportional to FLOPs" when the measured kernels span too few sizes to fit one.
            slope = float(np.polyfit(x, y, 1)[0]) if np.ptp(x) >= 1.0 else 1.0
            slope = min(max(slope, MIN_PRIOR_SLOPE), MAX_PRIOR_SLOPE)
            intercept = float(np.mean(y - slope * x))
            spread = float(np.std(y - (intercept + slope * x)))
            self._prior_fit = (len(measured), slope, intercept, max(0.3, spread))
        _, slope, intercept, spread = self._prior_fit
        log_secs = min(max(intercept + slope * math.log(max(flop, 1.0)), -30.0), 5.0)
        return math.exp(log_secs), spread

    def record_failure(self, task_name: str, reason: str) -> None:
        """Keep the reason of a failed candidate: ``work_dir/search/failures.jsonl`` (MetaSchedule's
        records have no error field) and the per-reason counts in :attr:`failure_reasons`."""
        short = " ".join(reason.split())[:500]
        kind = short.split(":")[0][:80] if ":" in short else short[:80]
        self.failure_reasons[kind] = self.failure_reasons.get(kind, 0) + 1
        logger.debug("candidate of %s failed: %s", task_name, short)
        self._state_dir.mkdir(parents=True, exist_ok=True)
        with open(self._state_dir / "failures.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({"task": task_name, "trial": self.trials_used, "reason": short}) + "\n")

    def share_schedule(self, mod: tvm.IRModule, trace: Any, run_secs: Sequence[Any], args_info: Any) -> None:
        """Offer a kernel's (new best) schedule to the other kernels with its anchor block."""
        if find_anchor_block(mod) is None:
            return  # nothing to transfer: elementwise and reduction kernels are tuned as they are
        self.anchor_version += 1
        workload = self._anchor_db.commit_workload(mod)
        self._anchor_db.commit_tuning_record(
            ms.database.TuningRecord(trace, workload, [float(s) for s in run_secs], self.target, args_info)
        )

    def anchor_sibling_secs(self, mod: tvm.IRModule) -> float | None:
        """Best run seconds of a measured kernel with ``mod``'s anchor block (cached per version
        of the anchor database), or ``None``."""
        key = int(structural_hash(mod))
        cached = self._sibling_cache.get(key)
        if cached is not None and cached[0] == self.anchor_version:
            return cached[1]
        secs = None
        if find_anchor_block(mod) is not None and self._anchor_db.has_workload(mod):
            record = self._anchor_db.query_tuning_record(mod, self.target, workload_name="main")
            if record is not None and record.run_secs:
                secs = float(np.mean([float(x) for x in record.run_secs]))
        self._sibling_cache[key] = (self.anchor_version, secs)
        return secs

    def transferred_schedule(self, mod: tvm.IRModule) -> Any:
        """The best schedule of a measured kernel with ``mod``'s anchor block, applied to ``mod``."""
        return transfer_schedule(mod, self._anchor_db, self.target)

    def records_of(self, mod: tvm.IRModule) -> list[Any]:
        """Every record of kernel ``mod`` in the database, failed ones included."""
        if self._record_index is None:
            index: dict[int, list[Any]] = {}
            for record in self.database.get_all_tuning_records():
                index.setdefault(int(structural_hash(record.workload.mod)), []).append(record)
            self._record_index = index
        return self._record_index.get(int(structural_hash(mod)), [])

    # -- architectures ----------------------------------------------------------------------

    @property
    def trials_left(self) -> int:
        """Trials of the budget not yet spent."""
        return max(0, self.budget - self.trials_used)

    def add(self, sample: ArchSample) -> ArchitectureTasks:
        """Lower ``sample`` and merge its kernels into the pool (cached)."""
        if sample.id not in self._fused:
            self._fused[sample.id] = lower_for_tuning(self.mod, self.target, sample=sample)
        return self.pool.add_fused(sample, self._fused[sample.id])

    def accuracy(self, samples: Sequence[ArchSample]) -> list[float]:
        """Accuracy of each sample (cached by id)."""
        missing = [s for s in samples if s.id not in self._accuracy]
        if missing:
            for sample, value in zip(missing, self.accuracy_fn(missing)):
                self._accuracy[sample.id] = float(value)
        return [self._accuracy[s.id] for s in samples]

    def tuner(self, key: str) -> TaskTuner:
        """The tuner of pool task ``key`` (created on first use)."""
        if key not in self.tuners:
            task = self.pool[key]
            self.tuners[key] = TaskTuner(task.mod, task.name, self, key)
        return self.tuners[key]

    def estimate(self, sample: ArchSample, *, optimism: float = 1.0) -> ArchitectureEstimate:
        """Current latency estimate of an architecture (see :class:`ArchitectureEstimate`)."""
        arch = self.add(sample)
        latency = optimistic = 0.0
        measured = True
        for key, weight in arch.weights.items():
            tuner = self.tuner(key)
            secs, log_std = tuner.predicted_best_secs()
            latency += weight * secs
            optimistic += weight * secs * math.exp(-optimism * log_std)
            measured = measured and tuner.best_secs is not None
        return ArchitectureEstimate(sample, self.accuracy([sample])[0], latency * 1e3, optimistic * 1e3, measured)

    # -- measurement ------------------------------------------------------------------------

    def measure(self, key: str, max_candidates: int | None = None) -> int:
        """Measure one batch of task ``key`` within the budget; returns the trials spent."""
        limit = min(self.batch_size if max_candidates is None else max_candidates, self.trials_left)
        if limit <= 0:
            return 0
        spent = self.tuner(key).measure(limit)
        self.trials_used += spent
        self.history.append({"trial": self.trials_used, "task": key, "secs": round(time.perf_counter() - self.started, 2)})
        logger.debug("measured %d of %s; %d/%d trials", spent, self.tuner(key).name, self.trials_used, self.budget)
        if spent:
            self.checkpoint()
            if self.progress is not None:
                self.progress(self.progress_event(self.tuner(key).name))
        return spent

    def measured_front(self) -> list[FrontPoint]:
        """Non-dominated architectures whose kernels are all measured (kernel-sum latency), fastest first."""
        points = []
        for arch in self.pool.architectures.values():
            secs = 0.0
            for key, weight in arch.weights.items():
                tuner = self.tuners.get(key)
                if tuner is None or tuner.best_secs is None:
                    break
                secs += weight * tuner.best_secs
            else:
                points.append((arch.sample, secs * 1e3))
        if not points:
            return []
        accuracy = self.accuracy([p[0] for p in points])
        keep = pareto_indices(accuracy, [p[1] for p in points])
        front = [FrontPoint(points[i][0].id, accuracy[i], points[i][1]) for i in keep]
        return sorted(front, key=lambda p: p.latency_ms)

    def progress_event(self, last_task: str = "") -> SearchProgress:
        """Where the search stands now."""
        elapsed = time.perf_counter() - self.started
        done_here = self.trials_used - self._trials_at_start
        eta = elapsed / done_here * self.trials_left if done_here > 0 else None
        front = self.measured_front()
        measured = sum(
            all(k in self.tuners and self.tuners[k].best_secs is not None for k in a.weights)
            for a in self.pool.architectures.values()
        )
        return SearchProgress(
            strategy=str(self.run_info.get("strategy", "")),
            trials_used=self.trials_used,
            budget=self.budget,
            failed_trials=self.num_failed,
            elapsed_secs=elapsed,
            eta_secs=eta,
            num_architectures=len(self.pool.architectures),
            num_measured_architectures=measured,
            num_tasks=len(self.pool),
            last_task=last_task,
            front=tuple(front),
        )

    def tune_architecture_tasks(self, sample: ArchSample, trials_per_task: int) -> int:
        """Measure every kernel of ``sample`` up to ``trials_per_task`` trials (budget allowing)."""
        spent = 0
        for key in self.add(sample).weights:
            tuner = self.tuner(key)
            while tuner.trials < trials_per_task and not tuner.exhausted and self.trials_left > 0:
                step = self.measure(key, min(self.batch_size, trials_per_task - tuner.trials))
                if step == 0:
                    break
                spent += step
        return spent

    # -- the end ----------------------------------------------------------------------------

    def compile(self, sample: ArchSample) -> Any:
        """Build ``sample`` with the best schedules in the database."""
        fused = self._fused.get(sample.id) or lower_for_tuning(self.mod, self.target, sample=sample)
        tuned = apply_tuned_schedules(fused, self.database, self.target, self._anchor_db)
        return tvm.compile(tuned, target=self.target)

    def measure_end_to_end_ms(self, sample: ArchSample, *, repeat: int = 10) -> tuple[float, Any]:
        """Compile ``sample`` with its tuned kernels and time whole inferences (median ms)."""
        executable = self.compile(sample)
        device = device_for(self.target)
        vm = relax.VirtualMachine(executable, device)
        main = self._fused.get(sample.id) or lower_for_tuning(self.mod, self.target, sample=sample)
        rng = np.random.default_rng(self.seed)
        inputs = [
            tvm.runtime.tensor(rng.standard_normal([int(d) for d in p.ty.shape.values]).astype(str(p.ty.dtype)), device)
            for p in main["main"].params
        ]
        timer = vm.time_evaluator("main", device, number=10, repeat=repeat, min_repeat_ms=50)
        return float(np.median(timer(*inputs).results)) * 1e3, executable

    def close(self) -> None:
        """Stop the builder's workers (if the session made them)."""
        if self._own_builder and isinstance(self.builder, PersistentBuilder):
            self.builder.shutdown()
