"""Re-time the PyTorch eager proxy of a ``proxy_ranking.py`` run and rank it again.

``bench/proxy_ranking.py`` times each architecture's eager latency once, in a window of under a
minute; on a shared machine a burst of load moves one architecture's value and not the next.
This script takes the architectures and their tuned TVM latencies from that run's JSON and
times eager again in ``--rounds`` interleaved rounds (every architecture once per round, the
rounds one after the other), so that a burst hits one round of many architectures instead of
all rounds of one. Per architecture: the minimum and the median over rounds of each round's
median; Spearman ρ of both against the stored tuned latencies.

Usage::

    python bench/run.py eager_retiming --config nas-bench-201
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np
from harness import Benchmark, RunContext, load_result, main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The proxy_ranking result to re-time, and the eager timer's settings."""
    parser.add_argument("--ranking", required=True, help="a result file of bench/proxy_ranking.py")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch intra-op threads")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls per architecture and round")
    parser.add_argument("--repeat", type=int, default=10, help="timed calls per architecture and round (median)")


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """Eager latency of the ranking's architectures in interleaved rounds; ρ against the stored tuned latency."""
    from scipy.stats import spearmanr

    from tvm_nacos import search_space as spaces
    from tvm_nacos.cosearch.latency_proxies import eager_latency_ms
    from tvm_nacos.search_space import ArchSample

    ranking = load_result(args.ranking)["result"]
    builtin = spaces.get(ranking["space"], **ranking.get("space_options", {}))
    samples = [ArchSample.from_dict(a["sample"]) for a in ranking["archs"]]
    tuned = np.asarray([a["tuned_ms"] for a in ranking["archs"]])
    start = time.perf_counter()
    rounds = []
    for r in range(args.rounds):
        rounds.append(eager_latency_ms(builtin, samples, num_threads=args.threads, warmup=args.warmup,
                                       repeat=args.repeat))
        ctx.progress("round %d/%d: median over archs %.3f ms; load average %.2f", r + 1, args.rounds,
                     np.median(rounds[-1]), os.getloadavg()[0])
    per_round = np.asarray(rounds)  # rounds × archs
    eager_min, eager_median = per_round.min(axis=0), np.median(per_round, axis=0)
    rho = {
        "eager_min": float(spearmanr(eager_min, tuned).statistic),
        "eager_median": float(spearmanr(eager_median, tuned).statistic),
        "eager_first_run": float(spearmanr([a["eager_ms"] for a in ranking["archs"]], tuned).statistic),
        "rounds_with_each_other": float(np.median([spearmanr(per_round[i], per_round[j]).statistic
                                                   for i in range(len(per_round))
                                                   for j in range(i + 1, len(per_round))]))
        if len(per_round) > 1 else None,
    }
    report = {
        "load_average_after": os.getloadavg(),
        "ranking": args.ranking,
        "threads": args.threads, "rounds": args.rounds, "warmup": args.warmup, "repeat": args.repeat,
        "wall_secs": round(time.perf_counter() - start, 1),
        "spearman_vs_tuned": {k: (None if v is None else round(v, 4)) for k, v in rho.items()},
        "median_speedup_tuned_vs_eager_median": round(float(np.median(eager_median / tuned)), 3),
        "archs": [{"arch_id": s.id, "tuned_ms": float(t), "eager_min_ms": float(lo), "eager_median_ms": float(md),
                   "eager_rounds_ms": [float(v) for v in per_round[:, i]]}
                  for i, (s, t, lo, md) in enumerate(zip(samples, tuned, eager_min, eager_median, strict=True))],
    }
    print(f"\n{ranking['space']}: {len(samples)} architectures, eager on {args.threads} thread(s), "
          f"{args.rounds} rounds × {args.repeat} calls")
    print("| eager value | Spearman ρ vs tuned TVM |")
    print("|---|---:|")
    for key, value in rho.items():
        print(f"| {key} | {'—' if value is None else f'{value:.3f}'} |")
    print(f"median speedup of tuned TVM over eager (median): {report['median_speedup_tuned_vs_eager_median']}×")
    return report


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """ρ of each eager value against tuned latency, and the median speedup of tuned TVM over eager."""
    return {**{f"spearman.{key}": rho for key, rho in result["spearman_vs_tuned"].items()},
            "median_speedup_tuned_vs_eager_median": result["median_speedup_tuned_vs_eager_median"],
            "wall_secs": result["wall_secs"]}


BENCHMARK = Benchmark(
    name="eager_retiming",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={"nas-bench-201": ["--ranking", "bench/results/proxy_ranking/5ecc6a7-nas-bench-201.json",
                               "--threads", "1", "--rounds", "5"]},
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
