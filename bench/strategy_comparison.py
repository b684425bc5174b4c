"""Joint search vs two-stage vs random at an equal measurement budget, over several seeds.

The budget is trials (``--budget``), or wall time (``--time-budget SECS`` with a ``--budget``
larger than the time affords): every strategy measures for the same seconds, then times its
front end to end (reported apart, ``front_secs``). Users pay in minutes: a strategy that
spends less time per trial gets more trials.

Each run is one ``tvm_nacos.search`` call on a built-in space, target the host CPU, with its own
fresh work directory: no tuning database is shared between strategies or seeds. Runs go one
after the other in this process; the space's IR module is imported once and reused. Accuracy:
``nas-bench-201`` uses ``TableAccuracy`` (CIFAR-10 ``valid_accuracy`` of the NAS-Bench-201
table); a space without a table uses a zero-cost proxy (``--accuracy``, default ``synflow``) on a
log10 scale, or ``--accuracy supernet``, the space's weight-sharing supernet (trained once, with
the recipe ``tvm-nacos search`` uses), one estimator object (and cache) for every run.

Per run: trials used, wall time, the front (every point tuned and measured end to end), and
the tuned end-to-end latency of the fastest front architecture whose accuracy reaches the
thresholds that about 5 % and 20 % of the space reach (the 95th and 80th percentiles of
``valid_accuracy`` over the 15,625 cells; without a table, of the estimator over
``--threshold-samples`` random architectures), and the shared cost model's 5-fold held-out
Spearman and median relative error. After all runs, one reference point for every
hypervolume: accuracy = the 80th-percentile threshold, latency = 1.1 × the largest end-to-end
latency on any run's front (``hv``), plus a wide variant with the space's lowest accuracy
(``hv_wide``, dominated by fast, poor cells). The summary is mean ± std over seeds.

The result file is written after every run, so a partial result survives; ``--resume`` keeps
the runs already in a result file (of the same budget) and does the others.

Usage::

    python bench/run.py strategy_comparison --config smoke
    python bench/run.py strategy_comparison --config nb201-b500 --work-root /tmp/nbc
    python bench/run.py strategy_comparison --config mbv2-b500 --resume   # continue this commit's run
    python bench/run.py strategy_comparison --config vit-b500 --work-root /tmp/vitc
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np
from _common import log10_estimator, parse_option, unique_samples
from harness import Benchmark, RunContext, main


class _CachedSpace:
    """A built-in space whose IR module is imported once for all runs (10–15 s each otherwise)."""

    def __init__(self, builtin: Any) -> None:
        self.builtin = builtin
        self._mod = None

    def ir_module(self, *, seed: int = 0) -> Any:
        if self._mod is None:
            self._mod = self.builtin.ir_module(seed=seed)
        return self._mod

    def __getattr__(self, name: str) -> Any:
        return getattr(self.builtin, name)


def make_accuracy(space: Any, name: str) -> Any:
    """The estimator every run shares: the NAS-Bench-201 table, the space's supernet, or a zero-cost proxy."""
    from tvm_nacos.accuracy import SupernetAccuracy, TableAccuracy, ZeroCostProxy
    from tvm_nacos.interface.search import SUPERNET_RECIPES

    if name == "table":
        if space.name != "nas-bench-201":
            raise SystemExit(f"--accuracy table needs --space nas-bench-201 (the only space with a table), "
                             f"not {space.name!r}; valid for it: synflow, naswot, grad_norm")
        return TableAccuracy()
    if name == "supernet":
        return SupernetAccuracy(space.name, **SUPERNET_RECIPES.get(space.name, {})).fit()
    proxy = ZeroCostProxy.create(name, space=space.builtin)
    return log10_estimator(proxy) if name == "synflow" else proxy


def _thresholds(space: Any, accuracy: Any, num_samples: int) -> dict[str, float]:
    """Accuracy levels that about 5 % and 20 % of the space reach, and the space's lowest."""
    if accuracy.name == "nas-bench-201/valid_accuracy":
        from tvm_nacos.data.nas_bench_201 import load_table

        column = np.asarray(load_table().metric("valid_accuracy"), dtype=float)
    else:
        column = np.asarray(accuracy.evaluate(unique_samples(space.space, num_samples, seed=12345)), dtype=float)
    return {
        "top5pct": float(np.percentile(column, 95)),
        "top20pct": float(np.percentile(column, 80)),
        "space_min": float(column.min()),
        "space_max": float(column.max()),
    }


def _arch_str(space: Any, sample: Any) -> str:
    """The space's own notation (NAS-Bench-201's ``|op~i|+...``), else the options in label order."""
    arch_str = getattr(space.builtin, "arch_str", None)
    return arch_str(sample) if arch_str is not None else " ".join(sample.values())


def _fastest_above(front: list[dict], threshold: float) -> float | None:
    eligible = [p["latency_ms"] for p in front if p["accuracy"] >= threshold]
    return min(eligible) if eligible else None


def _mean_std(values: list[float | None]) -> dict[str, Any]:
    reached = [v for v in values if v is not None]
    if not reached:
        return {"mean": None, "std": None, "runs": 0}
    return {"mean": float(np.mean(reached)), "std": float(np.std(reached)), "runs": len(reached)}


def run_one(space: Any, accuracy: Any, strategy: str, seed: int, args: argparse.Namespace, thresholds: dict,
            ctx: RunContext) -> dict:
    """One search in a fresh work directory; the JSON-able record of the run."""
    import tvm_nacos

    options: dict[str, Any] = {}
    if strategy in ("two-stage", "random"):
        options["trials_per_task"] = args.trials_per_task
    if strategy == "two-stage":
        options["proxy"] = args.proxy
        options["num_candidates"] = args.num_candidates
    if args.work_root:
        os.makedirs(args.work_root, exist_ok=True)
    work_dir = tempfile.mkdtemp(prefix=f"nacos_{strategy}_s{seed}_", dir=args.work_root)
    last_print = [0.0]
    wall_start = time.perf_counter()

    def progress(event: Any) -> None:
        if time.perf_counter() - last_print[0] >= 30:
            last_print[0] = time.perf_counter()
            ctx.progress("    %s s%d: %d/%d trials, %d tasks, %d/%d archs measured, %.0f s", strategy, seed,
                         event.trials_used, event.budget, event.num_tasks, event.num_measured_architectures,
                         event.num_architectures, time.perf_counter() - wall_start)

    result = tvm_nacos.search(
        space, accuracy=accuracy, budget=args.budget, strategy=strategy, work_dir=work_dir, seed=seed,
        strategy_options=options, progress=progress, time_budget_s=args.time_budget,
        **({"schedule_options": dict(parse_option(o) for o in args.schedule_option)} if args.schedule_option else {}),
    )
    wall_secs = time.perf_counter() - wall_start
    front = [
        {"arch_id": p.sample.id, "arch_str": _arch_str(space, p.sample), "accuracy": p.accuracy,
         "latency_ms": p.latency_ms, "estimated_latency_ms": p.estimated_latency_ms, "macs": p.macs}
        for p in result.pareto
    ]
    return {
        "strategy": strategy,
        "seed": seed,
        "budget": args.budget,
        "time_budget_s": args.time_budget,
        "strategy_options": options,
        "work_dir": work_dir,
        "trials_used": result.trials_used,
        "failed_trials": result.failed_trials,
        "search_secs": round(result.search_secs, 1),
        "wall_secs": round(wall_secs, 1),
        "front_secs": round(result.time_breakdown.get("end-to-end timing", 0.0), 1),
        "num_evaluated": len(result.evaluated),
        "front": front,
        "evaluated": [
            {"arch_id": p.sample.id, "accuracy": p.accuracy, "estimated_latency_ms": p.estimated_latency_ms}
            for p in result.evaluated
        ],
        "latency_ms_at_top5pct": _fastest_above(front, thresholds["top5pct"]),
        "latency_ms_at_top20pct": _fastest_above(front, thresholds["top20pct"]),
        # The shared cost model on measurements it was not trained on (5-fold; None if too few).
        "cost_model": result.cost_model,
    }


def summarize_runs(runs: list[dict], thresholds: dict) -> tuple[dict, dict]:
    """Hypervolumes (one reference for all runs) and mean ± std per strategy."""
    from tvm_nacos.cosearch.objectives import hypervolume

    latencies = [p["latency_ms"] for r in runs for p in r["front"]]
    max_latency = 1.1 * max(latencies) if latencies else None  # no front at all: nothing to measure
    reference = {"accuracy": thresholds["top20pct"], "latency_ms": max_latency}
    wide = {"accuracy": thresholds["space_min"], "latency_ms": max_latency}
    for r in runs:
        acc = [p["accuracy"] for p in r["front"]]
        lat = [p["latency_ms"] for p in r["front"]]
        r["hv"] = r["hv_wide"] = 0.0
        if max_latency is not None:
            r["hv"] = hypervolume(acc, lat, reference=(reference["accuracy"], max_latency))
            r["hv_wide"] = hypervolume(acc, lat, reference=(wide["accuracy"], max_latency))
    summary = {}
    for strategy in dict.fromkeys(r["strategy"] for r in runs):
        mine = [r for r in runs if r["strategy"] == strategy]
        summary[strategy] = {
            "seeds": [r["seed"] for r in mine],
            **{key: _mean_std([r.get(key) for r in mine])
               for key in ("hv", "hv_wide", "latency_ms_at_top5pct", "latency_ms_at_top20pct", "trials_used",
                           "wall_secs", "front_secs")},
        }
    return {"hv": reference, "hv_wide": wide}, summary


def plot(runs: list[dict], thresholds: dict, path: str, seed: int, space: str, accuracy: str) -> None:
    """Fronts of every strategy for one seed (accuracy up, latency left)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in runs:
        if r["seed"] != seed or not r["front"]:
            continue
        points = sorted((p["latency_ms"], p["accuracy"]) for p in r["front"])
        lat, acc = zip(*points, strict=True)
        ax.step(lat, acc, where="post", marker="o", label=f"{r['strategy']} ({len(points)} points)")
    for key, style in (("top5pct", ":"), ("top20pct", "--")):
        ax.axhline(thresholds[key], color="grey", linestyle=style, linewidth=0.8,
                   label=f"{thresholds[key]:.2f} (top {key[3:-3]} % of the space)")
    ax.set_xlabel("tuned end-to-end latency (ms), TVM llvm, 2 cores")
    is_table = accuracy == "nas-bench-201/valid_accuracy"
    ax.set_ylabel("NAS-Bench-201 CIFAR-10 valid accuracy (%)" if is_table else accuracy)
    budget = runs[0]["budget"] if runs else 0
    time_budget = runs[0].get("time_budget_s") if runs else None
    ax.set_title(f"{space}, {time_budget:.0f} s of measurement, seed {seed}" if time_budget
                 else f"{space}, budget {budget} trials, seed {seed}")
    if is_table:
        ax.set_ylim(bottom=max(80.0, min((p["accuracy"] for r in runs for p in r["front"]), default=80.0) - 1))
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _fmt(stat: dict, digits: int = 3) -> str:
    if stat["mean"] is None:
        return "—"
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Space, accuracy, budget, seeds, strategies and the baselines' options."""
    parser.add_argument("--space", default="nas-bench-201", choices=["nas-bench-201", "mobilenet-v2", "resnet", "vit"])
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of the space, e.g. resolution=32 for mobilenet-v2 (repeatable)")
    parser.add_argument("--accuracy", default=None, choices=["table", "synflow", "naswot", "grad_norm", "supernet"],
                        help="default: table for nas-bench-201, synflow (log10) otherwise")
    parser.add_argument("--threshold-samples", type=int, default=500,
                        help="random architectures that set the accuracy thresholds when there is no table")
    parser.add_argument("--budget", type=int, default=300, help="measurement trials per run")
    parser.add_argument("--time-budget", type=float, default=None, metavar="SECS",
                        help="measurement seconds per run (tvm_nacos.search's time_budget_s); with a --budget "
                             "larger than they afford, time alone decides")
    parser.add_argument("--schedule-option", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting of each kernel's schedule search (tvm_nacos.search's schedule_options)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated")
    parser.add_argument("--strategies", default="joint,two-stage,random", help="comma-separated")
    parser.add_argument("--proxy", default="macs", help="latency proxy of two-stage: macs, eager or untuned")
    parser.add_argument("--num-candidates", type=int, default=200, help="architectures two-stage ranks by the proxy")
    parser.add_argument("--trials-per-task", type=int, default=8,
                        help="trials per kernel when two-stage and random tune an architecture")
    parser.add_argument("--work-root", default=None, help="where the fresh work directories go (default: /tmp)")
    parser.add_argument("--plot", action="store_true", help="PNG of the first seed's fronts, beside the result file")


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """Every (seed, strategy) run not already in the resumed result; prints the summary tables."""
    import torch

    torch.set_num_threads(1)  # the module import; PyTorch does not run during the searches
    from tvm_nacos import search_space as spaces
    from tvm_nacos.target import host_target

    seeds = [int(s) for s in args.seeds.split(",")]
    strategies = args.strategies.split(",")
    options = dict(parse_option(o) for o in args.option)
    start = time.perf_counter()
    space = _CachedSpace(spaces.get(args.space, **options))
    space.ir_module()
    import_secs = time.perf_counter() - start
    accuracy = make_accuracy(space, args.accuracy or ("table" if args.space == "nas-bench-201" else "synflow"))
    thresholds = _thresholds(space, accuracy, args.threshold_samples)
    ctx.progress("imported %s in %.1f s; accuracy %s; thresholds: %s", args.space, import_secs, accuracy.name,
                 thresholds)

    runs: list[dict] = []
    if ctx.previous_result is not None:
        runs = [r for r in ctx.previous_result["runs"]
                if r["budget"] == args.budget and r.get("time_budget_s") == args.time_budget]
        ctx.progress("kept %d runs of budget %d (time budget %s s) from %s", len(runs), args.budget,
                     args.time_budget, args.resume_path)
    report: dict[str, Any] = {
        "target": str(host_target()),
        "space": args.space,
        "space_options": options,
        "accuracy": accuracy.name,
        "budget": args.budget,
        "time_budget_s": args.time_budget,
        "seeds": seeds,
        "strategies": strategies,
        "two_stage_proxy": args.proxy,
        "thresholds": thresholds,
        "import_secs": round(import_secs, 1),
    }
    for seed in seeds:
        for strategy in strategies:
            if any(r["strategy"] == strategy and r["seed"] == seed for r in runs):
                continue
            ctx.progress("%s, seed %d, budget %d trials%s", strategy, seed, args.budget,
                         f", {args.time_budget:.0f} s" if args.time_budget else "")
            run_record = run_one(space, accuracy, strategy, seed, args, thresholds, ctx)
            runs.append(run_record)
            ctx.progress("%s s%d: %d trials, %s s, %d on the front, %d archs measured; fastest >= top5%% %s ms, "
                         ">= top20%% %s ms", strategy, seed, run_record["trials_used"], run_record["wall_secs"],
                         len(run_record["front"]), run_record["num_evaluated"], run_record["latency_ms_at_top5pct"],
                         run_record["latency_ms_at_top20pct"])
            references, summary = summarize_runs(runs, thresholds)
            ctx.save({**report, "hv_reference": references, "summary": summary, "runs": runs})

    references, summary = summarize_runs(runs, thresholds)
    report.update({"hv_reference": references, "summary": summary, "runs": runs,
                   "total_wall_secs": round(ctx.elapsed(), 1)})
    print(f"\nhypervolume reference: accuracy {references['hv']['accuracy']:.2f}, "
          f"latency {references['hv']['latency_ms']} ms (wide: accuracy {references['hv_wide']['accuracy']:.2f})\n")
    print(f"| strategy | seeds | hypervolume | hypervolume (wide) | ms @ ≥{thresholds['top5pct']:.2f} (runs) | "
          f"ms @ ≥{thresholds['top20pct']:.2f} (runs) | trials | wall s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for strategy, s in summary.items():
        print(f"| {strategy} | {len(s['seeds'])} | {_fmt(s['hv'])} | {_fmt(s['hv_wide'], 1)} | "
              f"{_fmt(s['latency_ms_at_top5pct'])} ({s['latency_ms_at_top5pct']['runs']}) | "
              f"{_fmt(s['latency_ms_at_top20pct'])} ({s['latency_ms_at_top20pct']['runs']}) | "
              f"{_fmt(s['trials_used'], 0)} | {_fmt(s['wall_secs'], 0)} |")
    print("\n| strategy | seed | hypervolume | ms @ top 5% | ms @ top 20% | front | trials | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        print(f"| {r['strategy']} | {r['seed']} | {r['hv']:.3f} | {r['latency_ms_at_top5pct'] or '—'} | "
              f"{r['latency_ms_at_top20pct'] or '—'} | {len(r['front'])} | {r['trials_used']} | {r['wall_secs']} |")
    plot_path = ctx.artifact_path(".png")
    if args.plot and plot_path is not None:
        plot(runs, thresholds, str(plot_path), seeds[0], args.space, accuracy.name)
        ctx.progress("wrote %s", plot_path)
    return report


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Per strategy, the means over seeds: hypervolumes, fastest latency above both levels, trials, wall time."""
    out: dict[str, Any] = {"hv_reference.latency_ms": result["hv_reference"]["hv"]["latency_ms"]}
    for strategy, stats in result["summary"].items():
        out[f"{strategy}.seeds"] = len(stats["seeds"])
        for key in ("hv", "hv_wide", "latency_ms_at_top5pct", "latency_ms_at_top20pct", "wall_secs"):
            out[f"{strategy}.{key}"] = stats[key]["mean"]
        out[f"{strategy}.runs_reaching_top5pct"] = stats["latency_ms_at_top5pct"]["runs"]
    return out


BENCHMARK = Benchmark(
    name="strategy_comparison",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    resumable=True,
    configs={
        "nb201-b500": ["--budget", "500", "--seeds", "0,1,2", "--strategies", "joint,two-stage,random", "--plot"],
        "nb201-b1000": ["--budget", "1000", "--seeds", "0,1,2", "--strategies", "joint,two-stage,random", "--plot"],
        "mbv2-b500": ["--space", "mobilenet-v2", "--option", "resolution=32", "--budget", "500", "--seeds", "0,1,2",
                      "--strategies", "joint,two-stage,random", "--trials-per-task", "4", "--threshold-samples", "500",
                      "--plot"],
        # Equal wall time: 400 s of measurement each (two-stage completes >= 10 architectures).
        "nb201-t400": ["--budget", "100000", "--time-budget", "400", "--seeds", "0,1,2",
                       "--strategies", "joint,two-stage,random", "--plot"],
        "mbv2-t400": ["--space", "mobilenet-v2", "--option", "resolution=32", "--budget", "100000", "--time-budget",
                      "400", "--seeds", "0,1,2", "--strategies", "joint,two-stage,random", "--trials-per-task", "4",
                      "--threshold-samples", "500", "--plot"],
        # The whole vit space has 50 kernels: at 4 trials each, a baseline tunes every architecture
        # in ~120 trials and stops; 16 (the library's default) makes it spend the budget.
        "vit-b500": ["--space", "vit", "--accuracy", "supernet", "--budget", "500", "--seeds", "0,1,2",
                     "--strategies", "joint,two-stage,random", "--trials-per-task", "16", "--plot"],
        "vit-b250": ["--space", "vit", "--accuracy", "supernet", "--budget", "250", "--seeds", "0,1,2",
                     "--strategies", "joint,two-stage,random", "--trials-per-task", "8", "--plot"],
        "smoke": ["--budget", "8", "--seeds", "0", "--strategies", "random"],
        "smoke-time": ["--budget", "100000", "--time-budget", "20", "--seeds", "0", "--strategies", "random"],
    },
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
