"""Run one benchmark of ``bench/`` under the harness: ``python bench/run.py BENCHMARK [options]``.

``python bench/run.py --list`` lists the benchmarks and their named configs;
``python bench/run.py BENCHMARK --help`` shows a benchmark's options and the harness's.
Results go to ``bench/results/<benchmark>/<commit>[-<label>].json`` (see ``bench/harness.py``);
``python bench/compare.py A.json B.json`` prints two of them side by side.

Examples::

    python bench/run.py search_overhead
    python bench/run.py strategy_comparison --config nb201-b500
    python bench/run.py zero_cost_rho --num-cells 20 --proxies synflow --label smoke --no-save
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from harness import Benchmark, main

#: Every benchmark, by name: each is ``bench/<name>.py`` defining ``BENCHMARK``.
BENCHMARKS = (
    "best_architecture",
    "build_breakdown",
    "builder_throughput",
    "compare_tuning",
    "cost_model_accuracy",
    "device_scaling",
    "eager_retiming",
    "end_to_end_model",
    "exhaustive_subspace",
    "extraction_cache",
    "inherited_vs_finetuned",
    "lowering",
    "model_search",
    "expose_passes_table",
    "front_timing",
    "proxy_ranking",
    "search_overhead",
    "several_targets",
    "strategy_comparison",
    "supernet_rho",
    "task_sharing",
    "time_breakdown",
    "tuning_curve",
    "zero_cost_rho",
)


def load(name: str) -> Benchmark:
    """The :class:`~harness.Benchmark` of ``bench/<name>.py``.

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`BENCHMARKS`.
    """
    if name not in BENCHMARKS:
        raise ValueError(f"no benchmark {name!r}; valid: {', '.join(BENCHMARKS)}")
    module: ModuleType = importlib.import_module(name)
    return module.BENCHMARK


def list_benchmarks() -> str:
    """One block per benchmark: its name, its one-line summary and its configs."""
    lines = []
    for name in BENCHMARKS:
        benchmark = load(name)
        lines.append(f"{name}\n    {benchmark.summary_line}")
        for config, args in benchmark.configs.items():
            lines.append(f"    --config {config}: {' '.join(args) or '(defaults)'}")
    return "\n".join(lines)


def run(argv: Sequence[str]) -> int:
    """Entry point: ``argv`` without the program name."""
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        print("benchmarks: " + ", ".join(BENCHMARKS))
        return 0
    if argv[0] == "--list":
        print(list_benchmarks())
        return 0
    try:
        benchmark = load(argv[0])
    except ValueError as err:
        print(f"bench/run.py: {err}", file=sys.stderr)
        return 2
    return main(benchmark, argv[1:], prog=f"bench/run.py {benchmark.name}")


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
