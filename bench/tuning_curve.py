"""How much latency tuning a kernel still removes after its first n trials.

The joint search decides what to measure next from each kernel's *removable* latency: its best
measured latency × (1 − e^(−σ(n))), where σ(n) is the log-space headroom left after n trials:
``tvm_nacos.cosearch.latency_estimate.headroom_log_std`` where trials are shared out between kernels,
the narrower ``tuned_log_std`` where it decides how far architectures' estimates may stretch.
This script measures that headroom on
real tuning logs: for every kernel of the given work directories with at least ``--horizon``
measured trials, in the order they were measured, it takes log(best of the first n trials /
best of the first ``horizon``) — what trials n+1 … horizon still removed — and reports its mean,
median and upper quantiles per n, next to the search's σ(n).

The tuning databases are MetaSchedule JSON databases (``WORK_DIR/tuning/<target>/``), one
record per line, in measurement order; failed trials count as trials.

Usage::

    python bench/run.py tuning_curve /tmp/nbc4 /tmp/mbn4 --horizon 64 --plot
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from _common import database_run_secs
from harness import Benchmark, RunContext, main

logger = logging.getLogger("bench.tuning_curve")

#: Trials after which the headroom is reported.
POINTS = (1, 2, 4, 8, 16, 32, 48, 64, 96, 128)
#: A kernel faster than this is a no-op (a reshape): its ratios are timer noise.
MIN_SECS = 2e-6


def headroom(sequences: dict[str, list[float]], horizon: int) -> dict[int, list[float]]:
    """log(best of first n / best of first ``horizon``) per n, over kernels with ≥ horizon trials."""
    out: dict[int, list[float]] = {n: [] for n in POINTS if n <= horizon}
    for secs in sequences.values():
        if len(secs) < horizon:
            continue
        final = min(secs[:horizon])
        if not math.isfinite(final) or final < MIN_SECS:
            continue
        for n in out:
            best = min(secs[:n])
            if math.isfinite(best):
                out[n].append(math.log(best / final))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The folders of tuning logs, the horizon and the searches' batch size."""
    parser.add_argument("roots", nargs="+", type=Path, help="folders searched for */tuning/*/ databases")
    parser.add_argument("--horizon", type=int, default=64, help="trials a kernel needs to count (default 64)")
    parser.add_argument("--batch-size", type=int, default=16, help="the searches' batch size (default 16)")
    parser.add_argument("--plot", action="store_true", help="draw headroom against trials beside the result file")


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """The headroom table over every database under ``roots``; prints it, next to the search's σ(n)."""
    from tvm_nacos.cosearch.latency_estimate import headroom_log_std, tuned_log_std

    databases = sorted({p.parent for root in args.roots for p in root.rglob("database_tuning_record.json")})
    if not databases:
        raise SystemExit(f"no MetaSchedule database (database_tuning_record.json) under {[str(r) for r in args.roots]}")
    sequences: dict[str, list[float]] = {}
    for database in databases:
        try:
            sequences.update(database_run_secs(database))
        except (OSError, ValueError, IndexError, TypeError) as err:
            logger.warning("skipped %s: not a MetaSchedule JSON database (%s)", database, err)
    table = headroom(sequences, args.horizon)
    rows = []
    for n, values in table.items():
        x = np.asarray(values)
        if not len(x):
            continue
        rows.append({
            "trials": n, "kernels": int(len(x)), "mean": float(x.mean()), "median": float(np.median(x)),
            "p75": float(np.quantile(x, 0.75)), "p90": float(np.quantile(x, 0.9)),
            "tuned_log_std": tuned_log_std(n, args.batch_size), "headroom_log_std": headroom_log_std(n),
        })
    ctx.progress("%d databases, %d kernels with >= %d trials", len(databases), rows[0]["kernels"] if rows else 0,
                 args.horizon)
    print("| trials n | mean | median | p75 | p90 | tuned_log_std | headroom_log_std |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['trials']} | {r['mean']:.3f} | {r['median']:.3f} | {r['p75']:.3f} | {r['p90']:.3f} | "
              f"{r['tuned_log_std']:.3f} | {r['headroom_log_std']:.3f} |")
    plot_path = ctx.artifact_path(".png")
    if args.plot and plot_path is not None:
        _plot(rows, args.horizon, plot_path)
        ctx.progress("wrote %s", plot_path)
    return {"horizon": args.horizon, "databases": len(databases), "rows": rows}


def _plot(rows: list[dict[str, Any]], horizon: int, path: Path) -> None:
    """Measured headroom (mean, median, median–p90) and the search's two σ(n) against trials."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["trials"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(n, [r["mean"] for r in rows], "o-", label="measured, mean")
    ax.plot(n, [r["median"] for r in rows], "s-", label="measured, median")
    ax.fill_between(n, [r["median"] for r in rows], [r["p90"] for r in rows], alpha=0.2, label="median–p90")
    ax.plot(n, [r["headroom_log_std"] for r in rows], "k--", label="headroom_log_std (sharing out trials)")
    ax.plot(n, [r["tuned_log_std"] for r in rows], "k:", label="tuned_log_std (estimates' stretch)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("trials measured n")
    ax.set_ylabel(f"log(best of n / best of {horizon})")
    ax.set_title(f"headroom left after n trials ({rows[0]['kernels'] if rows else 0} kernels)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Kernels counted, and the median and p90 headroom after each n."""
    out: dict[str, Any] = {"kernels": result["rows"][0]["kernels"] if result["rows"] else 0}
    for r in result["rows"]:
        out[f"n={r['trials']}.median"] = r["median"]
        out[f"n={r['trials']}.p90"] = r["p90"]
    return out


BENCHMARK = Benchmark(name="tuning_curve", doc=__doc__, add_arguments=add_arguments, run=run, summarize=summarize)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
