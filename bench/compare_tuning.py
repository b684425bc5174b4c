"""Kernel by kernel: what two searches measured, and how fast each got every kernel.

When one search's front is slower than another's, this shows where: for every kernel (MetaSchedule
workload, matched by structural hash) of the two work directories, the trials each spent on it
and the best run time each reached, the largest kernels first. A ratio above 1 means the first
search's best is slower.

It reads two work directories and prints; pass ``--save`` to keep the rows as a result file.

Usage::

    python bench/run.py compare_tuning /tmp/nbc4/nacos_joint_s2_* /tmp/nbc5/nacos_two-stage_s2_* --top 30
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from _common import database_run_secs
from harness import Benchmark, RunContext, main


def kernel_records(work_dir: Path) -> dict[str, list[float]]:
    """Mean run seconds of every record of ``work_dir``'s tuning database, per workload hash."""
    databases = sorted(work_dir.glob("tuning/*/database_tuning_record.json"))
    if not databases:
        raise SystemExit(f"{work_dir}: no tuning database (tuning/<target>/database_tuning_record.json)")
    records: dict[str, list[float]] = {}
    for database in databases:
        for workload, secs in database_run_secs(database.parent).items():
            records.setdefault(workload.rsplit(":", 1)[1], []).extend(secs)
    return records


def compare(first: dict[str, list[float]], second: dict[str, list[float]]) -> list[dict]:
    """One row per kernel of either search: trials and best seconds of each, largest first."""
    rows = []
    for workload in set(first) | set(second):
        a, b = first.get(workload, []), second.get(workload, [])
        best_a = min(a) if a and math.isfinite(min(a)) else None
        best_b = min(b) if b and math.isfinite(min(b)) else None
        rows.append({
            "workload": workload, "trials_first": len(a), "best_us_first": best_a * 1e6 if best_a else None,
            "trials_second": len(b), "best_us_second": best_b * 1e6 if best_b else None,
            "ratio": best_a / best_b if best_a and best_b else None,
        })
    rows.sort(key=lambda r: -max(r["best_us_first"] or 0.0, r["best_us_second"] or 0.0))
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The two work directories, how many kernels to list, and whether only the shared ones."""
    parser.add_argument("first", type=Path, help="work directory of the first search")
    parser.add_argument("second", type=Path, help="work directory of the second search")
    parser.add_argument("--top", type=int, default=30, help="kernels listed, largest first (default 30)")
    parser.add_argument("--both", action="store_true", help="list only kernels both searches measured")


def shared_ratios(rows: list[dict]) -> dict[str, Any]:
    """Over the kernels both searches measured: how many, and the median and geometric mean of the ratios."""
    ratios = np.array([r["ratio"] for r in rows if r["ratio"] is not None])
    if not len(ratios):
        return {"kernels_both": 0}
    return {"kernels_both": int(len(ratios)), "ratio_median": float(np.median(ratios)),
            "ratio_geomean": float(np.exp(np.mean(np.log(ratios)))),
            "slower_by_1.5x": int((ratios > 1.5).sum()), "faster_by_1.5x": int((ratios < 1 / 1.5).sum())}


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """Print the kernel-by-kernel table of the two work directories."""
    first, second = kernel_records(args.first), kernel_records(args.second)
    rows = compare(first, second)
    shared = shared_ratios(rows)
    if args.both:
        rows = [r for r in rows if r["ratio"] is not None]
    print(f"first:  {args.first}: {len(first)} kernels, {sum(map(len, first.values()))} trials")
    print(f"second: {args.second}: {len(second)} kernels, {sum(map(len, second.values()))} trials")
    if shared["kernels_both"]:
        print(f"measured by both: {shared['kernels_both']} kernels; best-time ratio first/second: median "
              f"{shared['ratio_median']:.2f}, geomean {shared['ratio_geomean']:.2f}, {shared['slower_by_1.5x']} "
              f"slower by > 1.5x, {shared['faster_by_1.5x']} faster by > 1.5x")
    print("| workload | trials 1st | best µs 1st | trials 2nd | best µs 2nd | ratio |")
    print("|---|---:|---:|---:|---:|---:|")

    def fmt(x: float | None, spec: str) -> str:
        return format(x, spec) if x is not None else "—"

    for r in rows[: args.top]:
        print(f"| {r['workload'][:12]} | {r['trials_first']} | {fmt(r['best_us_first'], '.1f')} | "
              f"{r['trials_second']} | {fmt(r['best_us_second'], '.1f')} | {fmt(r['ratio'], '.2f')} |")
    return {"shared": shared, "rows": rows}


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """The ratios over the kernels both searches measured."""
    return dict(result["shared"])


BENCHMARK = Benchmark(name="compare_tuning", doc=__doc__, add_arguments=add_arguments, run=run,
                      summarize=summarize, save_by_default=False)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
