"""Zero-cost proxies against NAS-Bench-201: Spearman ρ with the benchmark's CIFAR-10 valid accuracy.

``--num-cells`` distinct cells are drawn (seeded) from the 15,625 of ``nas-bench-201``; each proxy
(:class:`tvm_nacos.accuracy.ZeroCostProxy`) scores them on the benchmark's network (C=16, N=5,
32×32×3, random init of ``--seed``) with a mini-batch of scikit-learn's digits resized to 32×32×3
— not CIFAR-10, so the figures are not the literature's protocol. Reported per proxy: Spearman ρ
and Kendall τ against :class:`tvm_nacos.accuracy.TableAccuracy` (``valid_accuracy``), the same
on the cells whose table accuracy is above chance (> 15%), and the wall and CPU seconds the
scoring took. The trainable-parameter count of each cell is the usual baseline.

``naswot-tvm`` is NASWOT computed by TVM on the Relax module (:class:`tvm_nacos.accuracy.RelaxNaswot`:
each cell specialized, compiled for the CPU and run at the mini-batch's size) imported from the
very network the PyTorch proxy scores (same weights, batch norms at PyTorch's initial state); with
``naswot`` beside it the result adds the Spearman ρ between the two and their largest relative
difference.

Usage::

    python bench/run.py zero_cost_rho
    python bench/run.py zero_cost_rho --config smoke --no-save
    python bench/run.py zero_cost_rho --config tvm-naswot      # 200 cells, NASWOT by PyTorch and by TVM
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

import numpy as np
from harness import Benchmark, RunContext, main


def _correlations(scores: list[float], truth: np.ndarray) -> dict[str, float]:
    from scipy.stats import kendalltau, spearmanr

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Cells, seed, mini-batch, proxies and threads."""
    parser.add_argument("--num-cells", type=int, default=1000, help="distinct random cells (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the cells, the weights and the mini-batch")
    parser.add_argument("--batch-size", type=int, default=64, help="mini-batch of naswot and grad_norm")
    parser.add_argument("--proxies", nargs="+", default=["synflow", "naswot", "grad_norm"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: the machine is shared)")
    parser.add_argument("--chunk", type=int, default=100, help="cells per progress line")


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """Every proxy's scores of the drawn cells, and their correlations with the table's accuracy."""
    import torch

    from tvm_nacos.accuracy import TableAccuracy, ZeroCostProxy
    from tvm_nacos.search_space import get

    torch.set_num_threads(args.threads)
    nb201 = get("nas-bench-201")
    rng = np.random.default_rng(args.seed)
    indices = sorted(int(i) for i in rng.choice(15_625, size=args.num_cells, replace=False))
    samples = [nb201.sample_from_index(i) for i in indices]
    truth = np.asarray(TableAccuracy().evaluate(samples))
    ctx.progress("%d cells (seed %d); table valid accuracy %.2f..%.2f", len(samples), args.seed, truth.min(),
                 truth.max())

    results: dict[str, dict] = {}
    per_cell: dict[str, list[float]] = {}
    for name in ["params", *args.proxies]:
        if name == "naswot-tvm":
            proxy = _relax_naswot(args)
        else:
            proxy = ZeroCostProxy.create("synflow" if name == "params" else name, seed=args.seed,
                                         batch_size=args.batch_size)
        wall, cpu = time.perf_counter(), time.process_time()
        scores: list[float] = []
        for start in range(0, len(samples), args.chunk):
            chunk = samples[start : start + args.chunk]
            if name == "params":  # the baseline: trainable parameters of the same network
                scores += [float(sum(p.numel() for p in proxy.network(s).parameters())) for s in chunk]
            else:
                scores += proxy.evaluate(chunk)
            ctx.progress("  %s: %d/%d cells, %.0f s", name, len(scores), len(samples), time.perf_counter() - wall)
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

    agreement = None
    if "naswot" in per_cell and "naswot-tvm" in per_cell:
        from scipy.stats import spearmanr

        torch_scores, tvm_scores = np.asarray(per_cell["naswot"]), np.asarray(per_cell["naswot-tvm"])
        finite = np.isfinite(torch_scores) & np.isfinite(tvm_scores)
        relative = np.abs(tvm_scores[finite] - torch_scores[finite]) / np.abs(torch_scores[finite])
        agreement = {
            "spearman_rho": float(spearmanr(tvm_scores, torch_scores).statistic),
            "max_relative_difference": float(relative.max()),
            "num_identical": int((tvm_scores == torch_scores).sum()),
            "num_neg_inf_differ": int((np.isinf(torch_scores) != np.isinf(tvm_scores)).sum()),
        }
        print(f"naswot-tvm vs naswot: rho={agreement['spearman_rho']:.4f}, max relative difference "
              f"{agreement['max_relative_difference']:.2e}", flush=True)
    report = {
        "naswot_tvm_vs_torch": agreement,
        "torch_threads": args.threads,
        "space": "nas-bench-201 (C=16, N=5, 32x32x3, random init)",
        "data": "sklearn load_digits, 8x8 resized to 32x32, 3 channels; mini-batch of the training split",
        "ground_truth": "NAS-Bench-201 CIFAR-10 valid_accuracy (200 epochs, mean of 3 seeds)",
        "num_cells": len(samples),
        "seed": args.seed,
        "batch_size": args.batch_size,
        "results": results,
        "cells": [
            {"index": i, "valid_accuracy": float(t), **{name: _finite(per_cell[name][k]) for name in per_cell}}
            for k, (i, t) in enumerate(zip(indices, truth, strict=True))
        ],
    }
    return report


def _relax_naswot(args: argparse.Namespace) -> Any:
    """:class:`~tvm_nacos.accuracy.RelaxNaswot` on the network the PyTorch proxy scores."""
    import tvm_nacos
    from tvm_nacos.accuracy import RelaxNaswot
    from tvm_nacos.accuracy._torch import reset_batch_norms
    from tvm_nacos.models import example_input, torch_supernet
    from tvm_nacos.search_space import get

    builtin = get("nas-bench-201")
    network = reset_batch_norms(torch_supernet(builtin, seed=args.seed))
    mod = tvm_nacos.from_torch(network, (example_input(builtin),))
    return RelaxNaswot(mod, batch_size=args.batch_size, seed=args.seed)


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Per proxy (and the parameter count): Spearman ρ, Kendall τ, ρ above chance, CPU seconds."""
    out: dict[str, Any] = {}
    if result.get("naswot_tvm_vs_torch"):
        out.update({f"naswot-tvm_vs_naswot.{k}": v for k, v in result["naswot_tvm_vs_torch"].items()})
    for name, figures in result["results"].items():
        for key in ("spearman_rho", "kendall_tau", "spearman_rho_above_chance", "cpu_secs"):
            out[f"{name}.{key}"] = figures[key]
    return out


BENCHMARK = Benchmark(
    name="zero_cost_rho",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={
        "smoke": ["--num-cells", "20", "--proxies", "synflow", "--chunk", "10"],
        "tvm-naswot": ["--num-cells", "200", "--proxies", "naswot", "naswot-tvm", "--chunk", "25"],
        "tvm-naswot-smoke": ["--num-cells", "6", "--proxies", "naswot", "naswot-tvm", "--chunk", "3"],
    },
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
