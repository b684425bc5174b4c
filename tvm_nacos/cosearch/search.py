"""``tvm_nacos.search``: run a strategy and return the front of tuned, measured architectures."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import tvm

from tvm_nacos.cosearch.budget import check_budget, check_time_budget
from tvm_nacos.cosearch.end_to_end import MIN_FIT, EndToEndTiming
from tvm_nacos.cosearch.kernel_retiming import KernelRetiming, retime_kernels
from tvm_nacos.cosearch.latency_proxies import architecture_macs
from tvm_nacos.cosearch.objectives import Constraints, hypervolume, pareto_indices
from tvm_nacos.cosearch.progress import SearchProgress
from tvm_nacos.cosearch.session import SearchSession
from tvm_nacos.cosearch.strategies import get_strategy
from tvm_nacos.cosearch.strategies import strategy_options as options_of
from tvm_nacos.cosearch.strategies.common import fully_measured
from tvm_nacos.cosearch.timing import describe_breakdown
from tvm_nacos.errors import NoChoicePointError, SearchConfigError
from tvm_nacos.search_space import ArchSample
from tvm_nacos.target import TargetError, as_target, device_for
from tvm_nacos.tuning.compile import Latency, time_interleaved
from tvm_nacos.tuning.runner import is_remote
from tvm_nacos.tuning.schedule_options import check_schedule_options

logger = logging.getLogger(__name__)

__all__ = ["ParetoPoint", "SearchResult", "search"]

#: Version of the JSON written by :meth:`SearchResult.to_json`.
RESULT_SCHEMA_VERSION = 1
#: At most this many front architectures are measured end to end.
MAX_END_TO_END = 16
#: A front timing is taken again when its ratio to its estimate is further than this from the
#: typical ratio (and beyond twice its own spread): the median ratio of the architectures timed
#: with it, or 1 when they are fewer than :data:`MIN_TIMINGS_FOR_TYPICAL` and the estimates come
#: from an end-to-end model fitted on earlier timings. End-to-end timings sit above the kernel
#: sums by what the kernels do not see (per-call overheads: 2-9 % on the AMD host, 8-22 % on
#: nas-bench-201 on the Intel one), alike across a front; one timing far off the others' ratio
#: is as likely load as the network.
RETIME_TOLERANCE = 0.10
#: Timings of one round needed for their median ratio to be the typical one.
MIN_TIMINGS_FOR_TYPICAL = 3
#: Rounds of timing the front, learning from the timings, and timing what the new estimates put
#: on the front.
FRONT_ROUNDS = 3
#: The kernels re-timed before the front is timed are those of every architecture that an
#: estimate this much too high could keep off the front (the database reads a kernel under load
#: at up to 3-6x its latency, but a network's sum moves less: 9-17 % of its kernels read slow).
NEAR_FRONT_MARGIN = 0.5


@dataclass(frozen=True)
class KernelRecord:
    """One kernel of an architecture on the front."""

    name: str
    weight: int
    best_latency_ms: float | None
    trials: int


@dataclass(frozen=True)
class ParetoPoint:
    """A tuned architecture.

    Attributes
    ----------
    sample : ArchSample
    accuracy : float
    latency_ms : float
        Measured end to end, compiled with the tuned schedules.
    estimated_latency_ms : float
        What the search expected before timing it: Σ weight × best kernel latency through the
        end-to-end model (:class:`~tvm_nacos.cosearch.end_to_end.EndToEndModel`).
    macs : int
    kernels : tuple of KernelRecord
        Its tuning records, summarized.
    latency_spread_ms : float or None
        Half the interquartile range of the end-to-end samples behind ``latency_ms`` (``None``
        when it was not timed end to end).
    kernel_sum_latency_ms : float or None
        The plain Σ weight × best kernel latency.
    """

    sample: ArchSample
    accuracy: float
    latency_ms: float
    estimated_latency_ms: float
    macs: int
    kernels: tuple[KernelRecord, ...] = field(default_factory=tuple)
    latency_spread_ms: float | None = None
    kernel_sum_latency_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "arch_id": self.sample.id,
            "sample": self.sample.to_dict(),
            "accuracy": self.accuracy,
            "latency_ms": self.latency_ms,
            "estimated_latency_ms": self.estimated_latency_ms,
            "latency_spread_ms": self.latency_spread_ms,
            "kernel_sum_latency_ms": self.kernel_sum_latency_ms,
            "macs": self.macs,
            "kernels": [asdict(k) for k in self.kernels],
        }


@dataclass
class SearchResult:
    """The outcome of :func:`search`.

    Attributes
    ----------
    pareto : list of ParetoPoint
        Non-dominated architectures (accuracy up, end-to-end latency down), fastest first.
    evaluated : list of ParetoPoint
        Every architecture whose kernels were all measured, with its estimated latency
        (``latency_ms`` equals the estimate for those not measured end to end).
    strategy, seed, budget, trials_used, target, search_secs
        What ran and what it cost.
    space : str or None
        The built-in space searched, by name; ``None`` for a user module.
    name : str
        What was searched, by name (``search(..., name=...)``; the built-in space's name or
        ``"model"`` by default): reports show it.
    space_options : dict
        The options of that space (``resolution``...; :meth:`BuiltinSpace.options`), so that
        ``tvm_nacos.search_space.get(space, **space_options)`` builds the searched network again.
    resumed : bool
        Whether the search continued an interrupted run.
    failure_reasons : dict
        Failed trials of this session by reason (details in ``work_dir/search/failures.jsonl``).
    cost_model : dict or None
        How well the shared cost model predicted measurements it had not seen (5-fold over
        every measurement of the run): ``spearman``, ``median_abs_rel_error``, ``num_samples``;
        ``None`` below 10 measurements.
    measured_end_to_end : bool
        Whether the front's ``latency_ms`` were timed on whole compiled networks (else they
        are the kernel-sum estimates).
    time_breakdown : dict
        Wall seconds of this session by phase: ``schedule search``, ``build``, ``run``,
        ``cost model``, ``end-to-end timing``, ``other`` (architecture search, lowering, task
        extraction, checkpoints) and ``total`` (see :mod:`tvm_nacos.cosearch.timing`).
    end_to_end_model : dict or None
        The end-to-end model after the search (``scale``, ``terms``, ``num_timings``) and
        how well it estimated the front's timings it had not seen (``held_out``: leave-one-out
        ``median_abs_error``, ``max_abs_error``, and the same for the plain kernel sum);
        ``None`` when nothing was timed end to end.
    time_budget_s : float or None
        The seconds the measurement was given (``None``: only the trial budget counted).
    """

    pareto: list[ParetoPoint]
    evaluated: list[ParetoPoint]
    strategy: str
    seed: int
    budget: int
    trials_used: int
    failed_trials: int
    target: str
    search_secs: float
    space: str | None = None
    name: str = "model"
    space_options: dict[str, Any] = field(default_factory=dict)
    resumed: bool = False
    failure_reasons: dict[str, int] = field(default_factory=dict)
    cost_model: dict[str, float] | None = None
    measured_end_to_end: bool = True
    time_breakdown: dict[str, float] = field(default_factory=dict)
    end_to_end_model: dict[str, Any] | None = None
    time_budget_s: float | None = None
    _compile: Callable[[ArchSample], Any] | None = None

    def best(self, min_accuracy: float | None = None) -> ParetoPoint:
        """The fastest front architecture with at least ``min_accuracy``.

        Raises
        ------
        ValueError
            No architecture of the front reaches ``min_accuracy`` (the message gives the best).
        """
        eligible = [p for p in self.pareto if min_accuracy is None or p.accuracy >= min_accuracy]
        if not eligible:
            top = max((p.accuracy for p in self.pareto), default=None)
            raise ValueError(f"no architecture on the front reaches accuracy {min_accuracy}; the best has {top}")
        return min(eligible, key=lambda p: p.latency_ms)

    def compile(self, sample: ArchSample | Mapping[str, str]) -> Any:
        """A Relax executable of ``sample`` built with the tuned records."""
        if self._compile is None:
            raise RuntimeError("this result was loaded from JSON; compile from its work directory instead")
        return self._compile(sample if isinstance(sample, ArchSample) else ArchSample(sample))

    def hypervolume(self, reference: tuple[float, float]) -> float:
        """Hypervolume of the front up to ``(min_accuracy, max_latency_ms)``."""
        return hypervolume([p.accuracy for p in self.pareto], [p.latency_ms for p in self.pareto], reference=reference)

    def to_json(self) -> str:
        """Versioned JSON: strategy, budget, front and every evaluated architecture."""
        return json.dumps(
            {
                "schema_version": RESULT_SCHEMA_VERSION,
                "space": self.space,
                "name": self.name,
                "space_options": self.space_options,
                "strategy": self.strategy,
                "seed": self.seed,
                "budget_trials": self.budget,
                "time_budget_s": self.time_budget_s,
                "trials_used": self.trials_used,
                "failed_trials": self.failed_trials,
                "target": self.target,
                "search_secs": self.search_secs,
                "resumed": self.resumed,
                "failure_reasons": self.failure_reasons,
                "cost_model": self.cost_model,
                "measured_end_to_end": self.measured_end_to_end,
                "time_breakdown": self.time_breakdown,
                "end_to_end_model": self.end_to_end_model,
                "pareto": [p.to_dict() for p in self.pareto],
                "evaluated": [p.to_dict() for p in self.evaluated],
            },
            indent=1,
        )


def _space_options_info(builtin: Any) -> dict[str, Any]:
    """``{"space_options": ...}`` for a built-in space with options, else nothing: a resumed run
    must be built with the same network (options such as the resolution leave the space as it is)."""
    options = builtin.options() if builtin is not None else {}
    return {"space_options": options} if options else {}


def _resolve_model(mod_or_space: Any) -> tuple[tvm.IRModule, Any, Any]:
    """(module, its SearchSpace, the built-in space it came from or None)."""
    from tvm_nacos.analysis import search_space

    if isinstance(mod_or_space, str):
        from tvm_nacos import search_space as spaces

        mod_or_space = spaces.get(mod_or_space)
    builtin = None
    if isinstance(mod_or_space, tvm.IRModule):
        mod = mod_or_space
    elif hasattr(mod_or_space, "ir_module"):
        builtin = mod_or_space
        mod = mod_or_space.ir_module()
    else:
        raise TypeError(
            f"search() takes an IRModule with choice points or a built-in space, not {type(mod_or_space).__name__}"
        )
    space = search_space(mod)
    if len(space) == 0:
        raise NoChoicePointError(
            "the module has no choice point, so there is nothing to search; add some with the Expose "
            "passes (tvm_nacos.passes.ExposeKernelSize, ExposeWidth, ...) or build the model with "
            "tvm_nacos.frontend.torch.Choice"
        )
    return mod, space, builtin


def _accuracy_function(accuracy: Any) -> Callable[[Sequence[ArchSample]], list[float]]:
    if hasattr(accuracy, "evaluate"):
        return accuracy.evaluate
    if callable(accuracy):
        return accuracy
    raise TypeError(f"accuracy must be an estimator with .evaluate(samples) or a callable, not {type(accuracy).__name__}")


def search(
    mod_or_space: Any,
    *,
    target: Any = None,
    accuracy: Any,
    budget: int,
    strategy: str = "joint",
    constraints: Constraints | None = None,
    work_dir: str | os.PathLike,
    seed: int = 0,
    strategy_options: Mapping[str, Any] | None = None,
    builder: Any = None,
    runner: Any = None,
    measure_end_to_end: bool = True,
    deterministic: bool = False,
    resume: bool = False,
    progress: Callable[[SearchProgress], None] | None = None,
    check_outputs: bool = False,
    cost_model: Any = None,
    name: str | None = None,
    schedule_options: Mapping[str, Any] | None = None,
    time_budget_s: float | None = None,
    devices: int | None = None,
    targets: Mapping[str, Any] | None = None,
    build_ahead: bool = True,
) -> Any:
    """Search architectures and schedules; return the accuracy–latency front of tuned architectures.

    Parameters
    ----------
    mod_or_space : tvm.IRModule, str or built-in space
        A module with choice points, or a built-in space (object or name).
    target : Target, dict or JSON str, optional
        The host CPU by default.
    accuracy : estimator or callable
        Anything with ``evaluate(samples) -> list[float]``, or such a function.
    budget : int
        Measurement trials (schedule candidates built and run) the search may spend.
    strategy : {"joint", "two-stage", "random", "exhaustive"}
    constraints : Constraints, optional
        Limits the front must meet.
    work_dir : path
        Tuning database and results; reused by later searches on the same target.
    seed : int
        Every random choice derives from it.
    strategy_options : Mapping, optional
        Keyword arguments of the strategy (see :mod:`tvm_nacos.cosearch.strategies`).
    builder, runner : optional
        See :class:`~tvm_nacos.cosearch.session.SearchSession`.
    measure_end_to_end : bool
        Compile the estimated front with its tuned kernels and time whole inferences (the
        default; with a remote runner, on a device under its key: each network is exported and
        uploaded there). ``False`` reports the kernel-sum estimates instead: for tests with a fake
        runner, where there is nothing real to time.
    deterministic : bool
        Same seed, same trajectory (with a deterministic runner): schedule candidates are
        generated on one thread. See :class:`~tvm_nacos.cosearch.session.SearchSession`.
    resume : bool
        Continue the interrupted search saved in ``work_dir`` (same space, strategy, options,
        seed, budget and target, else :class:`~tvm_nacos.errors.WorkDirError`): trials already
        spent count, nothing measured is measured again, the front includes earlier results.
    progress : callable, optional
        Called with a :class:`~tvm_nacos.cosearch.progress.SearchProgress` after every measured
        batch (the library itself does not print).
    check_outputs : bool
        Check every candidate's outputs against the unscheduled kernel before timing it (see
        :class:`~tvm_nacos.cosearch.session.SearchSession`).
    cost_model : LatencyCostModel, optional
        The cost model shared by all tasks (default: ``LatencyCostModel(seed=seed)``); a smaller
        one (fewer rounds) suits tests with a fake runner.
    name : str, optional
        What is searched, by name, for the result and its report: the built-in space's name,
        else ``"model"``, by default.
    schedule_options : Mapping, optional
        Settings of each kernel's evolutionary schedule search, e.g. ``{"population_size": 64,
        "genetic_num_iters": 2}`` (valid names:
        :data:`~tvm_nacos.tuning.schedule_options.SCHEDULE_OPTIONS`), over the co-search's own
        (:data:`~tvm_nacos.tuning.schedule_options.COSEARCH_SCHEDULE_SEARCH`: population 16, one
        round); larger ones make each batch's proposal more informed and dearer.
    time_budget_s : float, optional
        Seconds the search may spend measuring, earlier runs of a resumed search included:
        the search stops at ``budget`` trials or at this time, whichever comes first, and
        strategies plan their finish with the trials the time left affords. The front's
        end-to-end timing follows (its seconds are in ``time_breakdown``). To let time alone
        decide, give a ``budget`` larger than the time affords.
    devices : int, optional
        Devices to keep busy: by default every device registered under an
        ``"rpc://HOST:PORT/KEY"`` runner's key when the search starts (batches stay in flight
        while the next are built), 1 on the local runner. See
        :class:`~tvm_nacos.cosearch.session.SearchSession`.
    targets : Mapping[str, Any], optional
        Several targets in one search, by name (instead of ``target``, ``runner`` and
        ``devices``): each a target, or ``{"target": ..., "runner": "rpc://HOST:PORT/KEY",
        "devices": N}`` (:mod:`tvm_nacos.cosearch.targets`). The architecture space is explored
        once (one population, one accuracy estimate per architecture, one builder); each target
        gets its own task extraction, tuning database, cost model, ``budget`` and front, in
        ``work_dir/targets/NAME`` (:mod:`tvm_nacos.cosearch.multi_target`).
    build_ahead : bool
        On one local device, build each batch while the host proposes the next one and takes in
        the results of the one before; each batch still runs with the builder idle. ``False``:
        one batch after the other. See :class:`~tvm_nacos.cosearch.session.SearchSession`.

    Returns
    -------
    SearchResult or MultiTargetResult
        Also written to ``work_dir/pareto.json``, with ``pareto.csv``, ``pareto.png`` and
        ``report.md`` beside it; a module that is not a built-in space is kept as
        ``work_dir/model.json``, so that ``tvm-nacos compile`` and ``tvm-nacos report`` work on
        ``work_dir`` (:class:`~tvm_nacos.workdir.WorkDir`). With ``targets``: a
        :class:`~tvm_nacos.cosearch.multi_target.MultiTargetResult`, each target's result in
        its own directory and every front in ``work_dir/pareto.json``.
    """
    run_strategy = get_strategy(strategy)
    time_budget_s, schedule_options = _check_run(
        strategy, budget, time_budget_s=time_budget_s, strategy_options=strategy_options,
        schedule_options=schedule_options, name=name,
    )
    if targets is not None:
        given = [n for n, v in (("target", target), ("runner", runner), ("devices", devices)) if v is not None]
        if given:
            raise SearchConfigError(
                f"targets= gives each target its own target, runner and devices; do not also pass {', '.join(given)}"
            )
        from tvm_nacos.cosearch.multi_target import search_targets

        return search_targets(
            mod_or_space, targets=targets, accuracy=accuracy, budget=budget, strategy=strategy,
            constraints=constraints, work_dir=work_dir, seed=seed, strategy_options=strategy_options,
            builder=builder, measure_end_to_end=measure_end_to_end, deterministic=deterministic, resume=resume,
            progress=progress, check_outputs=check_outputs, cost_model=cost_model, name=name,
            schedule_options=schedule_options, time_budget_s=time_budget_s,
        )
    # The target first: a bad one must be refused before a supernet is built.
    tvm_target = as_target(target)
    check_measurable(tvm_target, runner, measure_end_to_end)
    subject = resolve_subject(mod_or_space, name)
    start = time.perf_counter()
    session = SearchSession(
        subject.mod, subject.space, accuracy=_accuracy_function(accuracy), target=tvm_target, work_dir=work_dir,
        budget=budget, constraints=constraints or Constraints(), seed=seed, builder=builder, runner=runner,
        deterministic=deterministic, source=subject.builtin, resume=resume, progress=progress,
        check_outputs=check_outputs, cost_model=cost_model, schedule_options=schedule_options,
        time_budget_s=time_budget_s, devices=devices, run_info=subject.run_info(strategy, strategy_options),
        build_ahead=build_ahead,
    )
    try:
        candidates = landed_candidates(session, run_strategy(session, **dict(strategy_options or {})))
        evaluated, pareto = front_of(session, candidates, measure_end_to_end=measure_end_to_end)
    finally:
        session.close()
    search_secs = time.perf_counter() - start
    result = result_of(
        session, subject, evaluated=evaluated, pareto=pareto, strategy=strategy, measure_end_to_end=measure_end_to_end,
        search_secs=search_secs, time_breakdown=session.times.breakdown(search_secs),
    )
    logger.info("time: %s", describe_breakdown(result.time_breakdown))
    write_results(result, work_dir, subject)
    return result


def _check_run(
    strategy: str,
    budget: int,
    *,
    time_budget_s: float | None,
    strategy_options: Mapping[str, Any] | None,
    schedule_options: Mapping[str, Any] | None,
    name: str | None,
) -> tuple[float | None, dict[str, Any]]:
    """Check what a search is asked to do (before anything is built); returns the checked time
    budget and schedule options."""
    check_budget(budget)
    time_budget_s = check_time_budget(time_budget_s)
    valid_options = options_of(strategy)
    unknown = sorted(set(strategy_options or {}) - set(valid_options))
    if unknown:
        raise SearchConfigError(f"unknown option(s) {unknown} of strategy {strategy!r}; valid options: {valid_options}")
    try:
        schedule_options = check_schedule_options(schedule_options)
    except ValueError as err:
        raise SearchConfigError(str(err)) from None
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise SearchConfigError(f"name must be a non-empty string naming what is searched, got {name!r}")
    return time_budget_s, schedule_options


def check_measurable(target: tvm.target.Target, runner: Any, measure_end_to_end: bool) -> None:
    """Refuse a target that nothing can measure: no such device here and no remote runner.

    Raises
    ------
    TargetError
    """
    if not is_remote(runner) and measure_end_to_end and not device_for(target).exist:
        raise TargetError(
            f"there is no {target.kind.name} device on this machine to measure target {target} on; "
            "measure on a remote device (runner='rpc://HOST:PORT/KEY') or search for this host (tvm_nacos.host_target())"
        )


@dataclass(frozen=True)
class SearchSubject:
    """What a search runs on: the module, its space, and the built-in space it came from.

    Attributes
    ----------
    mod : tvm.IRModule
    space : SearchSpace
    builtin : BuiltinSpace or None
    space_name : str or None
        The built-in space's name (``None`` for a user module).
    name : str
        What is searched, by name, for results and reports.
    """

    mod: tvm.IRModule
    space: Any
    builtin: Any
    space_name: str | None
    name: str

    def run_info(self, strategy: str, strategy_options: Mapping[str, Any] | None) -> dict[str, Any]:
        """What identifies a run of ``strategy`` on it (a resumed run must match)."""
        return {"strategy": strategy, "strategy_options": dict(strategy_options or {}),
                **_space_options_info(self.builtin)}


def resolve_subject(mod_or_space: Any, name: str | None = None) -> SearchSubject:
    """The :class:`SearchSubject` of a module with choice points or a built-in space (object or name)."""
    space_name = mod_or_space if isinstance(mod_or_space, str) else getattr(mod_or_space, "name", None)
    mod, space, builtin = _resolve_model(mod_or_space)
    space_name = space_name if builtin is not None else None
    return SearchSubject(mod, space, builtin, space_name, name or space_name or "model")


def landed_candidates(session: SearchSession, candidates: Sequence[ArchSample]) -> list[ArchSample]:
    """``candidates`` after every batch in flight has landed, with the architectures that completes
    (a strategy of one's own may return with batches in flight)."""
    candidates = list(candidates)
    if session.in_flight_trials:
        session.wait_all()
        known = {s.id for s in candidates}
        candidates += [s for s in fully_measured(session) if s.id not in known]
    logger.info("%s: %d trials, %d fully measured architectures", session.run_info.get("strategy", "search"),
                session.trials_used, len(candidates))
    if session.trial_budget.out_of_time:
        logger.info("the time budget (%.0f s) ended the measurement after %d of %d trials",
                    session.trial_budget.max_secs, session.trials_used, session.budget)
    if not candidates and session.pool.architectures:
        fewest = session.pool.fewest_kernels
        logger.warning(
            "the front is empty: no architecture has every kernel measured after %d trials, and the %d "
            "architectures seen have %d kernels or more (one trial each at the least); give a budget of "
            "several times that many trials, or more time",
            session.trials_used, len(session.pool.architectures), fewest,
        )
    return candidates


def front_of(
    session: SearchSession, candidates: Sequence[ArchSample], *, measure_end_to_end: bool
) -> tuple[list[ParetoPoint], list[ParetoPoint]]:
    """(every evaluated architecture within the limits, the front): the estimated front timed end
    to end when ``measure_end_to_end``, else the front of the kernel-sum estimates.

    Timing end to end (a real runner), the kernels of the architectures near the front are
    first run again in turns (:func:`retime_front_kernels`).
    """
    if measure_end_to_end:
        retime_front_kernels(session, candidates)
    evaluated = _evaluate(session, candidates)
    if measure_end_to_end:
        with session.times.phase("end-to-end timing"):
            pareto = _measure_front(session, evaluated)
    else:
        keep = pareto_indices([p.accuracy for p in evaluated], [p.latency_ms for p in evaluated])
        pareto = [evaluated[i] for i in keep]
    return evaluated, pareto


def near_front(points: Sequence[ParetoPoint], margin: float = NEAR_FRONT_MARGIN) -> list[ParetoPoint]:
    """The points that no other point beats in accuracy (or equals) while being more than
    ``1 + margin`` times faster: the front, and what a latency ``margin`` too high hides."""
    return [
        p for p in points
        if not any(q is not p and q.accuracy >= p.accuracy and q.latency_ms * (1 + margin) < p.latency_ms for q in points)
    ]


def retime_front_kernels(session: SearchSession, candidates: Sequence[ArchSample]) -> KernelRetiming | None:
    """Run again, in turns, the best schedules of the kernels of the candidates near the front
    (:func:`near_front` of their estimates): their database latencies were taken one at a time,
    under whatever load there was (:mod:`~tvm_nacos.cosearch.kernel_retiming`). Kept in
    ``session.kernel_retiming`` for the result."""
    near = near_front(_evaluate(session, candidates))
    keys = [key for point in near for key in session.pool.architecture(point.sample.id).weights]
    with session.times.phase("end-to-end timing"):
        session.kernel_retiming = retime_kernels(session, keys)
    return session.kernel_retiming


def result_of(
    session: SearchSession,
    subject: SearchSubject,
    *,
    evaluated: list[ParetoPoint],
    pareto: list[ParetoPoint],
    strategy: str,
    measure_end_to_end: bool,
    search_secs: float,
    time_breakdown: dict[str, float],
) -> SearchResult:
    """The :class:`SearchResult` of a finished (closed) session."""
    return SearchResult(
        pareto=pareto,
        evaluated=evaluated,
        strategy=strategy,
        seed=session.seed,
        budget=session.budget,
        trials_used=session.trials_used,
        failed_trials=session.num_failed,
        target=str(session.target),
        search_secs=search_secs,
        space=subject.space_name,
        name=subject.name,
        space_options=subject.builtin.options() if subject.builtin is not None else {},
        resumed=session.resumed,
        failure_reasons=dict(session.failure_reasons),
        cost_model=_cost_model_accuracy(session),
        measured_end_to_end=measure_end_to_end,
        time_breakdown=time_breakdown,
        end_to_end_model=_end_to_end_accuracy(session, pareto) if measure_end_to_end else None,
        time_budget_s=session.trial_budget.max_secs,
        _compile=session.compile,
    )


def _cost_model_accuracy(session: SearchSession) -> dict[str, float] | None:
    """Held-out accuracy of the session's cost model (``None`` with too few measurements)."""
    folds = 5
    if session.cost_model.num_samples < 2 * folds:
        return None
    accuracy = session.cost_model.held_out_accuracy(folds=folds)
    logger.info(
        "cost model on held-out measurements: Spearman %.3f, median relative error %.1f %% (%d measurements)",
        accuracy.spearman, 100 * accuracy.median_abs_rel_error, accuracy.num_samples,
    )
    return {"spearman": round(accuracy.spearman, 4), "median_abs_rel_error": round(accuracy.median_abs_rel_error, 4),
            "num_samples": accuracy.num_samples, "folds": folds}


def _end_to_end_accuracy(session: SearchSession, pareto: Sequence[ParetoPoint]) -> dict[str, Any] | None:
    """The end-to-end model's terms, and its leave-one-out errors on the front's timings."""
    model = session.end_to_end
    if not len(model):
        return None
    held_out = model.held_out_accuracy([p.sample.id for p in pareto])
    if held_out is not None:
        logger.info(
            "end-to-end model on the front's timings, each left out: median error %.1f %%, max %.1f %% "
            "(kernel sum: %.1f %%, %.1f %%)", 100 * held_out.median_abs_error, 100 * held_out.max_abs_error,
            100 * held_out.kernel_sum_median_abs_error, 100 * held_out.kernel_sum_max_abs_error,
        )
    retiming = session.kernel_retiming
    return {**model.describe(), "held_out": None if held_out is None else held_out.to_dict(),
            "kernels_retimed": None if retiming is None else retiming.to_dict()}


def write_results(result: SearchResult, work_dir: str | os.PathLike, subject: SearchSubject) -> None:
    """``model.json`` (a module that is not a built-in space, which ``pareto.json`` names
    instead), ``pareto.json``, and its report: the csv, the plot and the summary."""
    from tvm_nacos.report import write_report
    from tvm_nacos.workdir import WorkDir

    work = WorkDir(work_dir)
    if subject.builtin is None:
        work.save_model(subject.mod)
    work.write_result(result.to_json())
    write_report(work)


def _point(session: SearchSession, sample: ArchSample, latency_ms: float | None = None) -> ParetoPoint:
    estimate = session.estimate(sample)
    kernels = []
    for key, weight in session.pool.architecture(sample.id).weights.items():
        tuner = session.tuner(key)
        kernels.append(
            KernelRecord(tuner.name, weight, None if tuner.best_secs is None else tuner.best_secs * 1e3, tuner.trials)
        )
    return ParetoPoint(
        sample=sample,
        accuracy=estimate.accuracy,
        latency_ms=estimate.latency_ms if latency_ms is None else latency_ms,
        estimated_latency_ms=estimate.latency_ms,
        macs=architecture_macs(session.mod)(sample),
        kernels=tuple(kernels),
        kernel_sum_latency_ms=estimate.kernel_sum_ms,
    )


def _evaluate(session: SearchSession, candidates: Sequence[ArchSample]) -> list[ParetoPoint]:
    points = [_point(session, s) for s in candidates]
    c = session.constraints
    return [p for p in points if not c.violations(macs=p.macs, accuracy=p.accuracy)]


def _reestimated(session: SearchSession, point: ParetoPoint) -> ParetoPoint:
    """``point`` with the end-to-end model's current estimate (it learns from every timing)."""
    if point.kernel_sum_latency_ms is None:
        return point
    estimate = session.end_to_end_ms(point.sample.id, point.kernel_sum_latency_ms)
    return replace(point, latency_ms=estimate, estimated_latency_ms=estimate)


def _measure_front(session: SearchSession, evaluated: list[ParetoPoint]) -> list[ParetoPoint]:
    """Time the estimated front end to end, then keep what is non-dominated and within limits.

    Every timing teaches the end-to-end model; the architectures not timed yet are estimated
    again with it, and those that the new estimates put on the front are timed in turn (at most
    :data:`MAX_END_TO_END` in all): an architecture whose kernels undersold it leaves the front,
    one it pushed out comes back.
    """
    timed: dict[str, tuple[ParetoPoint, Latency]] = {}
    for _ in range(FRONT_ROUNDS):
        current = [point if point.sample.id in timed else _reestimated(session, point) for point in evaluated]
        latency = [timed[p.sample.id][1].best_ms if p.sample.id in timed else p.latency_ms for p in current]
        front = [current[i] for i in pareto_indices([p.accuracy for p in current], latency)]
        untimed = [p for p in sorted(front, key=lambda p: -p.accuracy) if p.sample.id not in timed]
        chosen = untimed[: MAX_END_TO_END - len(timed)]
        if not chosen:
            break
        for arch_id, timing in _time_front(session, chosen).items():
            timed[arch_id] = (next(p for p in chosen if p.sample.id == arch_id), timing)
    measured = []
    for point, timing in timed.values():
        if not session.constraints.violations(latency_ms=timing.best_ms):
            measured.append(replace(point, latency_ms=timing.best_ms, latency_spread_ms=timing.spread_ms))
    keep = pareto_indices([p.accuracy for p in measured], [p.latency_ms for p in measured])
    return [measured[i] for i in keep]


def _typical_ratio(session: SearchSession, ratios: Mapping[str, float]) -> float | None:
    """What a round's timings should be, over their estimates (see :data:`RETIME_TOLERANCE`);
    ``None`` when nothing tells (a round too small to judge itself, and no fitted model)."""
    if len(ratios) >= MIN_TIMINGS_FOR_TYPICAL:
        return float(np.median(list(ratios.values())))
    if len(session.end_to_end) >= MIN_FIT:
        return 1.0
    return None


def _time_front(session: SearchSession, points: Sequence[ParetoPoint]) -> dict[str, Latency]:
    """End-to-end timings of ``points`` by id, taken in turns with the builder's workers stopped.

    An architecture's latency is its fastest sample (:attr:`~tvm_nacos.tuning.compile.Latency.best_ms`),
    as its kernels' are (:func:`~tvm_nacos.cosearch.kernel_retiming.retime_kernels`): load only
    slows a sample down, so the fastest samples of kernels and networks are the ones that agree
    (on a loaded host the model's median leave-one-out error on 6 timings of 5 fronts fell from 3.5–10.7 %
    with medians to 1.0–5.6 % with the fastest samples, the same samples either way). A timing whose ratio to its
    estimate is far from the typical ratio is taken again and the faster of the two kept. The
    end-to-end model learns from each.
    """
    networks = session.prepare_timings([p.sample for p in points])
    session.measurer.close()  # nothing of ours runs beside the timings
    timings = time_interleaved(networks, session.target, endpoint=session.endpoint)
    estimates = {p.sample.id: max(p.estimated_latency_ms, 1e-9) for p in points}
    ratios = {arch_id: latency.best_ms / estimates[arch_id] for arch_id, latency in timings.items()}
    typical = _typical_ratio(session, ratios)
    doubtful = [] if typical is None else [
        arch_id for arch_id, latency in timings.items()
        if abs(ratios[arch_id] / typical - 1) > max(RETIME_TOLERANCE, 2 * latency.relative_spread)
    ]
    if doubtful:
        logger.info("timing %d of %d front architectures again: far from the typical ratio to their estimates (%.3f)",
                    len(doubtful), len(points), typical)
        for arch_id, latency in time_interleaved({i: networks[i] for i in doubtful}, session.target, endpoint=session.endpoint).items():
            if latency.best_ms < timings[arch_id].best_ms:
                timings[arch_id] = latency
    for point in points:
        latency = timings[point.sample.id]
        logger.debug("%s: %.4f ± %.4f ms end to end (estimate %.4f ms)", point.sample.id, latency.best_ms,
                     latency.spread_ms, estimates[point.sample.id])
        if point.kernel_sum_latency_ms:
            profile = session.network_profile(point.sample.id, point.kernel_sum_latency_ms)
            session.end_to_end.observe(EndToEndTiming(
                point.sample.id, profile.kernel_sum_ms, profile.calls, latency.best_ms, gflop=profile.gflop,
                megabytes=profile.megabytes, spread_ms=latency.spread_ms,
            ))
    return timings
