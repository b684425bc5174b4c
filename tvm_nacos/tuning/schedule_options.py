"""Settings of MetaSchedule's evolutionary schedule search that a search or a tuning call may set."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["COSEARCH_SCHEDULE_SEARCH", "FINISHING_SCHEDULE_SEARCH", "SCHEDULE_OPTIONS", "check_schedule_options"]

#: The keyword arguments of ``ms.search_strategy.EvolutionarySearch`` (and of
#: :class:`~tvm_nacos.cosearch.schedule_strategy.NACOSSearchStrategy`) a caller may set.
SCHEDULE_OPTIONS = (
    "population_size", "init_min_unmeasured", "genetic_num_iters", "eps_greedy",
    "init_measured_ratio", "max_fail_count", "genetic_mutate_prob", "genetic_max_fail_count",
)


#: The co-search's settings of each kernel's schedule search, where a search is not given its own
#: (``NACOSSearchStrategy`` alone keeps MetaSchedule-sized defaults: population 64, 2 rounds).
#: A batch of the joint search asks for 1-4 candidates; a population of 64 evolved twice cost
#: 40 % of the default run's wall time. Side by side on one machine (``bench/time_breakdown.py``,
#: BENCHMARKS.md), these settings cut the schedule search 3-4x and the wall time by a quarter
#: to a third, with fronts as good or better on nas-bench-201 and mobilenet-v2.
COSEARCH_SCHEDULE_SEARCH: dict[str, Any] = {"population_size": 16, "init_min_unmeasured": 8, "genetic_num_iters": 1}


#: A finishing tune's settings (:func:`~tvm_nacos.tuning.tune.finish_architecture`), where it is
#: not given its own: it tops kernels up to a few dozen candidates, in batches of 16. On the
#: largest kernels of the Quick start's front (``bench/best_architecture.py``, 32 per kernel,
#: BENCHMARKS.md) these reached the same latencies as MetaSchedule's defaults (population 512,
#: 4 rounds, 50 random) 2.9x faster (95 against 33 trials a minute).
FINISHING_SCHEDULE_SEARCH: dict[str, Any] = {"population_size": 64, "init_min_unmeasured": 16, "genetic_num_iters": 2}


def check_schedule_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``options`` as a dict, checked against :data:`SCHEDULE_OPTIONS` (``ValueError`` names the
    unknown ones and the valid ones)."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(SCHEDULE_OPTIONS))
    if unknown:
        raise ValueError(f"unknown schedule option(s) {unknown}; valid options: {list(SCHEDULE_OPTIONS)}")
    for key, value in options.items():
        if key in ("eps_greedy", "init_measured_ratio", "genetic_mutate_prob"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"schedule option {key} must be a number in [0, 1], got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "population_size" else 0):
            smallest = 1 if key == "population_size" else 0
            raise ValueError(f"schedule option {key} must be an integer >= {smallest}, got {value!r}")
    return options
