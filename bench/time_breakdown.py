"""Where a search's wall time goes: the default run, by phase, for one or more versions of the code.

Runs ``tvm-nacos search`` (the Quick start's main job: nas-bench-201, table accuracy, 200
trials, joint, the host CPU, by default) in a fresh work directory per run, each in its own
process, and reads back what the search reports: its wall time by phase (``schedule search``,
``build``, ``run``, ``cost model``, ``end-to-end timing``, ``other``), its front, and how far the
front's end-to-end timings are from the estimates the search ranked them by.

Several versions of the code are measured side by side: ``--code LABEL=DIR`` (repeatable) runs
the search with ``PYTHONPATH=DIR`` (a checkout of another commit; ``tvm_nacos.passes`` and
``tvm_nacos.search_space`` still come from the installed checkout), the versions alternating run
by run so that both see the same machine. Without ``--code``, the code of this checkout runs.
``--extra LABEL=ARGS`` adds ``tvm-nacos search`` arguments to a version (a label ``--code`` does
not name is a version of its own on this checkout): settings compared side by side.

Usage::

    python bench/run.py time_breakdown --config nb201-default
    git worktree add /tmp/before <commit>
    python bench/run.py time_breakdown --config nb201-default --code before=/tmp/before --code after=.
    python bench/run.py time_breakdown --config nb201-default --extra default= \
        --extra small='--schedule-option population_size=16 --schedule-option genetic_num_iters=1'
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np
from _common import code_environment, code_versions, imported_code
from harness import Benchmark, RunContext, main

#: The phases a search reports (``SearchResult.time_breakdown``), in the order tables show them.
PHASES = ("schedule search", "build", "run", "cost model", "end-to-end timing", "other")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The search to run, and the versions of the code to run it with."""
    parser.add_argument("--space", default="nas-bench-201")
    parser.add_argument("--space-option", action="append", default=[], metavar="NAME=VALUE",
                        help="passed to tvm-nacos search (repeatable)")
    parser.add_argument("--accuracy", default=None, help="tvm-nacos search --accuracy (default: the space's own)")
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--code", action="append", default=[], metavar="LABEL=DIR",
                        help="a version of the code to run (repeatable; default: this checkout)")
    parser.add_argument("--extra", action="append", default=[], metavar="LABEL=ARGS",
                        help="more tvm-nacos search arguments for version LABEL (a version of its own, on this "
                             "checkout, unless --code names LABEL), e.g. small='--schedule-option population_size=16'")
    parser.add_argument("--repeats", type=int, default=1, help="runs per seed and version")


def _versions(args: argparse.Namespace) -> dict[str, str | None]:
    """Label → the checkout it runs (``None``: this one), from ``--code`` and ``--extra``."""
    versions: dict[str, str | None] = dict(code_versions(args.code))
    for label in _extra_args(args):
        versions.setdefault(label, None)
    return versions or {"current": None}


def _extra_args(args: argparse.Namespace) -> dict[str, list[str]]:
    """Label → its more ``tvm-nacos search`` arguments (``--extra``)."""
    extra: dict[str, list[str]] = {}
    for item in args.extra:
        label, sep, text = item.partition("=")
        if not sep or not label:
            raise SystemExit(f"--extra takes LABEL=ARGS, got {item!r}")
        extra[label] = shlex.split(text)
    return extra


def _search(args: argparse.Namespace, folder: str | None, seed: int, work_dir: str,
            extra: list[str]) -> tuple[dict[str, Any], float]:
    """Run ``tvm-nacos search`` (with ``extra`` arguments) with the code in ``folder``; its
    pareto.json and wall seconds."""
    command = [sys.executable, "-m", "tvm_nacos.cli", "search", "--space", args.space, "--budget", str(args.budget),
               "--seed", str(seed), "--work-dir", work_dir, *extra]
    for option in args.space_option:
        command += ["--space-option", option]
    if args.accuracy:
        command += ["--accuracy", args.accuracy]
    start = time.perf_counter()
    # In the work directory: ``python -m`` puts the current folder first on sys.path.
    done = subprocess.run(command, env=code_environment(folder), cwd=work_dir, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"tvm-nacos search failed ({done.returncode}):\n{done.stderr[-3000:]}")
    with open(os.path.join(work_dir, "pareto.json")) as f:
        return json.load(f), wall


def _estimate_errors(pareto: list[dict[str, Any]], key: str) -> dict[str, float] | None:
    """Median and max |end-to-end / estimate − 1| over the front, the estimate read from ``key``."""
    errors = [abs(p["latency_ms"] / p[key] - 1) for p in pareto if p.get(key)]
    if not errors:
        return None
    return {"median_abs_error": float(np.median(errors)), "max_abs_error": float(np.max(errors)), "num": len(errors)}


def _run_record(pareto_json: dict[str, Any], wall: float) -> dict[str, Any]:
    breakdown = pareto_json.get("time_breakdown", {})
    total = breakdown.get("total") or pareto_json["search_secs"]
    record = {
        "wall_secs": wall,
        "search_secs": pareto_json["search_secs"],
        "breakdown": breakdown,
        "shares": {phase: breakdown.get(phase, 0.0) / total for phase in PHASES},
        "front": [{k: p.get(k) for k in ("arch_id", "accuracy", "latency_ms", "estimated_latency_ms",
                                         "kernel_sum_latency_ms", "latency_spread_ms")} for p in pareto_json["pareto"]],
        "kernel_sum_error": _estimate_errors(pareto_json["pareto"], "kernel_sum_latency_ms")
        or _estimate_errors(pareto_json["pareto"], "estimated_latency_ms"),
        "estimate_error": _estimate_errors(pareto_json["pareto"], "estimated_latency_ms"),
        "end_to_end_model": pareto_json.get("end_to_end_model"),
        "cost_model": pareto_json.get("cost_model"),
    }
    record["shares"]["build + run"] = record["shares"]["build"] + record["shares"]["run"]
    # Wall time with a build or run in progress (overlaps the host's phases; absent before 2026-12).
    record["shares"]["measuring"] = breakdown.get("measuring", 0.0) / total if "measuring" in breakdown else None
    return record


def _hypervolumes(runs: list[dict[str, Any]]) -> None:
    """Each run's front hypervolume, all against one reference: the lowest front accuracy and
    1.1 × the highest front latency over all runs."""
    from tvm_nacos.cosearch.objectives import hypervolume

    points = [p for run in runs for p in run["front"]]
    if not points:
        return
    reference = (min(p["accuracy"] for p in points), 1.1 * max(p["latency_ms"] for p in points))
    for run in runs:
        front = run["front"]
        run["hv"] = hypervolume([p["accuracy"] for p in front], [p["latency_ms"] for p in front], reference=reference)
        run["hv_reference"] = list(reference)


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """Every version's runs, alternating, with their time by phase and estimate errors."""
    versions, extra = _versions(args), _extra_args(args)
    runs: list[dict[str, Any]] = []
    imported = {label: imported_code(folder) for label, folder in versions.items()}
    # Versions on one checkout must differ by their arguments; versions of different code by the code.
    if len({(imported[label], tuple(extra.get(label, []))) for label in versions}) < len(versions):
        raise SystemExit(f"two versions run the same code with the same arguments: {imported}, {extra}")
    for label, path in imported.items():
        ctx.progress("%s imports %s", label, path)
    report: dict[str, Any] = {"space": args.space, "budget": args.budget, "versions": versions,
                              "imported_from": imported, "extra_args": extra, "runs": runs}
    for repeat in range(args.repeats):
        for seed in args.seeds:
            for label, folder in versions.items():
                with tempfile.TemporaryDirectory(prefix="time_breakdown_") as work_dir:
                    ctx.progress("%s, seed %d, run %d: tvm-nacos search %s, %d trials", label, seed, repeat + 1,
                                 args.space, args.budget)
                    pareto_json, wall = _search(args, folder, seed, work_dir, extra.get(label, []))
                record = {"version": label, "seed": seed, "repeat": repeat, **_run_record(pareto_json, wall)}
                runs.append(record)
                ctx.progress("%s: %.0f s, build + run %.0f %% of it", label, record["search_secs"],
                             100 * record["shares"]["build + run"])
                ctx.save(report)
    _hypervolumes(runs)
    report["summary"] = summarize_runs(runs, versions)
    _print_table(report["summary"])
    return report


def summarize_runs(runs: list[dict[str, Any]], versions: dict[str, Any]) -> dict[str, Any]:
    """Per version, means over its runs: seconds and share by phase, hypervolume, estimate errors."""
    summary: dict[str, Any] = {}
    for label in versions:
        mine = [r for r in runs if r["version"] == label]
        if not mine:
            continue
        row: dict[str, Any] = {"runs": len(mine), "search_secs": float(np.mean([r["search_secs"] for r in mine]))}
        for phase in (*PHASES, "build + run"):
            row[f"share.{phase}"] = float(np.mean([r["shares"][phase] for r in mine]))
        measuring = [r["shares"].get("measuring") for r in mine]
        if all(m is not None for m in measuring):
            row["share.measuring"] = float(np.mean(measuring))
        for phase in PHASES:
            row[f"secs.{phase}"] = float(np.mean([r["breakdown"].get(phase, 0.0) for r in mine]))
        if all("hv" in r for r in mine):
            row["hv"] = float(np.mean([r["hv"] for r in mine]))
        for key in ("kernel_sum_error", "estimate_error"):
            values = [r[key] for r in mine if r[key]]
            if values:
                row[f"{key}.median"] = float(np.mean([v["median_abs_error"] for v in values]))
                row[f"{key}.max"] = float(np.max([v["max_abs_error"] for v in values]))
        summary[label] = row
    return summary


def _print_table(summary: dict[str, Any]) -> None:
    print("\n| version | wall s | " + " | ".join(PHASES) + " | build + run | build or run in progress | hv |")
    print("|---|---:|" + "---:|" * (len(PHASES) + 3))
    for label, row in summary.items():
        shares = " | ".join(f"{100 * row[f'share.{p}']:.0f} %" for p in PHASES)
        measuring = f"{100 * row['share.measuring']:.0f} %" if "share.measuring" in row else "—"
        print(f"| {label} | {row['search_secs']:.0f} | {shares} | {100 * row['share.build + run']:.0f} % | "
              f"{measuring} | {row.get('hv', float('nan')):.3f} |")


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Per version: wall seconds, build + run share, hypervolume, estimate errors."""
    flat: dict[str, Any] = {}
    for label, row in result.get("summary", {}).items():
        for key in ("search_secs", "share.build + run", "share.measuring", "share.schedule search", "share.cost model",
                    "share.end-to-end timing", "share.other", "hv", "kernel_sum_error.median",
                    "kernel_sum_error.max", "estimate_error.median", "estimate_error.max"):
            if key in row:
                flat[f"{label}.{key}"] = round(row[key], 4)
    return flat


BENCHMARK = Benchmark(
    name="time_breakdown",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={
        "nb201-default": ["--space", "nas-bench-201", "--budget", "200"],
        "mbv2-200": ["--space", "mobilenet-v2", "--space-option", "resolution=32", "--accuracy", "synflow",
                     "--budget", "200"],
        "smoke": ["--budget", "8"],
    },
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
