"""Joint search vs the exhaustive front on a NAS-Bench-201 subspace of at most 300 cells.

The subspace comes from the ``RestrictChoices`` pass on the nas-bench-201 module: some edges
keep a few operations, the others are fixed (inlined). Accuracy is the NAS-Bench-201 table's
CIFAR-10 ``valid_accuracy`` of the full cell (fixed edges merged back in). Target: the host CPU.

1. ``exhaustive``: every cell of the subspace, each kernel tuned with ``--trials-per-task``
   trials (a kernel that cells share is tuned once), the front measured end to end.
2. The other strategies (``joint`` by default, 3 seeds) with a budget of ``--fraction`` of the
   trials exhaustive spent, each in a fresh work directory (nothing shared with exhaustive).

Reported: the hypervolume of every front against one reference (accuracy: the subspace's
lowest; latency: 1.1 × the largest end-to-end latency on any front), each strategy's share of
exhaustive's hypervolume, and the measurements spent. Issue 7's goal: joint reaches ≥ 90 % of
the exhaustive hypervolume with ≤ 20 % of its measurements.

The result file is written after every run; ``--resume FILE`` keeps the runs of an earlier
result (its exhaustive run too, so a new version of the joint search is measured against the
same exhaustive front).

Usage::

    python bench/run.py exhaustive_subspace --config nb201-subspace81 --work-root /tmp/exh
    python bench/run.py exhaustive_subspace --config nb201-subspace81 \\
        --resume bench/results/exhaustive_subspace/29753a6-nb201-subspace81.json   # keep that exhaustive run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np
from harness import Benchmark, RunContext, main

#: The default subspace: 4 edges × 3 operations = 81 cells; edges 0→1 and 0→2 fixed.
DEFAULT_KEEP = {
    "edge.1<-0": ["nor_conv_3x3"],
    "edge.2<-0": ["skip_connect"],
    "edge.2<-1": ["nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"],
    "edge.3<-0": ["nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"],
    "edge.3<-1": ["nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"],
    "edge.3<-2": ["nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"],
}


def run_one(mod: Any, builtin: Any, fixed: dict, strategy: str, seed: int, budget: int, args: argparse.Namespace,
            ctx: RunContext) -> dict:
    """One search of the subspace in a fresh work directory; its JSON-able record."""
    import tvm_nacos
    from tvm_nacos.accuracy import TableAccuracy
    from tvm_nacos.search_space import ArchSample

    table = TableAccuracy()

    def accuracy(samples: list) -> list[float]:
        return table.evaluate([ArchSample({**fixed, **dict(s)}) for s in samples])

    options: dict[str, Any] = {}
    if strategy in ("exhaustive", "two-stage", "random"):
        options["trials_per_task"] = args.trials_per_task
    if args.work_root:
        os.makedirs(args.work_root, exist_ok=True)
    work_dir = tempfile.mkdtemp(prefix=f"nacos_sub_{strategy}_s{seed}_", dir=args.work_root)
    last_print = [0.0]
    start = time.perf_counter()

    def progress(event: Any) -> None:
        if time.perf_counter() - last_print[0] >= 30:
            last_print[0] = time.perf_counter()
            ctx.progress("    %s s%d: %d trials, %d tasks, %d/%d archs measured, %.0f s", strategy, seed,
                         event.trials_used, event.num_tasks, event.num_measured_architectures,
                         event.num_architectures, time.perf_counter() - start)

    result = tvm_nacos.search(mod, accuracy=accuracy, budget=budget, strategy=strategy, work_dir=work_dir, seed=seed,
                              strategy_options=options, progress=progress)
    front = [
        {"arch_str": builtin.arch_str(ArchSample({**fixed, **dict(p.sample)})), "accuracy": p.accuracy,
         "latency_ms": p.latency_ms, "estimated_latency_ms": p.estimated_latency_ms}
        for p in result.pareto
    ]
    return {
        "strategy": strategy, "seed": seed, "budget": budget, "strategy_options": options, "work_dir": work_dir,
        "trials_used": result.trials_used, "failed_trials": result.failed_trials,
        "wall_secs": round(time.perf_counter() - start, 1), "num_measured_archs": len(result.evaluated),
        "front": front,
    }


def add_hypervolumes(runs: list[dict], min_accuracy: float) -> dict:
    """Hypervolume of every run against one reference; returns the reference."""
    from tvm_nacos.cosearch.objectives import hypervolume

    latencies = [p["latency_ms"] for r in runs for p in r["front"]]
    reference = {"accuracy": min_accuracy, "latency_ms": 1.1 * max(latencies) if latencies else None}
    exhaustive = next((r for r in runs if r["strategy"] == "exhaustive"), None)
    for r in runs:
        r["hv"] = 0.0
        if reference["latency_ms"] is not None and r["front"]:
            r["hv"] = hypervolume([p["accuracy"] for p in r["front"]], [p["latency_ms"] for p in r["front"]],
                                  reference=(min_accuracy, reference["latency_ms"]))
    for r in runs:
        r["hv_share"] = r["hv"] / exhaustive["hv"] if exhaustive and exhaustive["hv"] > 0 else None
        r["trials_share"] = r["trials_used"] / exhaustive["trials_used"] if exhaustive else None
    return reference


def plot(runs: list[dict], path: str, title: str) -> None:
    """Exhaustive front and every other run's front."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in runs:
        if not r["front"]:
            continue
        lat, acc = zip(*sorted((p["latency_ms"], p["accuracy"]) for p in r["front"]), strict=True)
        style = {"linewidth": 2.5, "color": "black"} if r["strategy"] == "exhaustive" else {"alpha": 0.8}
        ax.step(lat, acc, where="post", marker="o", label=f"{r['strategy']} s{r['seed']}: {r['trials_used']} trials, "
                f"HV {100 * (r['hv_share'] or 0):.0f} %", **style)
    ax.set_xlabel("tuned end-to-end latency (ms), TVM llvm, 2 cores")
    ax.set_ylabel("NAS-Bench-201 CIFAR-10 valid accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The subspace, exhaustive's trials per kernel, the others' share, strategies and seeds."""
    parser.add_argument("--keep", default=json.dumps(DEFAULT_KEEP),
                        help="JSON: edge label -> operations kept (one operation fixes the edge)")
    parser.add_argument("--trials-per-task", type=int, default=8, help="trials per kernel of exhaustive")
    parser.add_argument("--fraction", type=float, default=0.2,
                        help="the others' budget, a share of exhaustive's trials")
    parser.add_argument("--strategies", default="joint", help="comma-separated, compared with exhaustive")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated")
    parser.add_argument("--work-root", default=None)
    parser.add_argument("--plot", action="store_true", help="PNG of every front, beside the result file")


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """Exhaustive (unless resumed), then every (seed, strategy) not done yet; prints the table."""
    import torch

    torch.set_num_threads(1)
    from tvm_nacos import search_space as spaces
    from tvm_nacos.accuracy import TableAccuracy
    from tvm_nacos.analysis import search_space
    from tvm_nacos.passes import RestrictChoices
    from tvm_nacos.search_space import ArchSample
    from tvm_nacos.target import host_target

    keep = json.loads(args.keep)
    fixed = {label: ops[0] for label, ops in keep.items() if len(ops) == 1}
    builtin = spaces.get("nas-bench-201")
    mod = RestrictChoices(keep)(builtin.ir_module())
    subspace = search_space(mod)
    if subspace.size > 300:
        raise SystemExit(f"the subspace has {subspace.size} cells; this comparison wants at most 300")
    accuracies = TableAccuracy().evaluate([ArchSample({**fixed, **dict(s)}) for s in subspace.enumerate()])
    ctx.progress("subspace: %d cells, accuracy %.2f–%.2f %%", subspace.size, min(accuracies), max(accuracies))

    runs: list[dict] = list(ctx.previous_result["runs"]) if ctx.previous_result is not None else []
    report: dict[str, Any] = {
        "target": str(host_target()), "keep": keep, "subspace_size": subspace.size,
        "accuracy_range": [min(accuracies), max(accuracies)], "trials_per_task": args.trials_per_task,
        "fraction": args.fraction,
    }

    def save() -> dict:
        reference = add_hypervolumes(runs, min(accuracies))
        ctx.save({**report, "hv_reference": reference, "runs": runs})
        return reference

    if not any(r["strategy"] == "exhaustive" for r in runs):
        ctx.progress("exhaustive, %d trials per kernel", args.trials_per_task)
        runs.append(run_one(mod, builtin, fixed, "exhaustive", 0, 1_000_000, args, ctx))
        save()
    exhaustive = next(r for r in runs if r["strategy"] == "exhaustive")
    budget = max(1, math.floor(args.fraction * exhaustive["trials_used"]))
    ctx.progress("exhaustive: %d trials, %d on the front; the others get %d", exhaustive["trials_used"],
                 len(exhaustive["front"]), budget)
    for seed in [int(s) for s in args.seeds.split(",")]:
        for strategy in args.strategies.split(","):
            if any(r["strategy"] == strategy and r["seed"] == seed for r in runs):
                continue
            ctx.progress("%s, seed %d, budget %d", strategy, seed, budget)
            runs.append(run_one(mod, builtin, fixed, strategy, seed, budget, args, ctx))
            save()
    reference = save()
    print(f"\nhypervolume reference: accuracy {reference['accuracy']:.2f} %, "
          f"latency {reference['latency_ms']:.3f} ms\n")
    print("| strategy | seed | trials (share of exhaustive) | front | hypervolume (share of exhaustive) | wall s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in runs:
        share = "—" if r["hv_share"] is None else f"{100 * r['hv_share']:.1f} %"
        print(f"| {r['strategy']} | {r['seed']} | {r['trials_used']} ({100 * r['trials_share']:.0f} %) | "
              f"{len(r['front'])} | {r['hv']:.3f} ({share}) | {r['wall_secs']} |")
    others = [r["hv_share"] for r in runs if r["strategy"] != "exhaustive" and r["hv_share"] is not None]
    if others:
        print(f"\nmean share of the exhaustive hypervolume: {100 * np.mean(others):.1f} % "
              f"(min {100 * min(others):.1f} %) over {len(others)} runs")
    plot_path = ctx.artifact_path(".png")
    if args.plot and plot_path is not None:
        plot(runs, str(plot_path), f"nas-bench-201 subspace ({subspace.size} cells): exhaustive vs {args.strategies}")
        ctx.progress("wrote %s", plot_path)
    return {**report, "hv_reference": reference, "runs": runs}


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Exhaustive's trials and hypervolume; per strategy, its share of exhaustive's hypervolume (mean, min)."""
    exhaustive = next((r for r in result["runs"] if r["strategy"] == "exhaustive"), None)
    out: dict[str, Any] = {}
    if exhaustive is not None:
        out.update({"exhaustive.trials": exhaustive["trials_used"], "exhaustive.hv": exhaustive["hv"]})
    for strategy in dict.fromkeys(r["strategy"] for r in result["runs"] if r["strategy"] != "exhaustive"):
        shares = [r["hv_share"] for r in result["runs"] if r["strategy"] == strategy and r["hv_share"] is not None]
        mine = [r for r in result["runs"] if r["strategy"] == strategy]
        out[f"{strategy}.runs"] = len(mine)
        out[f"{strategy}.trials"] = mine[0]["trials_used"] if mine else None
        out[f"{strategy}.hv_share_mean"] = float(np.mean(shares)) if shares else None
        out[f"{strategy}.hv_share_min"] = min(shares) if shares else None
    return out


#: A 4-cell subspace (2 edges × 2 operations) to check the benchmark runs, in minutes.
SMOKE_KEEP = {**{label: ops[:1] for label, ops in DEFAULT_KEEP.items()},
              "edge.3<-1": ["nor_conv_1x1", "avg_pool_3x3"], "edge.3<-2": ["nor_conv_1x1", "avg_pool_3x3"]}

BENCHMARK = Benchmark(
    name="exhaustive_subspace",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    resumable=True,
    configs={
        "nb201-subspace81": ["--seeds", "0,1,2,3,4,5", "--plot"],
        # Issue 24: 5 % of the trials, against a reference that tunes each kernel 32 trials, and the 8-trial one.
        "nb201-subspace81-r32-f5": ["--trials-per-task", "32", "--fraction", "0.05", "--seeds", "0,1,2", "--plot"],
        "nb201-subspace81-r8-f5": ["--trials-per-task", "8", "--fraction", "0.05", "--seeds", "0,1,2", "--plot"],
        "smoke": ["--keep", json.dumps(SMOKE_KEEP), "--trials-per-task", "1", "--seeds", "0", "--fraction", "0.5"],
    },
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
