"""Kernel by kernel: what two searches measured, and how fast each got every kernel.

When one search's front is slower than another's, this shows where: for every kernel (MetaSchedule
workload, matched by structural hash) of the two work directories, the trials each spent on it
and the best run time each reached, the largest kernels first. A ratio above 1 means the first
search's best is slower.

Usage::

    python bench/compare_tuning.py /tmp/nbc4/nacos_joint_s2_* /tmp/nbc5/nacos_two-stage_s2_* --top 30
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

import numpy as np
from _common import database_run_secs

logger = logging.getLogger("compare_tuning")



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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", type=Path, help="work directory of the first search")
    parser.add_argument("second", type=Path, help="work directory of the second search")
    parser.add_argument("--top", type=int, default=30, help="kernels listed, largest first (default 30)")
    parser.add_argument("--both", action="store_true", help="list only kernels both searches measured")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    first, second = kernel_records(args.first), kernel_records(args.second)
    rows = compare(first, second)
    shared = [r for r in rows if r["ratio"] is not None]
    if args.both:
        rows = shared
    logger.info("first:  %s: %d kernels, %d trials", args.first, len(first), sum(map(len, first.values())))
    logger.info("second: %s: %d kernels, %d trials", args.second, len(second), sum(map(len, second.values())))
    if shared:
        ratios = np.array([r["ratio"] for r in shared])
        logger.info("measured by both: %d kernels; best-time ratio first/second: median %.2f, geomean %.2f, "
                    "%d slower by > 1.5x, %d faster by > 1.5x", len(shared), float(np.median(ratios)),
                    float(np.exp(np.mean(np.log(ratios)))), int((ratios > 1.5).sum()), int((ratios < 1 / 1.5).sum()))
    logger.info("| workload | trials 1st | best µs 1st | trials 2nd | best µs 2nd | ratio |")
    logger.info("|---|---:|---:|---:|---:|---:|")
    fmt = lambda x, spec: format(x, spec) if x is not None else "—"  # noqa: E731
    for r in rows[: args.top]:
        logger.info("| %s | %d | %s | %d | %s | %s |", r["workload"][:12], r["trials_first"], fmt(r["best_us_first"], ".1f"),
                    r["trials_second"], fmt(r["best_us_second"], ".1f"), fmt(r["ratio"], ".2f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
