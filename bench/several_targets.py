"""Two targets in one search against two separate searches at the same per-target budget.

``search(..., targets={"a": ..., "b": ...})`` explores the architectures once for both targets
(one population, one accuracy estimate per architecture, one supernet import and builder) and
keeps a database, cost model, budget and front per target. Here, on the same space, seed and
per-target budget:

- ``together``: one search over both targets;
- ``separate``: one search per target, one after the other (what a user without ``targets``
  runs), each importing the space and estimating accuracies again.

Reported: the total wall time of each way, each target's trials, time breakdown and front
(end-to-end latencies), and the hypervolume of each front against a reference shared by the
two ways (per target: the lowest accuracy on either front, 1.1 × the slowest latency).

Both targets are measured on this machine by default: the host CPU and ``--second-target``
(default: Skylake, AVX2 without AVX-512, as an older machine of a fleet would be; its code runs
here). The two ways run one after the other in one process (after a first import of the space
that neither way pays), so the machine's load is shared alike.

Usage::

    python bench/run.py several_targets --config nb201-table     # table accuracy; ~12 min
    python bench/run.py several_targets --config nb201-synflow   # synflow: accuracy costs something
    python bench/run.py several_targets --config smoke --no-save
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from typing import Any

from harness import Benchmark, RunContext, main

SKYLAKE = {"kind": "llvm", "mcpu": "skylake", "num-cores": 2}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Space, accuracy, budget per target, the second target."""
    parser.add_argument("--space", default="nas-bench-201")
    parser.add_argument("--accuracy", choices=("table", "synflow"), default="table",
                        help="table (nas-bench-201 only; instant) or synflow (costs a forward/backward per architecture)")
    parser.add_argument("--budget", type=int, default=150, help="measurement trials per target (default 150)")
    parser.add_argument("--second-target", default=json.dumps(SKYLAKE), help="the second target, as JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-end-to-end", action="store_true", help="fronts by kernel-sum estimates (faster)")


def _accuracy(args: argparse.Namespace, space: Any) -> Any:
    from _common import log10_estimator

    from tvm_nacos.accuracy import TableAccuracy, ZeroCostProxy

    if args.accuracy == "table":
        return TableAccuracy()
    return log10_estimator(ZeroCostProxy.create("synflow", space=space))


def _front(result: Any) -> list[dict[str, Any]]:
    return [{"arch_id": p.sample.id, "accuracy": round(p.accuracy, 4), "latency_ms": round(p.latency_ms, 4),
             "spread_ms": None if p.latency_spread_ms is None else round(p.latency_spread_ms, 4)} for p in result.pareto]


def _summary(result: Any) -> dict[str, Any]:
    return {"target": result.target, "trials": result.trials_used, "failed": result.failed_trials,
            "evaluated": len(result.evaluated), "time_breakdown": result.time_breakdown, "front": _front(result)}


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """Together, then each target alone; the same seed and per-target budget."""
    import tvm_nacos
    from tvm_nacos import search_space as spaces
    from tvm_nacos.target import as_target, host_target

    targets = {"host": as_target(host_target()), "second": as_target(json.loads(args.second_target))}
    common = {"budget": args.budget, "seed": args.seed, "measure_end_to_end": not args.no_end_to_end}
    runs: dict[str, Any] = {}
    spaces.get(args.space).ir_module()  # the first import in a process is dearer: neither way pays it
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        space = spaces.get(args.space)
        together = tvm_nacos.search(space, targets=targets, accuracy=_accuracy(args, space),
                                    work_dir=f"{root}/together", **common)
        wall = time.perf_counter() - start
        runs["together"] = {"wall_secs": round(wall, 1), "num_architectures": together.num_architectures,
                            "time_breakdown": together.time_breakdown,
                            "targets": {name: _summary(together[name]) for name in together}}
        ctx.progress("together: %.0f s, %d architectures explored", wall, together.num_architectures)
        ctx.save({"partial": runs})
        separate: dict[str, Any] = {}
        total = 0.0
        for name, target in targets.items():
            start = time.perf_counter()
            space = spaces.get(args.space)  # imported again, as a second search would
            result = tvm_nacos.search(space, target=target, accuracy=_accuracy(args, space),
                                      work_dir=f"{root}/{name}", **common)
            secs = time.perf_counter() - start
            total += secs
            separate[name] = {**_summary(result), "wall_secs": round(secs, 1)}
            ctx.progress("%s alone: %.0f s", name, secs)
        runs["separate"] = {"wall_secs": round(total, 1), "targets": separate}
    _add_hypervolumes(runs)
    return {"space": args.space, "accuracy": args.accuracy, "budget_per_target": args.budget, "seed": args.seed,
            "targets": {name: str(t) for name, t in targets.items()}, "runs": runs}


def _add_hypervolumes(runs: dict[str, Any]) -> None:
    """Each front's hypervolume against the reference both ways share, per target."""
    from tvm_nacos.cosearch.objectives import hypervolume

    for name in runs["together"]["targets"]:
        fronts = [runs[way]["targets"][name]["front"] for way in ("together", "separate")]
        points = [p for front in fronts for p in front]
        if not points:
            continue
        reference = (min(p["accuracy"] for p in points), 1.1 * max(p["latency_ms"] for p in points))
        for way in ("together", "separate"):
            front = runs[way]["targets"][name]["front"]
            runs[way]["targets"][name]["hypervolume"] = round(hypervolume(
                [p["accuracy"] for p in front], [p["latency_ms"] for p in front], reference=reference), 5)


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Wall time of each way, their ratio, and each front's hypervolume."""
    runs = result["runs"]
    summary: dict[str, Any] = {way: runs[way]["wall_secs"] for way in ("together", "separate")}
    summary["together/separate"] = round(runs["together"]["wall_secs"] / runs["separate"]["wall_secs"], 3)
    for way in ("together", "separate"):
        for name, target in runs[way]["targets"].items():
            summary[f"{way}.{name}.hv"] = target.get("hypervolume")
            summary[f"{way}.{name}.front"] = len(target["front"])
    return summary


BENCHMARK = Benchmark(
    name="several_targets",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={
        "nb201-table": ["--accuracy", "table", "--budget", "150"],
        "nb201-synflow": ["--accuracy", "synflow", "--budget", "150"],
        "smoke": ["--budget", "16", "--no-end-to-end"],
    },
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
