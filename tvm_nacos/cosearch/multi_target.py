"""One search, several targets: one exploration of the architectures, a front per target.

A user who ships to two kinds of device would otherwise run the whole search twice, paying the
supernet, the architecture exploration and the accuracy estimates twice. Here the targets share
them: one population of architectures (the joint strategy's rounds take turns over the targets,
each adding children of its own front:
:func:`~tvm_nacos.cosearch.strategies.joint.run_joint_across_targets`), one accuracy estimate
per architecture, one specialization of each for inference, one builder. What depends on the hardware stays per target: lowering and task
extraction, the tuning database, the cost model, the budget, the checkpoint and the front, each
in ``work_dir/targets/NAME`` (a work directory of its own: ``tvm-nacos compile`` and ``report``
work on it). ``work_dir/pareto.json`` holds every target's result; the report puts the fronts
side by side.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tvm_nacos.cosearch.progress import SearchProgress
from tvm_nacos.cosearch.search import (
    RESULT_SCHEMA_VERSION,
    ParetoPoint,
    SearchResult,
    _accuracy_function,
    check_measurable,
    front_of,
    landed_candidates,
    resolve_subject,
    result_of,
    write_results,
)
from tvm_nacos.cosearch.session import SearchSession, SharedArchitectures
from tvm_nacos.cosearch.strategies import get_strategy_across_targets
from tvm_nacos.cosearch.targets import TargetSpec, resolve_targets
from tvm_nacos.cosearch.timing import MEASURING, OTHER, PHASES, TOTAL, describe_breakdown, union_secs
from tvm_nacos.target import TargetError
from tvm_nacos.tuning.builder import PersistentBuilder
from tvm_nacos.workdir import TARGETS_DIR, WorkDir

logger = logging.getLogger(__name__)

__all__ = ["OTHER_TARGETS", "MultiTargetResult", "search_targets"]

#: In a target's time breakdown: the seconds the other targets' phases took.
OTHER_TARGETS = "other targets"


@dataclass
class MultiTargetResult:
    """The outcome of ``search(..., targets=...)``: one :class:`SearchResult` per target.

    Attributes
    ----------
    results : dict[str, SearchResult]
        Each target's result by name (its ``search_secs`` is the whole search's).
    runners : dict[str, str]
        Where each target was measured (``"local"``, or the runner).
    strategy, seed, budget, search_secs
        What ran (``budget``: trials per target) and what it all took.
    name, space, space_options
        What was searched.
    time_breakdown : dict
        Wall seconds of the whole search by phase, every target's summed.
    num_architectures : int
        Architectures the shared exploration looked at (each estimated once for accuracy).
    """

    results: dict[str, SearchResult]
    runners: dict[str, str]
    strategy: str
    seed: int
    budget: int
    search_secs: float
    name: str
    space: str | None = None
    space_options: dict[str, Any] = field(default_factory=dict)
    time_breakdown: dict[str, float] = field(default_factory=dict)
    num_architectures: int = 0
    time_budget_s: float | None = None

    def __getitem__(self, name: str) -> SearchResult:
        if name not in self.results:
            raise KeyError(f"no target {name!r}; the targets are {sorted(self.results)}")
        return self.results[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    @property
    def pareto(self) -> dict[str, list[ParetoPoint]]:
        """Each target's front by name."""
        return {name: result.pareto for name, result in self.results.items()}

    def to_json(self) -> str:
        """Versioned JSON: what ran, and each target's result (:meth:`SearchResult.to_json`) under
        ``"targets"`` with its ``work_dir`` (relative) and ``runner``."""
        targets = {}
        for name, result in self.results.items():
            targets[name] = {
                "work_dir": f"{TARGETS_DIR}/{name}", "runner": self.runners[name], **json.loads(result.to_json())
            }
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
                "search_secs": self.search_secs,
                "time_breakdown": self.time_breakdown,
                "num_architectures": self.num_architectures,
                "targets": targets,
            },
            indent=1,
        )


def _named(progress: Callable[[SearchProgress], None] | None, name: str) -> Callable[[SearchProgress], None] | None:
    """``progress`` with the target's name in every event."""
    if progress is None:
        return None
    return lambda event: progress(replace(event, target=name))


def search_targets(
    mod_or_space: Any,
    *,
    targets: Mapping[str, Any],
    accuracy: Any,
    budget: int,
    strategy: str,
    work_dir: str | os.PathLike,
    seed: int = 0,
    constraints: Any = None,
    strategy_options: Mapping[str, Any] | None = None,
    builder: Any = None,
    measure_end_to_end: bool = True,
    deterministic: bool = False,
    resume: bool = False,
    progress: Callable[[SearchProgress], None] | None = None,
    check_outputs: bool = False,
    cost_model: Any = None,
    name: str | None = None,
    schedule_options: Mapping[str, Any] | None = None,
    time_budget_s: float | None = None,
) -> MultiTargetResult:
    """Search several targets at once (``tvm_nacos.search(..., targets=...)`` comes here).

    The arguments are :func:`tvm_nacos.search`'s, checked there; ``budget`` (and
    ``time_budget_s``, from the common start) applies to each target. Each target gets a
    ``cost_model`` of its own (``cost_model.unfitted_copy()``: a cost model learns one target's
    hardware). The searches resume together: ``resume`` needs the same target names.
    """
    specs = resolve_targets(targets)
    for spec in specs:
        try:
            check_measurable(spec.target, spec.runner, measure_end_to_end)
        except TargetError as err:
            raise TargetError(f"target {spec.name!r}: {err}") from None
    run_strategy = get_strategy_across_targets(strategy)
    subject = resolve_subject(mod_or_space, name)
    work = WorkDir.prepare(work_dir)
    accuracy_fn = _accuracy_function(accuracy)
    owns_builder = builder is None
    builder = builder or PersistentBuilder(check_outputs=check_outputs)
    run_info = {**subject.run_info(strategy, strategy_options), "targets": [spec.name for spec in specs]}
    shared = SharedArchitectures(len(specs))
    start = time.perf_counter()
    sessions: dict[str, SearchSession] = {}
    try:
        for spec in specs:
            sessions[spec.name] = SearchSession(
                subject.mod, subject.space, accuracy=accuracy_fn, target=spec.target,
                work_dir=work.target_dir(spec.name).path, budget=budget, constraints=constraints, seed=seed,
                builder=builder, runner=spec.runner, deterministic=deterministic, source=subject.builtin,
                resume=resume, progress=_named(progress, spec.name), check_outputs=check_outputs,
                cost_model=None if cost_model is None else cost_model.unfitted_copy(),
                schedule_options=schedule_options, time_budget_s=time_budget_s, devices=spec.devices,
                run_info=run_info, shared=shared,
            )
        found = run_strategy(sessions, **dict(strategy_options or {}))
        candidates = {n: landed_candidates(session, found.get(n, [])) for n, session in sessions.items()}
        if owns_builder:
            builder.shutdown()  # nothing of ours builds while the fronts are timed
        fronts = {n: front_of(session, candidates[n], measure_end_to_end=measure_end_to_end)
                  for n, session in sessions.items()}
    finally:
        for session in sessions.values():
            session.close()
        if owns_builder:
            builder.shutdown()
    search_secs = time.perf_counter() - start
    results = {}
    for spec in specs:
        session = sessions[spec.name]
        evaluated, pareto = fronts[spec.name]
        results[spec.name] = result_of(
            session, subject, evaluated=evaluated, pareto=pareto, strategy=strategy,
            measure_end_to_end=measure_end_to_end, search_secs=search_secs,
            time_breakdown=_target_breakdown(sessions, spec.name, search_secs),
        )
        write_results(results[spec.name], work.target_dir(spec.name).path, subject)
    result = MultiTargetResult(
        results=results, runners={spec.name: _runner_name(spec) for spec in specs}, strategy=strategy, seed=seed,
        budget=budget, search_secs=search_secs, name=subject.name, space=subject.space_name,
        space_options=subject.builtin.options() if subject.builtin is not None else {},
        time_breakdown=_combined_breakdown(sessions, search_secs), num_architectures=len(shared.accuracy),
        time_budget_s=time_budget_s,
    )
    logger.info("%d targets, %d architectures explored once: %s", len(specs), len(shared.accuracy),
                describe_breakdown(result.time_breakdown))
    _write_combined(result, work, subject)
    return result


def _runner_name(spec: TargetSpec) -> str:
    if spec.runner is None:
        return "local"
    return spec.runner if isinstance(spec.runner, str) else type(spec.runner).__name__


def _target_breakdown(sessions: Mapping[str, SearchSession], name: str, total: float) -> dict[str, float]:
    """Target ``name``'s phases; the other targets' phases apart (:data:`OTHER_TARGETS`); the
    rest (the shared exploration, lowering, extraction) as ``other``."""
    others = sum(sum(s.times.seconds.values()) for n, s in sessions.items() if n != name)
    breakdown = sessions[name].times.breakdown(max(0.0, total - others))
    breakdown[OTHER_TARGETS] = round(others, 3)
    breakdown[TOTAL] = round(max(total, breakdown[TOTAL] + others), 3)
    return breakdown


def _combined_breakdown(sessions: Mapping[str, SearchSession], total: float) -> dict[str, float]:
    """Every target's phases summed, the rest as ``other``."""
    seconds = {phase: sum(s.times.seconds[phase] for s in sessions.values()) for phase in PHASES}
    timed = sum(seconds.values())
    measuring = union_secs([interval for s in sessions.values() for interval in s.times.measuring])
    return {**{k: round(v, 3) for k, v in seconds.items()}, OTHER: round(max(0.0, total - timed), 3),
            TOTAL: round(max(total, timed), 3), MEASURING: round(min(measuring, max(total, timed)), 3)}


def _write_combined(result: MultiTargetResult, work: WorkDir, subject: Any) -> None:
    """``pareto.json`` with every target's result, ``model.json`` for a user module, the report."""
    from tvm_nacos.report import write_report

    if subject.builtin is None:
        work.save_model(subject.mod)
    work.write_result(result.to_json())
    write_report(work)
