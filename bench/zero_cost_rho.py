"""Zero-cost proxies against NAS-Bench-201: Spearman ρ with the benchmark's CIFAR-10 valid accuracy.

``--num-cells`` distinct cells are drawn (seeded) from the 15,625 of ``nas-bench-201``; each proxy
(:class:`tvm_nacos.accuracy.ZeroCostProxy`) scores them on the benchmark's network (C=16, N=5,
32×32×3, random init of ``--seed``) with a mini-batch of scikit-learn's digits resized to 32×32×3
— not CIFAR-10, so the figures are not the literature's protocol. Reported per proxy: Spearman ρ
and Kendall τ against :class:`tvm_nacos.accuracy.TableAccuracy` (``valid_accuracy``), the same
on the cells whose table accuracy is above chance (> 15%), and the wall and CPU seconds the
scoring took. The trainable-parameter count of each cell is the usual baseline.

Usage::

    python bench/zero_cost_rho.py --num-cells 1000 --seed 0 --json bench/results/zero_cost_rho.json
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import sys
import time

import numpy as np


def _correlations(scores: list[float], truth: np.ndarray) -> dict[str, float]:
    from scipy.stats import kendalltau, spearmanr  # pylint: disable=import-outside-toplevel

    values = np.asarray(scores, dtype=float)
    above_chance = truth > 15.0
    return {
        "spearman_rho": float(spearmanr(values, truth).statistic),
        "kendall_tau": float(kendalltau(values, truth).statistic),
        "spearman_rho_above_chance": float(spearmanr(values[above_chance], truth[above_chance]).statistic),
        "num_above_chance": int(above_chance.sum()),
    }


def _finite(value: float) -> float | None:
    """JSON has no infinities: a NASWOT score of -inf (singular kernel) is written as null."""
    return value if math.isfinite(value) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-cells", type=int, default=1000, help="distinct random cells (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the cells, the weights and the mini-batch")
    parser.add_argument("--batch-size", type=int, default=64, help="mini-batch of naswot and grad_norm")
    parser.add_argument("--proxies", nargs="+", default=["synflow", "naswot", "grad_norm"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: the machine is shared)")
    parser.add_argument("--chunk", type=int, default=100, help="cells per progress line")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")

    import torch  # pylint: disable=import-outside-toplevel

    from tvm_nacos.accuracy import TableAccuracy, ZeroCostProxy  # pylint: disable=import-outside-toplevel
    from tvm_nacos.search_space import get  # pylint: disable=import-outside-toplevel

    torch.set_num_threads(args.threads)
    nb201 = get("nas-bench-201")
    rng = np.random.default_rng(args.seed)
    indices = sorted(int(i) for i in rng.choice(15_625, size=args.num_cells, replace=False))
    samples = [nb201.sample_from_index(i) for i in indices]
    truth = np.asarray(TableAccuracy().evaluate(samples))
    print(f"{len(samples)} cells (seed {args.seed}); table valid accuracy {truth.min():.2f}..{truth.max():.2f}", flush=True)

    results: dict[str, dict] = {}
    per_cell: dict[str, list[float]] = {}
    for name in ["params", *args.proxies]:
        proxy = ZeroCostProxy.create("synflow" if name == "params" else name, seed=args.seed, batch_size=args.batch_size)
        wall, cpu = time.perf_counter(), time.process_time()
        scores: list[float] = []
        for start in range(0, len(samples), args.chunk):
            chunk = samples[start : start + args.chunk]
            if name == "params":  # the baseline: trainable parameters of the same network
                scores += [float(sum(p.numel() for p in proxy.network(s).parameters())) for s in chunk]
            else:
                scores += proxy.evaluate(chunk)
            print(f"  {name}: {len(scores)}/{len(samples)} cells, {time.perf_counter() - wall:.0f} s", flush=True)
        wall_secs, cpu_secs = time.perf_counter() - wall, time.process_time() - cpu
        results[name] = {
            **_correlations(scores, truth),
            "wall_secs": wall_secs,
            "cpu_secs": cpu_secs,
            "secs_per_cell": wall_secs / len(samples),
            "num_neg_inf": int(sum(1 for v in scores if v == -math.inf)),
            "num_zero": int(sum(1 for v in scores if v == 0.0)),
        }
        per_cell[name] = scores
        r = results[name]
        print(
            f"{name:10s} rho={r['spearman_rho']:.3f} tau={r['kendall_tau']:.3f} "
            f"rho(>15%)={r['spearman_rho_above_chance']:.3f}  wall {wall_secs:.0f} s, CPU {cpu_secs:.0f} s",
            flush=True,
        )

    report = {
        "benchmark": "zero_cost_rho",
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(["python", *sys.argv]),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "torch_threads": args.threads},
        "torch": torch.__version__,
        "space": "nas-bench-201 (C=16, N=5, 32x32x3, random init)",
        "data": "sklearn load_digits, 8x8 resized to 32x32, 3 channels; mini-batch of the training split",
        "ground_truth": "NAS-Bench-201 CIFAR-10 valid_accuracy (200 epochs, mean of 3 seeds)",
        "num_cells": len(samples),
        "seed": args.seed,
        "batch_size": args.batch_size,
        "results": results,
        "cells": [
            {"index": i, "valid_accuracy": float(t), **{name: _finite(per_cell[name][k]) for name in per_cell}}
            for k, (i, t) in enumerate(zip(indices, truth))
        ],
    }
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1, allow_nan=False)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
