"""Tune the kernels of one architecture and compile it with the tuned schedules."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tvm

from tvm_nacos._compat import estimate_tir_flops, meta_schedule
from tvm_nacos.search_space import ArchSample
from tvm_nacos.target import as_target, device_for, usable_cores
from tvm_nacos.tuning.builder import PersistentBuilder
from tvm_nacos.tuning.compile import compile_architecture, random_inputs, time_executable
from tvm_nacos.tuning.database import TuningLedger, best_run_secs, database_dir, num_records, open_database
from tvm_nacos.tuning.intrin import register_tensor_intrinsics
from tvm_nacos.tuning.runner import make_runner, shutdown_runner
from tvm_nacos.tuning.schedule_options import FINISHING_SCHEDULE_SEARCH, check_schedule_options
from tvm_nacos.tuning.tasks import extract_tasks, lower_for_tuning, task_key

ms = meta_schedule()

logger = logging.getLogger(__name__)

__all__ = ["TaskResult", "TunedArchitecture", "finish_architecture", "tune_architecture", "tune_kernels"]


@dataclass(frozen=True)
class TaskResult:
    """One kernel of a tuned architecture.

    Attributes
    ----------
    name : str
        Kernel name in this architecture.
    weight : int
        Calls per inference.
    best_latency_ms : float or None
        Best measured latency of one call; ``None`` if no candidate ran.
    flop : float
        Floating-point operations of one call.
    num_records : int
        Measured candidates in the database.
    """

    name: str
    weight: int
    best_latency_ms: float | None
    flop: float
    num_records: int

    @property
    def gflops(self) -> float | None:
        """Achieved GFLOP/s of the best candidate."""
        if not self.best_latency_ms:
            return None
        return self.flop / (self.best_latency_ms * 1e-3) / 1e9


@dataclass(frozen=True)
class TunedArchitecture:
    """A tuned, compiled architecture and its measured latency.

    Attributes
    ----------
    sample : ArchSample or None
        The architecture (``None`` for a module without choice points).
    executable : tvm.runtime.Executable
        Built with the tuned schedules; load it in a ``relax.VirtualMachine``.
    latency_ms : float
        Median end-to-end latency of one inference.
    latency_samples_ms : tuple of float
        Every timing sample.
    tasks : tuple of TaskResult
        Its kernels.
    trials_measured : int
        Candidates measured by this call (0 when everything came from the database).
    tuning_secs : float
        Wall time of the tuning part.
    """

    sample: ArchSample | None
    executable: Any
    latency_ms: float
    latency_samples_ms: tuple[float, ...]
    tasks: tuple[TaskResult, ...]
    trials_measured: int
    tuning_secs: float

    @property
    def estimated_latency_ms(self) -> float | None:
        """Σ weight × best kernel latency: what the kernels alone account for."""
        if any(t.best_latency_ms is None for t in self.tasks):
            return None
        return sum(t.weight * t.best_latency_ms for t in self.tasks)


def tune_kernels(
    kernels: Sequence[tuple[str, tvm.IRModule, float]],
    *,
    target: tvm.target.Target,
    work_dir: str | os.PathLike,
    trials_per_kernel: int,
    builder: Any = None,
    runner: Any = None,
    num_trials_per_iter: int = 16,
    cost_model: Any = "xgb",
    seed: int = 0,
    schedule_options: Mapping[str, Any] | None = None,
) -> int:
    """Tune kernels until each has ``trials_per_kernel`` records in the work directory's database.

    Kernels that already have that many, or that an earlier call tuned to completion with at
    least that budget (see :class:`~tvm_nacos.tuning.database.TuningLedger`), are skipped, so a
    repeated or resumed call measures only what is missing.

    Parameters
    ----------
    kernels : Sequence of (name, module, weight)
        TIR modules (``{"main": PrimFunc}``) and their weights for MetaSchedule's task scheduler.
    target : tvm.target.Target
    work_dir : path
        Holds the database (see :mod:`tvm_nacos.tuning.database`).
    trials_per_kernel : int
        Measured candidates wanted per kernel.
    builder, runner : optional
        A builder object (a :class:`PersistentBuilder` by default) and a runner or runner name
        (see :func:`~tvm_nacos.tuning.runner.make_runner`).
    schedule_options : Mapping, optional
        Settings of each kernel's ``EvolutionarySearch``
        (:data:`~tvm_nacos.tuning.schedule_options.SCHEDULE_OPTIONS`); MetaSchedule's defaults
        for the others.

    Returns
    -------
    int
        Candidates measured by this call.
    """
    if trials_per_kernel <= 0:
        raise ValueError(f"trials_per_kernel must be positive, got {trials_per_kernel}")
    schedule_options = check_schedule_options(schedule_options)
    register_tensor_intrinsics(target)
    database = open_database(work_dir, target)
    ledger = TuningLedger(work_dir, target)
    groups: dict[int, list[tuple[str, tvm.IRModule, float]]] = {}
    for name, mod, weight in kernels:
        if ledger.completed(task_key(mod), trials_per_kernel):
            continue
        missing = trials_per_kernel - num_records(database, mod, trials_per_kernel)
        if missing > 0:
            groups.setdefault(missing, []).append((name, mod, weight))
        else:
            ledger.mark_completed([task_key(mod)], trials_per_kernel)
    if not groups:
        logger.info("all %d kernels already tuned in %s", len(kernels), database_dir(work_dir, target))
        return 0
    own_builder = builder is None
    builder = builder or PersistentBuilder()
    if isinstance(builder, PersistentBuilder):
        builder.warm_up()  # workers start while the contexts are made
    own_runner = runner is None or isinstance(runner, str)
    runner = make_runner(runner)
    before = len(database.get_all_tuning_records())
    try:
        for missing, group in sorted(groups.items(), reverse=True):
            contexts = [
                ms.TuneContext(
                    mod=mod,
                    target=target,
                    space_generator="post-order-apply",
                    search_strategy=ms.search_strategy.EvolutionarySearch(**schedule_options),
                    task_name=name,
                    num_threads=usable_cores(),
                    rand_state=seed + i,
                )
                for i, (name, mod, _) in enumerate(group)
            ]
            logger.info("tuning %d kernels, %d trials each", len(group), missing)
            ms.tune_tasks(
                tasks=contexts,
                task_weights=[float(w) for _, _, w in group],
                work_dir=str(database_dir(work_dir, target)),
                max_trials_global=missing * len(group),
                max_trials_per_task=missing,
                num_trials_per_iter=min(num_trials_per_iter, missing),
                builder=builder,
                runner=runner,
                database=database,
                cost_model=cost_model,
            )
            ledger.mark_completed([task_key(mod) for _, mod, _ in group], trials_per_kernel)
    finally:
        if own_builder:
            builder.shutdown()
        if own_runner:
            shutdown_runner(runner)
    return len(database.get_all_tuning_records()) - before


def _architecture_kernels(
    mod: tvm.IRModule, sample: ArchSample | Mapping[str, str] | None, target: Any
) -> tuple[tvm.target.Target, ArchSample | None, tvm.IRModule, list[tuple[str, tvm.IRModule, float]]]:
    """(target, sample, lowered architecture, its kernels as (name, TIR module, calls)), the
    target's tensor intrinsics registered."""
    target = as_target(target)
    register_tensor_intrinsics(target)
    if sample is not None and not isinstance(sample, ArchSample):
        sample = ArchSample(sample)
    fused = lower_for_tuning(mod, target, sample=sample)
    kernels = [(str(t.task_name), t.dispatched[0], float(t.weight)) for t in extract_tasks(fused, target)]
    return target, sample, fused, kernels


def finish_architecture(
    mod: tvm.IRModule,
    sample: ArchSample | Mapping[str, str] | None = None,
    *,
    target: Any,
    work_dir: str | os.PathLike,
    trials_per_kernel: int,
    builder: Any = None,
    runner: Any = None,
    cost_model: Any = "xgb",
    seed: int = 0,
    schedule_options: Mapping[str, Any] | None = None,
) -> int:
    """A finishing tune: every kernel of one architecture topped up to ``trials_per_kernel``
    measured candidates in ``work_dir``'s tuning database.

    A search gives the kernels of its front a few trials each (a first look, or a sibling's
    schedule); this tunes the one architecture chosen further, appending to the same database,
    so :func:`~tvm_nacos.tuning.compile.compile_architecture` (``tvm-nacos compile``) picks the
    new records up. A repeated or interrupted call measures only what is missing.

    Parameters
    ----------
    mod : tvm.IRModule
        A module with choice points, or a plain one (then ``sample`` is ``None``).
    sample : ArchSample or Mapping, optional
        The architecture.
    target : Target, dict or JSON str
    work_dir : path
        Holds the tuning database (a search's work directory).
    trials_per_kernel : int
        Measured candidates wanted per kernel (counting those already in the database).
    builder, runner : optional
        See :func:`tune_kernels`.
    cost_model : optional
        MetaSchedule's ``"xgb"`` (a new model per call), or a cost model object. Best is the
        search's own, trained on every kernel it measured (``tvm-nacos compile`` loads it from
        the work directory): a new model's first batches are close to random, and on the Quick
        start's front they did not beat the schedules the search found in 1-5 trials.
    schedule_options : Mapping, optional
        Settings of each kernel's ``EvolutionarySearch``, over
        :data:`~tvm_nacos.tuning.schedule_options.FINISHING_SCHEDULE_SEARCH`.

    Returns
    -------
    int
        Candidates measured by this call.
    """
    if trials_per_kernel <= 0:
        raise ValueError(f"trials_per_kernel must be positive, got {trials_per_kernel}")
    schedule_options = {**FINISHING_SCHEDULE_SEARCH, **check_schedule_options(schedule_options)}
    target, _, _, kernels = _architecture_kernels(mod, sample, target)
    return tune_kernels(kernels, target=target, work_dir=work_dir, trials_per_kernel=trials_per_kernel,
                        builder=builder, runner=runner, cost_model=cost_model, seed=seed,
                        schedule_options=schedule_options)


def tune_architecture(
    mod: tvm.IRModule,
    sample: ArchSample | Mapping[str, str] | None = None,
    *,
    target: Any = None,
    work_dir: str | os.PathLike,
    max_trials: int,
    builder: Any = None,
    runner: Any = None,
    num_trials_per_iter: int = 16,
    seed: int = 0,
    schedule_options: Mapping[str, Any] | None = None,
) -> TunedArchitecture:
    """Tune one architecture's kernels, compile it with the tuned schedules, measure it.

    Parameters
    ----------
    mod : tvm.IRModule
        A module with choice points, or a plain one (then ``sample`` is ``None``).
    sample : ArchSample or Mapping, optional
        The architecture.
    target : Target, dict or JSON str, optional
        The host CPU by default.
    work_dir : path
        Its database is reused: kernels tuned before (by this or another architecture) are not
        measured again.
    max_trials : int
        Measurement budget, split evenly over the architecture's kernels (at least one each).
    builder, runner, schedule_options : optional
        See :func:`tune_kernels`.

    Returns
    -------
    TunedArchitecture
    """
    if max_trials <= 0:
        raise ValueError(f"max_trials must be positive, got {max_trials}")
    target, sample, fused, kernels = _architecture_kernels(mod, sample, target)
    trials_per_kernel = max(1, math.ceil(max_trials / max(1, len(kernels))))

    start = time.perf_counter()
    measured = tune_kernels(
        kernels,
        target=target,
        work_dir=work_dir,
        trials_per_kernel=trials_per_kernel,
        builder=builder,
        runner=runner,
        num_trials_per_iter=num_trials_per_iter,
        seed=seed,
        schedule_options=schedule_options,
    )
    tuning_secs = time.perf_counter() - start

    database = open_database(work_dir, target)
    compiled = compile_architecture(mod, target, database=database, lowered=fused)
    inputs = random_inputs(compiled.lowered["main"], device_for(target), seed)
    latency = time_executable(compiled.executable, target, inputs)

    results = []
    for name, kernel, weight in kernels:
        secs = best_run_secs(database, kernel)
        results.append(
            TaskResult(
                name=name,
                weight=int(weight),
                best_latency_ms=None if secs is None else secs * 1e3,
                flop=estimate_tir_flops(kernel),
                num_records=num_records(database, kernel),
            )
        )
    logger.info(
        "architecture %s: %.3f ms after %d new trials (%.1f s)",
        sample.id if sample is not None else "-",
        latency.median_ms,
        measured,
        tuning_secs,
    )
    return TunedArchitecture(
        sample, compiled.executable, latency.median_ms, latency.samples_ms, tuple(results), measured, tuning_secs
    )
