"""The state every architecture strategy shares: architectures, their kernels, the budget.

Strategies differ only in *which* architectures they look at and *which* kernel they measure
next; the session gives them the same task pool (a kernel shared by several architectures is
one task), tuning database, cost model, measurement and budget, so they compare at an equal
budget. Each kernel is tuned by MetaSchedule's machinery, driven one batch at a time
(:class:`TaskTuner`), so that the pool can grow while the search moves through architectures.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import tvm
from tvm import relax

from tvm_nacos._compat import estimate_tir_flops, meta_schedule, structural_equal, structural_hash, tir_schedule_class
from tvm_nacos.cosearch.budget import TrialBudget
from tvm_nacos.cosearch.checkpoint import CheckpointStore
from tvm_nacos.cosearch.cost_model import LatencyCostModel
from tvm_nacos.cosearch.end_to_end import EndToEndModel, NetworkProfile
from tvm_nacos.cosearch.kernel_retiming import BestArtifacts, KernelRetiming
from tvm_nacos.cosearch.latency_estimate import AnchorSchedules, KernelLatencyEstimate
from tvm_nacos.cosearch.measure_callbacks import MeasureCallback, default_callbacks
from tvm_nacos.cosearch.measurement import BatchMeasurer, InFlightBatch
from tvm_nacos.cosearch.objectives import Constraints, pareto_indices
from tvm_nacos.cosearch.progress import EstimatedPoint, FrontPoint, SearchProgress
from tvm_nacos.cosearch.schedule_strategy import NACOSSearchStrategy
from tvm_nacos.cosearch.timing import PhaseTimes
from tvm_nacos.search_space import ArchSample, SearchSpace
from tvm_nacos.target import device_for, usable_cores
from tvm_nacos.tuning.builder import PersistentBuilder
from tvm_nacos.tuning.compile import compile_architecture, compile_architectures, random_inputs, time_executable
from tvm_nacos.tuning.database import FAILED_RUN_SECS, best_run_secs, count_records, mean_run_secs, open_database
from tvm_nacos.tuning.extraction_cache import ExtractionCache
from tvm_nacos.tuning.intrin import register_tensor_intrinsics
from tvm_nacos.tuning.runner import MeasureConfig, is_remote, make_runner, remote_endpoint, resolve_devices
from tvm_nacos.tuning.schedule_options import COSEARCH_SCHEDULE_SEARCH, check_schedule_options
from tvm_nacos.tuning.tasks import (
    ArchitectureTasks,
    TaskPool,
    lower_for_tuning,
    specialize_for_inference,
    task_key,
)
from tvm_nacos.workdir import WorkDir

ms = meta_schedule()

logger = logging.getLogger(__name__)

#: How often progress events estimate the front again (every architecture of the pool).
ESTIMATED_FRONT_REFRESH_SECS = 1.0

__all__ = ["ArchitectureEstimate", "SearchSession", "SharedArchitectures", "TaskTuner"]


class TaskTuner:
    """One kernel of the pool, tuned a batch at a time.

    Parameters
    ----------
    mod : tvm.IRModule
        The kernel (``{"main": PrimFunc}``).
    name : str
        Its name, for logs.
    session : SearchSession
        Supplies target, database, cost model, seed; the tuner registers itself there
        (``session.task(tuner.task_id)``).
    key : str, optional
        Its key in the task pool (default: :func:`~tvm_nacos.tuning.tasks.task_key`).
    """

    def __init__(self, mod: tvm.IRModule, name: str, session: SearchSession, key: str | None = None) -> None:
        self.mod = mod
        self.name = name
        self.session = session
        self.key = key if key is not None else task_key(mod)
        self.task_id = session.register_task(self)
        self.flop = max(estimate_tir_flops(mod), 1.0)
        previous = session.records_of(mod)
        self.best_secs = best_run_secs(session.database, mod) if previous else None
        self.trials = len(previous)
        if self.key in session.anchors.transfers:  # measured through a transferred schedule (resume)
            transferred = session.anchors.transfers[self.key]
            self.trials += 1
            if transferred is not None and (self.best_secs is None or transferred < self.best_secs):
                self.best_secs = transferred
        self.exhausted = False
        self._context: Any = None
        self.workload: Any = None
        # Our handle on the strategy: the context hands back only its FFI wrapper. It is told
        # every earlier record, failed ones included, so that nothing is measured twice.
        self._strategy = NACOSSearchStrategy(
            latency_model=session.cost_model, previous_records=previous, **session.schedule_options
        )
        self._pending: list[Any] | None = None
        self._transfer: Any = None
        self._transfer_replays = False
        self._transfer_looked = -1
        self._measuring_transfer: Any = None
        #: The batch of this kernel in flight (at most one), or ``None``.
        self.in_flight: Any = None
        if previous and self.best_secs is not None:
            valid = [r for r in previous if r.run_secs and mean_run_secs(r.run_secs) < FAILED_RUN_SECS]
            if valid:
                best = min(valid, key=lambda r: mean_run_secs(r.run_secs))
                session.anchors.share(mod, best.trace, best.run_secs, best.args_info)

    @property
    def context(self) -> Any:
        """The kernel's ``ms.TuneContext`` (made on first use: design spaces are the search's first step)."""
        if self._context is None:
            session = self.session
            with session.times.phase("schedule search"):
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
            self.workload = session.database.commit_workload(self.mod)
            if getattr(session.measurer.builder, "check_outputs", False):
                session.measurer.builder.add_reference(self.mod)
        return self._context

    def _proposal(self) -> list[Any] | None:
        if self._pending is None and not self.exhausted:
            context = self.context
            with self.session.times.phase("schedule search"):
                self._pending = context.generate_measure_candidates()
            if not self._pending:
                self.exhausted, self._pending = True, None
        return self._pending

    def proposal_prediction(self) -> tuple[float, float] | None:
        """The cost model's best prediction over the batch already proposed (seconds, log std),
        or ``None`` when no batch is proposed."""
        strategy = self._strategy
        if self._pending is not None and strategy.predicted_secs is not None and len(strategy.predicted_secs):
            i = int(np.argmin(strategy.predicted_secs))
            return float(strategy.predicted_secs[i]), float(strategy.predicted_log_std[i])
        return None

    def transfer_candidate(self) -> Any:
        """A first candidate borrowed from a measured kernel with the same anchor block, or ``None``.

        Before this kernel's first measurement, the best schedule of a variant with its anchor
        block is re-applied to it (:class:`~tvm_nacos.cosearch.latency_estimate.AnchorSchedules`):
        one trial then gives it a tuned-quality measurement where a first look at fresh random
        schedules needs several.
        """
        anchors = self.session.anchors
        if self.trials == 0 and self._transfer is None and self._transfer_looked != anchors.version:
            self._transfer_looked = anchors.version  # look again when a sibling improves
            sch = anchors.transferred_schedule(self.mod)
            if sch is not None:
                # Arguments as the scheduled kernel takes them (weights in a rewritten layout).
                self._transfer = ms.MeasureCandidate(sch, ms.arg_info.ArgInfo.from_entry_func(sch.mod, remove_preproc=True))
                self._transfer_replays = _replays(sch, self.mod)
        return self._transfer if self.trials == 0 else None

    def is_transfer(self, candidate: Any) -> bool:
        """Whether ``candidate`` is the transferred first candidate of the batch being measured."""
        return candidate is self._measuring_transfer

    def is_unreplayable_transfer(self, candidate: Any) -> bool:
        """Whether ``candidate`` is a transferred schedule whose trace does not replay on this
        kernel by itself (it cannot be a database record)."""
        return self.is_transfer(candidate) and not self._transfer_replays

    def predicted_best_secs(self) -> tuple[float, float]:
        """This kernel's expected best latency and its log-space std
        (:class:`~tvm_nacos.cosearch.latency_estimate.KernelLatencyEstimate`)."""
        return self.session.kernel_estimate(self)

    def measure(self, max_candidates: int) -> int:
        """Measure one batch (at most ``max_candidates``); returns the trials spent.

        A kernel's first batch starts with its :meth:`transfer_candidate`, if any; a first batch
        of one candidate is that candidate alone (no schedule search is run for it). The batch
        is handed to the session (:meth:`SearchSession.submit`), which keeps it in flight while
        it builds (on one local device) or runs (on several).
        """
        transfer = self.transfer_candidate()
        if transfer is not None and max_candidates == 1:
            candidates = [transfer]
        else:
            proposal = self._proposal()
            # What the step does not measure is dropped: the next step proposes afresh, with
            # the cost model updated on this one (measuring the rest of this batch instead, as
            # MetaSchedule measures a whole batch, gave worse fronts for little time saved).
            self._pending = None
            candidates = ([transfer] if transfer is not None else []) + list(proposal or [])
            if not candidates:
                return 0
            candidates = candidates[:max_candidates]
        self._transfer = None
        self._measuring_transfer = transfer  # until the batch lands: the callbacks ask
        _ = self.context  # before the build: the builder may need the kernel as a reference
        try:
            self.session.submit(self, candidates)
        except BaseException:
            self._measuring_transfer = None
            raise
        return len(candidates)

    def landed(self) -> None:
        """Its batch in flight has landed (the session calls it)."""
        self.in_flight = None
        self._measuring_transfer = None


def _replays(sch: Any, mod: tvm.IRModule) -> bool:
    """Whether ``sch``'s trace, replayed on ``mod`` alone, gives ``sch``'s module."""
    replay = tir_schedule_class()(mod)
    try:
        sch.trace.apply_to_schedule(replay, remove_postproc=False)
    except Exception:  # noqa: BLE001 - any failure to replay means "does not replay"
        return False
    return bool(structural_equal(replay.mod, sch.mod))


class SharedArchitectures:
    """What the sessions of one search over several targets share, each computed once: the
    accuracy of each architecture, and its specialization for inference (the target-independent
    part of lowering: :func:`~tvm_nacos.tuning.tasks.specialize_for_inference`).

    Parameters
    ----------
    num_sessions : int
        The sessions sharing it: a specialization is dropped once each has taken it (every
        session keeps its own lowered module).
    max_kept : int
        At most this many specializations wait for the other sessions (the oldest is dropped:
        an architecture only one target looks at must not stay in memory).
    """

    def __init__(self, num_sessions: int, max_kept: int = 64) -> None:
        self.num_sessions = num_sessions
        self.max_kept = max_kept
        self.accuracy: dict[str, float] = {}
        self._specialized: dict[str, tuple[tvm.IRModule, int]] = {}

    def specialized(self, mod: tvm.IRModule, sample: ArchSample) -> tvm.IRModule:
        """``specialize_for_inference(mod, sample=sample)``, computed by the first session that asks."""
        if sample.id in self._specialized:
            specialized, taken = self._specialized.pop(sample.id)
        else:
            specialized, taken = specialize_for_inference(mod, sample=sample), 0
        if taken + 1 < self.num_sessions:
            self._specialized[sample.id] = (specialized, taken + 1)
            while len(self._specialized) > self.max_kept:
                del self._specialized[next(iter(self._specialized))]
        return specialized


@dataclass(frozen=True)
class ArchitectureEstimate:
    """What the session currently knows of one architecture.

    Attributes
    ----------
    sample : ArchSample
    accuracy : float
    latency_ms : float
        Expected end-to-end latency: Σ weight × best kernel latency (measured where measured,
        predicted otherwise), through the session's end-to-end model
        (:class:`~tvm_nacos.cosearch.end_to_end.EndToEndModel`; the plain sum until a network
        has been timed).
    optimistic_latency_ms : float
        The same with every kernel at its optimistic (lower-confidence) estimate.
    measured : bool
        Every kernel has at least one measurement.
    kernel_sum_ms : float or None
        The plain Σ weight × best kernel latency (``None``: the same as ``latency_ms``).
    """

    sample: ArchSample
    accuracy: float
    latency_ms: float
    optimistic_latency_ms: float
    measured: bool
    kernel_sum_ms: float | None = None


class SearchSession:
    """Architectures, task pool, database, cost model and budget of one search.

    Strategies (:mod:`tvm_nacos.cosearch.strategies`) read it and spend its budget with
    :meth:`measure`; measuring a batch is :class:`~tvm_nacos.cosearch.measurement.BatchMeasurer`'s
    job, and what follows a batch is its measure callbacks' (database, best schedules, failures,
    cost model, artifacts, checkpoint, progress: :mod:`tvm_nacos.cosearch.measure_callbacks`).

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
        candidates, and the joint search's seeding estimates all its candidates however long
        that takes (:func:`~tvm_nacos.cosearch.strategies.joint.run_joint`'s ``seed_secs``).
        Slower; for reproducibility checks.
    source : BuiltinSpace, optional
        The built-in space ``mod`` was built from, if any: its PyTorch reference serves the
        ``eager`` latency proxy of the two-stage baseline.
    run_info : Mapping, optional
        What identifies the run besides seed, budget, space and target (the strategy and its
        options): a resumed run must match it.
    resume : bool
        Continue the run whose state is in ``work_dir/search/`` instead of starting a new one.
        Without a saved state, a warning is logged and a new run starts.
    progress : callable, optional
        Called with a :class:`~tvm_nacos.cosearch.progress.SearchProgress` after every batch.
    check_outputs : bool
        Run every candidate on random inputs and compare its outputs with the unscheduled
        kernel's before timing it; a mismatch is a failed trial ("output mismatch: ...").
        Applies to the default builder and runner.
    cost_model : LatencyCostModel, optional
        The shared cost model; by default ``LatencyCostModel(seed=seed)``.
    measure_callbacks : sequence of MeasureCallback, optional
        What runs after every batch; by default
        :func:`~tvm_nacos.cosearch.measure_callbacks.default_callbacks`.
    schedule_options : Mapping, optional
        Settings of every kernel's evolutionary schedule search
        (:data:`~tvm_nacos.tuning.schedule_options.SCHEDULE_OPTIONS`, e.g. ``population_size``),
        over :data:`~tvm_nacos.tuning.schedule_options.COSEARCH_SCHEDULE_SEARCH`. A resumed run
        must be given the same ones.
    time_budget_s : float, optional
        Seconds the measurement may take, earlier runs of a resumed search included: no batch
        starts after that, and the trials left are those the time left affords at the rate
        measured so far (:class:`~tvm_nacos.cosearch.budget.TrialBudget`). A resumed run may
        get a different one.
    devices : int, optional
        Devices to keep busy. By default those registered under the key of an
        ``"rpc://HOST:PORT/KEY"`` runner when the search starts, a runner object's
        ``num_devices``, else 1. With a remote runner (or more than one device), batches stay
        in flight while the next ones are proposed and built: a new batch goes out while the
        batches in flight but the newest fill fewer than all devices (one batch waits for a
        device), at most one per kernel; results land as they come back. On the local runner
        it must be 1.
    build_ahead : bool
        On one local device, let a batch build while the host proposes the next one (and takes
        in the results of the one before): the batch runs, the builder idle, just before the
        next one goes to the builder. Results land one batch later than without. Only with a
        builder that builds in the background (``build_async``, as :class:`PersistentBuilder`),
        and not in a search over several targets (one target's build would run beside
        another's timing).
    shared : SharedArchitectures, optional
        What the sessions of a search over several targets share (each architecture's accuracy
        and its target-independent specialization, computed once).

    Attributes
    ----------
    state : dict
        The strategy's own JSON-able state (its population, its plan), saved with each
        checkpoint and restored on resume.
    resumed : bool
        Whether this session continues a saved run.
    times : PhaseTimes
        Wall seconds this session spent in each phase (:mod:`tvm_nacos.cosearch.timing`).
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
        measure_callbacks: Sequence[MeasureCallback] | None = None,
        schedule_options: Mapping[str, Any] | None = None,
        time_budget_s: float | None = None,
        devices: int | None = None,
        build_ahead: bool = True,
        shared: SharedArchitectures | None = None,
    ) -> None:
        self.trial_budget = TrialBudget(budget, max_secs=time_budget_s)
        given_schedule_options = check_schedule_options(schedule_options)
        self.schedule_options = {**COSEARCH_SCHEDULE_SEARCH, **given_schedule_options}
        self.work = WorkDir.prepare(work_dir)
        # What is searched.
        self.mod, self.space, self.source = mod, space, source
        self.accuracy_fn = accuracy
        self.constraints = constraints or Constraints()
        self.target = target
        self.seed, self.rng = seed, np.random.default_rng(seed)
        self.batch_size = batch_size
        self.deterministic = deterministic
        self.num_threads = 1 if deterministic else usable_cores()
        register_tensor_intrinsics(target)
        # Measurement: one database and cost model for every kernel of every architecture.
        self.database = open_database(self.work, target)
        self.cost_model = cost_model if cost_model is not None else LatencyCostModel(seed=seed)
        # Whole networks from their kernels: learnt from every end-to-end timing on this target.
        self.end_to_end = EndToEndModel(self.work.end_to_end_jsonl(target))
        self._static_profiles: dict[str, tuple[int, float, float]] = {}
        self._estimated_front: tuple[float, tuple[EstimatedPoint, ...]] | None = None  # (when, front)
        # The runner first: a bad runner name must not leave build workers behind.
        owns_runner = runner is None or isinstance(runner, str)
        self.devices = resolve_devices(runner, devices)
        #: Where candidates and whole networks are timed: a tracker and key, or ``None`` (here).
        self.endpoint = remote_endpoint(runner)
        # On one local device a batch lands before the next is built (a build beside a run
        # disturbs its timing); remote devices run while the host builds the next batches.
        self.overlap = is_remote(runner) or self.devices > 1
        runner = make_runner(
            runner, measure=MeasureConfig(check_outputs=True) if check_outputs else None, max_workers=self.devices
        )
        owns_builder = builder is None
        builder = builder or PersistentBuilder(check_outputs=check_outputs)
        if isinstance(builder, PersistentBuilder):
            builder.warm_up()
        # Ahead only where the builder builds in the background: a synchronous one gains nothing.
        self.build_ahead = bool(build_ahead) and not self.overlap and shared is None and hasattr(builder, "build_async")
        self.measurer = BatchMeasurer(
            builder, runner, default_callbacks() if measure_callbacks is None else measure_callbacks,
            owns_builder=owns_builder, owns_runner=owns_runner,
        )
        # Kernels: the pool, a tuner per kernel, what each is expected to take.
        self.pool = TaskPool(target)
        self.extraction_cache = ExtractionCache.for_module(self.work.tuning_dir(target), mod)
        self.tuners: dict[str, TaskTuner] = {}
        self._tasks: list[TaskTuner] = []
        self._record_index: dict[int, list[Any]] | None = None
        self.anchors = AnchorSchedules(target)
        self.kernel_estimate = KernelLatencyEstimate(self.anchors, self.tuners, batch_size)
        # Architectures: lowered modules and accuracies, cached by id.
        self._lowered: dict[str, tvm.IRModule] = {}
        self.shared = shared
        self._accuracy: dict[str, float] = {} if shared is None else shared.accuracy
        # The run: its identity, the strategy's state, where the time goes.
        self.state: dict[str, Any] = {}
        self.times = PhaseTimes()
        self.progress = progress
        self.run_info = {
            **dict(run_info or {}),
            "seed": seed,
            "budget": budget,
            "target": str(target),
            "space": hashlib.sha256(json.dumps(space.to_dict(), sort_keys=True).encode()).hexdigest()[:16],
        }
        if given_schedule_options:  # only when set: runs saved before the option existed still resume
            self.run_info["schedule_options"] = given_schedule_options
        self._in_flight: list[InFlightBatch] = []
        #: The build artifact of each kernel's best candidate, to run it again at the end.
        self.best_artifacts = BestArtifacts()
        #: What re-timing the front's kernels found (:func:`~tvm_nacos.cosearch.search.front_of`).
        self.kernel_retiming: KernelRetiming | None = None
        self.checkpoints = CheckpointStore(self.work)
        self.resumed = bool(resume) and self._restore()

    # -- checkpoints ------------------------------------------------------------------------

    def _restore(self) -> bool:
        saved = self.checkpoints.load(self.run_info, self.cost_model)
        if saved is None:
            logger.warning("nothing to resume in %s (no search/state.json): starting a new run", self.work.path)
            return False
        # Records appended after the last checkpoint were measured too: they count.
        unseen = max(0, count_records(self.work.path, self.target) - int(saved["records_total"]))
        self.trial_budget.resume_from(
            int(saved["trials_used"]) + unseen, int(saved["num_failed"]), saved["history"],
            secs=float(saved.get("search_secs", 0.0)),
        )
        self.rng.bit_generator.state = saved["rng"]
        self.state = saved["strategy_state"]
        self.anchors.transfers = dict(saved.get("transfers", {}))
        self.anchors.num_transfers = int(saved.get("num_transfers", 0))
        logger.info(
            "resuming %s: %d of %d trials spent (%d after the last checkpoint)",
            self.work.path, self.trials_used, self.budget, unseen,
        )
        return True

    def checkpoint(self) -> None:
        """Save what a resumed run needs (atomically): called after every measured batch."""
        self.checkpoints.save(
            {
                "run": self.run_info,
                "trials_used": self.trials_used - self.in_flight_trials,  # in flight: not recorded yet
                "num_failed": self.num_failed,
                "records_total": count_records(self.work.path, self.target),
                "rng": self.rng.bit_generator.state,
                "strategy_state": self.state,
                "history": self.trial_budget.history,
                "search_secs": round(self.trial_budget.search_secs, 3),
                "transfers": self.anchors.transfers,
                "num_transfers": self.anchors.num_transfers,
            },
            self.cost_model,
        )

    def record_failure(self, task_name: str, reason: str, *, trial: int | None = None) -> None:
        """Count a failed candidate by reason and log it to ``work_dir/search/failures.jsonl``."""
        short = " ".join(reason.split())[:500]
        self.trial_budget.fail(short)
        logger.debug("candidate of %s failed: %s", task_name, short)
        self.checkpoints.append_failure(task_name, self.trials_used if trial is None else trial, short)

    # -- kernels ------------------------------------------------------------------------------

    def register_task(self, tuner: TaskTuner) -> int:
        """Give ``tuner`` its ``task_id`` (the index measure callbacks receive)."""
        self._tasks.append(tuner)
        return len(self._tasks) - 1

    def task(self, task_id: int) -> TaskTuner:
        """The tuner with ``task_id``."""
        return self._tasks[task_id]

    def tuner(self, key: str) -> TaskTuner:
        """The tuner of pool task ``key`` (created on first use)."""
        if key not in self.tuners:
            task = self.pool[key]
            self.tuners[key] = TaskTuner(task.mod, task.name, self, key)
        return self.tuners[key]

    def records_of(self, mod: tvm.IRModule) -> list[Any]:
        """Every record of kernel ``mod`` in the database, failed ones included."""
        if self._record_index is None:
            index: dict[int, list[Any]] = {}
            for record in self.database.get_all_tuning_records():
                index.setdefault(int(structural_hash(record.workload.mod)), []).append(record)
            self._record_index = index
        return self._record_index.get(int(structural_hash(mod)), [])

    def anchor_sibling_secs(self, mod: tvm.IRModule) -> float | None:
        """Best run seconds of a measured kernel with ``mod``'s anchor block, or ``None``."""
        return self.anchors.sibling_secs(mod)

    # -- architectures ----------------------------------------------------------------------

    @property
    def budget(self) -> int:
        """Trials the search may spend."""
        return self.trial_budget.total

    @property
    def trials_used(self) -> int:
        """Trials spent (earlier runs of a resumed search included)."""
        return self.trial_budget.used

    @property
    def trials_left(self) -> int:
        """Trials of the budget not yet spent (with a time budget: at most those the time left
        affords at the rate measured so far)."""
        return self.trial_budget.left

    @property
    def planned_budget(self) -> int:
        """Trials the search expects to spend in all: :attr:`budget`, or fewer when its time
        budget runs out first. What strategies plan their finish with."""
        return self.trial_budget.planned_total

    @property
    def num_failed(self) -> int:
        """Spent trials whose candidate failed."""
        return self.trial_budget.failed

    @property
    def failure_reasons(self) -> dict[str, int]:
        """Failed trials of this session by reason."""
        return self.trial_budget.failure_reasons

    @property
    def num_transfers(self) -> int:
        """Transferred first schedules that ran."""
        return self.anchors.num_transfers

    def lowered(self, sample: ArchSample) -> tvm.IRModule:
        """``sample`` lowered for tuning (:func:`~tvm_nacos.tuning.tasks.lower_for_tuning`; cached)."""
        if sample.id not in self._lowered:
            specialized = None if self.shared is None else self.shared.specialized(self.mod, sample)
            self._lowered[sample.id] = lower_for_tuning(self.mod, self.target, sample=sample, specialized=specialized)
        return self._lowered[sample.id]

    def add(self, sample: ArchSample) -> ArchitectureTasks:
        """Lower ``sample`` and merge its kernels into the pool (cached; across the searches of
        the work directory too: :class:`~tvm_nacos.tuning.extraction_cache.ExtractionCache`)."""
        known = self.pool.architecture(sample.id)
        if known is not None:
            return known
        kernels = self.extraction_cache.kernels(sample.id)
        if kernels is not None:
            return self.pool.add_kernels(sample, kernels)
        arch = self.pool.add_fused(sample, self.lowered(sample))
        self.extraction_cache.put(sample.id, [(key, self.pool[key].mod, self.pool[key].name, calls)
                                              for key, calls in arch.weights.items()])
        return arch

    def accuracy(self, samples: Sequence[ArchSample]) -> list[float]:
        """Accuracy of each sample (cached by id)."""
        missing = [s for s in samples if s.id not in self._accuracy]
        if missing:
            for sample, value in zip(missing, self.accuracy_fn(missing), strict=True):
                self._accuracy[sample.id] = float(value)
        return [self._accuracy[s.id] for s in samples]

    def estimate(self, sample: ArchSample, *, optimism: float = 1.0) -> ArchitectureEstimate:
        """Current latency estimate of an architecture (see :class:`ArchitectureEstimate`)."""
        arch = self.add(sample)
        kernel_sum = optimistic = 0.0
        measured = True
        for key, weight in arch.weights.items():
            tuner = self.tuner(key)
            secs, log_std = tuner.predicted_best_secs()
            kernel_sum += weight * secs
            optimistic += weight * secs * math.exp(-optimism * log_std)
            measured = measured and tuner.best_secs is not None
        latency_ms = self.end_to_end_ms(sample.id, kernel_sum * 1e3)
        optimistic_ms = self.end_to_end_ms(sample.id, optimistic * 1e3)
        return ArchitectureEstimate(
            sample, self.accuracy([sample])[0], latency_ms, optimistic_ms, measured, kernel_sum_ms=kernel_sum * 1e3
        )

    def network_profile(self, arch_id: str, kernel_sum_ms: float) -> NetworkProfile:
        """What the end-to-end model reads of an architecture of the pool whose kernels sum to
        ``kernel_sum_ms``: its calls, GFLOP and argument megabytes per inference."""
        static = self._static_profiles.get(arch_id)
        if static is None:
            weights = self.pool.architecture(arch_id).weights
            tasks = [(self.pool[key], count) for key, count in weights.items()]
            static = (
                sum(weights.values()),
                sum(count * task.flop for task, count in tasks) / 1e9,
                sum(count * task.argument_bytes for task, count in tasks) / 1e6,
            )
            self._static_profiles[arch_id] = static
        return NetworkProfile(kernel_sum_ms, *static)

    def end_to_end_ms(self, arch_id: str, kernel_sum_ms: float) -> float:
        """What the end-to-end model expects of an architecture of the pool whose kernels sum
        to ``kernel_sum_ms``."""
        if not len(self.end_to_end):
            return kernel_sum_ms  # nothing timed yet: the kernel sum, with nothing to compute
        return self.end_to_end.estimate_ms(self.network_profile(arch_id, kernel_sum_ms), arch_id)

    # -- measurement ------------------------------------------------------------------------

    def measure(self, key: str, max_candidates: int | None = None) -> int:
        """Measure one batch of task ``key`` within the budget; returns the trials spent.

        On several devices, or building ahead on one (``build_ahead``), the batch stays in
        flight (:meth:`submit`): the trials count as spent, the results land later. A kernel has
        at most one batch in flight: measuring it again waits for that batch first.
        """
        if not self.build_ahead:  # ahead, the batch building lands once the next is proposed
            self.collect()
        tuner = self.tuner(key)
        if tuner.in_flight is not None:
            self._land(tuner.in_flight)
        limit = min(self.batch_size if max_candidates is None else max_candidates, self.trials_left)
        if limit <= 0:
            return 0
        while self._in_flight and not self._room_for_another():
            self.wait_for_any()
        spent = tuner.measure(limit)
        logger.debug("measured %d of %s; %d/%d trials", spent, self.tuner(key).name, self.trials_used, self.budget)
        return spent

    # -- batches in flight --------------------------------------------------------------------

    def submit(self, tuner: TaskTuner, candidates: list[Any]) -> InFlightBatch:
        """Send a batch of ``tuner``'s kernel to be measured (:meth:`TaskTuner.measure` calls it;
        the batch is ``tuner.in_flight`` until it lands).

        Building ahead (``build_ahead``), the batch building now is run first (the builder
        idle), this one goes to the builder, and the first one lands while it builds; else the
        batch is built, its runs sent, and it lands now or stays in flight (:meth:`sent`).
        """
        if not self.build_ahead:
            batch = tuner.in_flight = self.measurer.submit(self, tuner, candidates)
            self.sent(batch)
            return batch
        previous = list(self._in_flight)
        for earlier in previous:
            self.measurer.run(self, earlier)
        batch = tuner.in_flight = self.measurer.submit(self, tuner, candidates, ahead=True)
        self._in_flight.append(batch)
        with self._beside_build(batch):
            for earlier in previous:
                self._land(earlier)
        return batch

    def _beside_build(self, batch: InFlightBatch) -> Any:
        """While ``batch`` builds, the cost model trains on the cores its builds leave free."""
        if not hasattr(self.cost_model, "threads"):
            return contextlib.nullcontext()
        workers = getattr(self.measurer.builder, "max_workers", None) or len(batch)
        cores = usable_cores()
        return self.cost_model.threads(min(self.cost_model.nthread, cores - min(len(batch), workers)))

    def sent(self, batch: InFlightBatch) -> None:
        """A batch was submitted (:meth:`TaskTuner.measure`): land it now on one local device,
        else keep it in flight."""
        if self.overlap:
            self._in_flight.append(batch)
        else:
            self._land(batch)

    def _room_for_another(self) -> bool:
        """Whether another batch may go out: the batches in flight but the newest fill fewer
        than all devices. One batch waits beyond the devices, so that a device that finishes
        starts on it at once instead of waiting for the host to propose and build the next
        (on one device: one batch runs while the next is built)."""
        return sum(len(b) for b in self._in_flight[:-1]) < self.devices

    def _land(self, batch: InFlightBatch) -> None:
        if batch in self._in_flight:
            self._in_flight.remove(batch)
        try:
            self.measurer.land(self, batch)
        finally:
            batch.tuner.landed()

    @property
    def in_flight_trials(self) -> int:
        """Trials submitted whose results have not landed."""
        return sum(len(b) for b in self._in_flight)

    def busy(self, key: str) -> bool:
        """Whether kernel ``key`` has a batch in flight (strategies pass over it meanwhile)."""
        tuner = self.tuners.get(key)
        return tuner is not None and tuner.in_flight is not None

    def collect(self) -> int:
        """Land every batch in flight whose runs are all back; returns how many landed."""
        done = [batch for batch in self._in_flight if batch.done()]
        for batch in done:
            self._land(batch)
        return len(done)

    def ready(self) -> bool:
        """Whether a batch in flight has all its runs back (:meth:`collect` lands it)."""
        return any(batch.done() for batch in self._in_flight)

    def wait_for_any(self, poll_secs: float = 0.005) -> None:
        """Block until at least one batch in flight has landed (nothing to wait for: return)."""
        if self.build_ahead:
            if self._in_flight:
                self._land(self._in_flight[0])
            return
        with self.times.phase("run"):
            while self._in_flight and not self.ready():
                time.sleep(poll_secs)
        self.collect()

    def wait_all(self) -> None:
        """Land every batch in flight, waiting for their runs."""
        while self._in_flight:
            self._land(self._in_flight[0])

    def spend(self, trials: int, key: str) -> None:
        """Count ``trials`` of kernel ``key`` against the budget (the measurer calls it per batch)."""
        self.trial_budget.spend(trials, key)

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

    # -- where the search stands --------------------------------------------------------------

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
                points.append((arch.sample, self.end_to_end_ms(arch.sample.id, secs * 1e3)))
        if not points:
            return []
        accuracy = self.accuracy([p[0] for p in points])
        keep = pareto_indices(accuracy, [p[1] for p in points])
        front = [FrontPoint(points[i][0].id, accuracy[i], points[i][1]) for i in keep]
        return sorted(front, key=lambda p: p.latency_ms)

    def estimated_front(self) -> list[EstimatedPoint]:
        """Non-dominated architectures by current estimate, fastest first.

        Only architectures the strategy has estimated count (every kernel has a tuner and the
        accuracy is known): looking does not create tuners or ask the accuracy estimator, so
        the search's trajectory is the same with or without progress reports.
        """
        expected: dict[str, float] = {}
        points = []
        for arch in self.pool.architectures.values():
            if arch.sample.id not in self._accuracy or any(k not in self.tuners for k in arch.weights):
                continue
            secs, missing = 0.0, 0
            for key, weight in arch.weights.items():
                if key not in expected:
                    expected[key] = self.kernel_estimate(self.tuners[key])[0]
                secs += weight * expected[key]
                missing += self.tuners[key].best_secs is None
            points.append((arch.sample.id, self._accuracy[arch.sample.id], self.end_to_end_ms(arch.sample.id, secs * 1e3),
                           missing))
        keep = pareto_indices([p[1] for p in points], [p[2] for p in points])
        return sorted((EstimatedPoint(*points[i]) for i in keep), key=lambda p: p.latency_ms)

    def _recent_estimated_front(self) -> tuple[EstimatedPoint, ...]:
        """:meth:`estimated_front`, taken again at most every :data:`ESTIMATED_FRONT_REFRESH_SECS`
        (it estimates every architecture of the pool; a printer shows an event every few seconds)
        and when the budget is spent."""
        now = time.perf_counter()
        if (self._estimated_front is None or self.trials_left == 0
                or now - self._estimated_front[0] >= ESTIMATED_FRONT_REFRESH_SECS):
            self._estimated_front = (now, tuple(self.estimated_front()))
        return self._estimated_front[1]

    def progress_event(self, last_task: str = "") -> SearchProgress:
        """Where the search stands now."""
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
            elapsed_secs=self.trial_budget.elapsed_secs,
            eta_secs=self.trial_budget.eta_secs(),
            num_architectures=len(self.pool.architectures),
            num_measured_architectures=measured,
            num_tasks=len(self.pool),
            last_task=last_task,
            front=tuple(front),
            estimated_front=self._recent_estimated_front(),
            trials_in_flight=self.in_flight_trials,
        )

    # -- the end ----------------------------------------------------------------------------

    def compile(self, sample: ArchSample) -> Any:
        """Build ``sample`` with the best schedules in the database (:func:`~tvm_nacos.tuning.compile.compile_architecture`)."""
        return compile_architecture(
            self.mod, self.target, database=self.database, anchor_database=self.anchors.database,
            lowered=self.lowered(sample),
        ).executable

    def prepare_timing(self, sample: ArchSample) -> tuple[Any, list[Any]]:
        """``sample`` compiled with its tuned kernels, and seeded inputs on the target's device
        (on this machine's CPU when the device is remote: timing copies them there).

        On a local device the executable is also loaded once: that links it and generates its
        machine code (LLVM compiles a module's kernels when it is first loaded, 1–2 s for a
        NAS-Bench-201 network), so that every timing of it starts at once."""
        executable = self.compile(sample)
        device = tvm.cpu() if self.endpoint is not None else device_for(self.target)
        if self.endpoint is None:
            relax.VirtualMachine(executable, device)
        return executable, random_inputs(self.lowered(sample)["main"], device, self.seed)

    def prepare_timings(self, samples: Sequence[ArchSample]) -> dict[str, tuple[Any, list[Any], str]]:
        """Several architectures compiled for :func:`~tvm_nacos.tuning.compile.time_interleaved`,
        by id: (executable, inputs, entry function).

        They are compiled together (:func:`~tvm_nacos.tuning.compile.compile_architectures`), a
        kernel that several of them call once, in one group per core, side by side (LLVM's
        optimization and code generation run outside Python's lock); each group's executable is
        loaded once here. Lowering stays in this thread.
        """
        samples = list(samples)
        for sample in samples:
            self.lowered(sample)
        cores = usable_cores()
        workers = max(1, min(len(samples), cores))
        groups = [samples[i::workers] for i in range(workers) if samples[i::workers]]
        device = tvm.cpu() if self.endpoint is not None else device_for(self.target)

        def prepare(group: list[ArchSample]) -> dict[str, tuple[Any, list[Any], str]]:
            executable, entries = compile_architectures(
                {s.id: self.lowered(s) for s in group}, self.target, database=self.database,
                anchor_database=self.anchors.database,
            )
            if self.endpoint is None:
                relax.VirtualMachine(executable, device)
            return {s.id: (executable, random_inputs(self.lowered(s)["main"], device, self.seed), entries[s.id])
                    for s in group}

        if len(groups) <= 1:
            prepared = [prepare(group) for group in groups]
        else:
            with ThreadPoolExecutor(len(groups), thread_name_prefix="nacos-compile") as pool:
                prepared = list(pool.map(prepare, groups))
        return {arch_id: network for part in prepared for arch_id, network in part.items()}

    def measure_end_to_end_ms(self, sample: ArchSample, *, repeat: int = 10) -> tuple[float, Any]:
        """Compile ``sample`` with its tuned kernels and time whole inferences (median ms)."""
        executable, inputs = self.prepare_timing(sample)
        return time_executable(executable, self.target, inputs, repeat=repeat).median_ms, executable

    @property
    def device_type(self) -> str:
        """The runner's device type for the target (``"cpu"`` for LLVM)."""
        return "cpu" if self.target.kind.name == "llvm" else self.target.kind.name

    def close(self) -> None:
        """Stop the builder's and the runner's workers (those the session made); batches still
        in flight are dropped (nothing of them was recorded, their build artifacts are deleted)."""
        dropped = list(self._in_flight)
        if dropped:
            logger.info("dropping %d batches (%d trials) in flight", len(dropped), self.in_flight_trials)
            for batch in dropped:
                batch.tuner.landed()
            self.trial_budget.used -= self.in_flight_trials
            self._in_flight.clear()
        self.measurer.close(dropped)
        self.best_artifacts.clear()
