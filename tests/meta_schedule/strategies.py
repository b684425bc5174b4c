"""The search strategies the ported MetaSchedule tests run with, and small helpers they share.

Every ported test takes a strategy *kind*: MetaSchedule's own (``replay-func``,
``replay-trace``, ``evolutionary``) or ours (``nacos``); :func:`make_strategy` builds it with the
test's settings. ``EvolutionarySearch`` and ``NACOSSearchStrategy`` take the same settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tvm

from tvm_nacos._compat import meta_schedule, structural_hash, tir_schedule_class
from tvm_nacos.cosearch.schedule_strategy import NACOSSearchStrategy
from tvm_nacos.testing.fake import SMALL_SCHEDULE_SEARCH

ms = meta_schedule()

#: MetaSchedule's strategies and ours.
REPLAY = ["replay-func", "replay-trace"]
EVOLUTIONARY = ["evolutionary", "nacos"]
ALL = REPLAY + EVOLUTIONARY

#: Settings of the evolutionary strategies in the tests that tune (``tune_tir``, ``tune_relax``),
#: where upstream takes MetaSchedule's defaults (population 512, 4 rounds, 50 random schedules):
#: what those tests check (trial counts, full batches, no schedule measured twice, a schedule
#: found) does not depend on the population, and the defaults cost ~40 s per tuning call here.
TUNING_SETTINGS = dict(SMALL_SCHEDULE_SEARCH)

#: Whether a test starts from an empty database or one holding an earlier session's records.
DATABASES = ["empty", "with-records"]

#: A CPU target with ``num-cores`` (MetaSchedule's CPU rules need it; upstream's bare "llvm"
#: works only where nothing reads it).
TARGET = tvm.target.Target({"kind": "llvm", "num-cores": 1})


def make_strategy(kind: str, **settings: Any) -> Any:
    """A fresh search strategy of ``kind``; ``settings`` go to the evolutionary ones."""
    if kind == "replay-func":
        return ms.search_strategy.ReplayFunc()
    if kind == "replay-trace":
        return ms.search_strategy.ReplayTrace()
    if kind == "evolutionary":
        return ms.search_strategy.EvolutionarySearch(**settings)
    if kind == "nacos":
        return NACOSSearchStrategy(**settings)
    raise ValueError(f"unknown strategy kind {kind!r}; expected one of {ALL}")


def skips_measured(kind: str) -> bool:
    """Whether the strategy leaves out schedules its database already holds (ours does)."""
    return kind == "nacos"


def module_key(mod: tvm.IRModule) -> int:
    """How the tests tell scheduled modules apart (structural hash)."""
    return int(structural_hash(mod))


def run_session(
    context: Any,
    *,
    max_trials: int,
    num_trials_per_iter: int,
    database: Any = None,
    cost_model: Any = None,
    on_candidate: Callable[[Any], None] | None = None,
    commit_to: Any = None,
) -> tuple[list[int], list[int]]:
    """MetaSchedule's search loop as the upstream tests write it: propose, fake-measure, notify.

    Every candidate gets ``run_secs=[0.11, 0.41, 0.54]``. With ``commit_to``, each result is
    also committed to that database (what ``AddToDatabase`` does in a tuning session).

    Returns
    -------
    (batch sizes, structural hashes of every candidate proposed)
    """
    strategy = context.search_strategy
    strategy.pre_tuning(
        max_trials=max_trials,
        num_trials_per_iter=num_trials_per_iter,
        design_spaces=context.space_generator.generate_design_space(context.mod),
        database=database,
        cost_model=cost_model,
    )
    sizes: list[int] = []
    keys: list[int] = []
    workload = commit_to.commit_workload(context.mod) if commit_to is not None else None
    candidates = strategy.generate_measure_candidates()
    while candidates is not None:
        sizes.append(len(candidates))
        results = []
        for candidate in candidates:
            if on_candidate is not None:
                on_candidate(candidate)
            keys.append(module_key(candidate.sch.mod))
            results.append(ms.runner.RunnerResult(run_secs=[0.11, 0.41, 0.54], error_msg=None))
            if commit_to is not None:
                commit_to.commit_tuning_record(
                    ms.database.TuningRecord(
                        candidate.sch.trace, workload, [0.11], TARGET, candidate.args_info
                    )
                )
        strategy.notify_runner_results(candidates, results)
        candidates = strategy.generate_measure_candidates()
    strategy.post_tuning()
    return sizes, keys


def measured_keys(database: Any, mod: tvm.IRModule) -> set[int]:
    """Structural hashes of the scheduled modules of every record ``database`` holds for ``mod``
    (``get_top_k`` would leave out failed ones and those without a schedule instruction)."""
    if not database.has_workload(mod):
        return set()
    workload = database.commit_workload(mod)
    keys = set()
    for record in database.get_all_tuning_records():
        if record.workload.same_as(workload):
            sch = tir_schedule_class()(record.workload.mod)
            record.trace.apply_to_schedule(sch, remove_postproc=False)
            keys.add(module_key(sch.mod))
    return keys
