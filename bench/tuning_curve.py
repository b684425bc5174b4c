"""How much latency tuning a kernel still removes after its first n trials.

The joint search decides what to measure next from each kernel's *removable* latency: its best
measured latency × (1 − e^(−σ(n))), where σ(n) is the log-space headroom left after n trials:
``tvm_nacos.cosearch.session.headroom_log_std`` where trials are shared out between kernels,
the narrower ``tuned_log_std`` where it decides how far architectures' estimates may stretch.
This script measures that headroom on
real tuning logs: for every kernel of the given work directories with at least ``--horizon``
measured trials, in the order they were measured, it takes log(best of the first n trials /
best of the first ``horizon``) — what trials n+1 … horizon still removed — and reports its mean,
median and upper quantiles per n, next to the search's σ(n).

The tuning databases are MetaSchedule JSON databases (``WORK_DIR/tuning/<target>/``), one
record per line, in measurement order; failed trials count as trials.

Usage::

    python bench/tuning_curve.py /tmp/nbc4 /tmp/mbn4 --horizon 64 \\
        --json bench/results/tuning_curve.json --plot bench/results/tuning_curve.png
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
from _common import database_run_secs

logger = logging.getLogger("tuning_curve")

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="+", type=Path, help="folders searched for */tuning/*/ databases")
    parser.add_argument("--horizon", type=int, default=64, help="trials a kernel needs to count (default 64)")
    parser.add_argument("--batch-size", type=int, default=16, help="the searches' batch size (default 16)")
    parser.add_argument("--json", type=Path, help="write the table here")
    parser.add_argument("--plot", type=Path, help="draw headroom against trials here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from tvm_nacos.cosearch.session import headroom_log_std, tuned_log_std  # pylint: disable=import-outside-toplevel

    databases = sorted({p.parent for root in args.roots for p in root.rglob("database_tuning_record.json")})
    if not databases:
        parser.error(f"no MetaSchedule database (database_tuning_record.json) under {[str(r) for r in args.roots]}")
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
    logger.info("%d databases, %d kernels with >= %d trials", len(databases), rows[0]["kernels"] if rows else 0,
                args.horizon)
    logger.info("| trials n | mean | median | p75 | p90 | tuned_log_std | headroom_log_std |")
    logger.info("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        logger.info("| %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |", r["trials"], r["mean"], r["median"], r["p75"],
                    r["p90"], r["tuned_log_std"], r["headroom_log_std"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "benchmark": "tuning_curve", "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv),
            "machine": platform.node(), "horizon": args.horizon, "databases": len(databases), "rows": rows,
        }, indent=1) + "\n")
    if args.plot:
        import matplotlib  # pylint: disable=import-outside-toplevel

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

        n = [r["trials"] for r in rows]
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(n, [r["mean"] for r in rows], "o-", label="measured, mean")
        ax.plot(n, [r["median"] for r in rows], "s-", label="measured, median")
        ax.fill_between(n, [r["median"] for r in rows], [r["p90"] for r in rows], alpha=0.2, label="median–p90")
        ax.plot(n, [r["headroom_log_std"] for r in rows], "k--", label="headroom_log_std (sharing out trials)")
        ax.plot(n, [r["tuned_log_std"] for r in rows], "k:", label="tuned_log_std (estimates' stretch)")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("trials measured n")
        ax.set_ylabel(f"log(best of n / best of {args.horizon})")
        ax.set_title(f"headroom left after n trials ({rows[0]['kernels'] if rows else 0} kernels)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot, dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
