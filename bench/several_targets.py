"""Two targets in one search against two separate searches at the same per-target budget.

``search(..., targets={"a": ..., "b": ...})`` explores the architectures once for both targets
(one population, one accuracy estimate per architecture, one supernet import and builder) and
keeps a database, cost model, budget and front per target. Here, on the same space, seed and
per-target budget:

- ``together``: one search over both targets, the targets breeding one population (``shared``,
  the default) or one each (``own``: the same trajectories as separate searches, sharing only
  what costs: the supernet import, each architecture's accuracy and specialization, the builder);
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

import numpy as np
from harness import Benchmark, RunContext, main

SKYLAKE = {"kind": "llvm", "mcpu": "skylake", "num-cores": 2}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Space, accuracy, budget per target, the second target."""
    parser.add_argument("--space", default="nas-bench-201")
    parser.add_argument("--accuracy", choices=("table", "synflow"), default="table",
                        help="table (nas-bench-201 only; instant) or synflow (costs a forward/backward per architecture)")
    parser.add_argument("--budget", type=int, default=150, help="measurement trials per target (default 150)")
    parser.add_argument("--second-target", default=json.dumps(SKYLAKE), help="the second target, as JSON")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument("--populations", default="shared",
                        help="together with one population for all targets (shared), one each (own), or both")
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


def _together(args: argparse.Namespace, targets: dict[str, Any], seed: int, shared: bool, root: str) -> dict[str, Any]:
    import tvm_nacos
    from tvm_nacos import search_space as spaces

    start = time.perf_counter()
    space = spaces.get(args.space)
    result = tvm_nacos.search(space, targets=targets, accuracy=_accuracy(args, space), budget=args.budget, seed=seed,
                              measure_end_to_end=not args.no_end_to_end, work_dir=f"{root}/together-{shared}-{seed}",
                              strategy_options={"shared_population": shared})
    return {"wall_secs": round(time.perf_counter() - start, 1), "num_architectures": result.num_architectures,
            "time_breakdown": result.time_breakdown, "targets": {name: _summary(result[name]) for name in result}}


def _separate(args: argparse.Namespace, targets: dict[str, Any], seed: int, root: str) -> dict[str, Any]:
    import tvm_nacos
    from tvm_nacos import search_space as spaces

    runs, total = {}, 0.0
    for name, target in targets.items():
        start = time.perf_counter()
        space = spaces.get(args.space)  # imported again, as a second search would
        result = tvm_nacos.search(space, target=target, accuracy=_accuracy(args, space), budget=args.budget,
                                  seed=seed, measure_end_to_end=not args.no_end_to_end,
                                  work_dir=f"{root}/{name}-{seed}")
        secs = time.perf_counter() - start
        total += secs
        runs[name] = {**_summary(result), "wall_secs": round(secs, 1)}
    return {"wall_secs": round(total, 1), "targets": runs}


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """Per seed: together (each population mode), then each target alone."""
    from tvm_nacos import search_space as spaces
    from tvm_nacos.target import as_target, host_target

    targets = {"host": as_target(host_target()), "second": as_target(json.loads(args.second_target))}
    modes = [m.strip() for m in args.populations.split(",")]
    runs: list[dict[str, Any]] = []
    spaces.get(args.space).ir_module()  # the first import in a process is dearer: no way pays it
    with tempfile.TemporaryDirectory() as root:
        for seed in (int(s) for s in args.seeds.split(",")):
            for mode in modes:
                run = {"seed": seed, "way": f"together ({mode} population)",
                       **_together(args, targets, seed, mode == "shared", root)}
                runs.append(run)
                ctx.progress("seed %d, %s: %.0f s", seed, run["way"], run["wall_secs"])
                ctx.save({"partial": runs})
            runs.append({"seed": seed, "way": "separate", **_separate(args, targets, seed, root)})
            ctx.progress("seed %d, separate: %.0f s", seed, runs[-1]["wall_secs"])
            ctx.save({"partial": runs})
    _add_hypervolumes(runs)
    return {"space": args.space, "accuracy": args.accuracy, "budget_per_target": args.budget,
            "targets": {name: str(t) for name, t in targets.items()}, "runs": runs, "summary": _means(runs)}


def _add_hypervolumes(runs: list[dict[str, Any]]) -> None:
    """Each front's hypervolume against one reference per target for every run of the file."""
    from tvm_nacos.cosearch.objectives import hypervolume

    for name in runs[0]["targets"]:
        points = [p for r in runs for p in r["targets"][name]["front"]]
        if not points:
            continue
        reference = (min(p["accuracy"] for p in points), 1.1 * max(p["latency_ms"] for p in points))
        for r in runs:
            front = r["targets"][name]["front"]
            r["targets"][name]["hypervolume"] = round(hypervolume(
                [p["accuracy"] for p in front], [p["latency_ms"] for p in front], reference=reference), 5)


def _means(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per way: mean wall seconds and, per target, mean hypervolume and architectures measured."""
    out: dict[str, Any] = {}
    for way in dict.fromkeys(r["way"] for r in runs):
        mine = [r for r in runs if r["way"] == way]
        row: dict[str, Any] = {"wall_secs": round(float(np.mean([r["wall_secs"] for r in mine])), 1)}
        for name in mine[0]["targets"]:
            row[f"{name}.hv"] = round(float(np.mean([r["targets"][name].get("hypervolume", 0.0) for r in mine])), 4)
            row[f"{name}.evaluated"] = float(np.mean([r["targets"][name]["evaluated"] for r in mine]))
        out[way] = row
    return out


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Per way: mean wall time, and each target's mean hypervolume and architectures measured."""
    return {f"{way}.{k}": v for way, row in result["summary"].items() for k, v in row.items()}


BENCHMARK = Benchmark(
    name="several_targets",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={
        "nb201-table": ["--accuracy", "table", "--budget", "150"],
        "nb201-table-3seeds": ["--accuracy", "table", "--budget", "150", "--seeds", "0,1,2", "--populations", "shared,own"],
        "nb201-synflow": ["--accuracy", "synflow", "--budget", "150"],
        "smoke": ["--budget", "16", "--no-end-to-end"],
    },
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
