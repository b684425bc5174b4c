"""Weight sharing against stand-alone training: Spearman ρ on a built-in space (NAS-Bench-201 cells by default), digits data, CPU.

One :class:`tvm_nacos.accuracy.SupernetAccuracy` is trained (sandwich rule: largest, smallest and
``--num-random`` random subnets per step) for ``--epochs`` epochs; ``--num-subnets`` distinct
random cells (seeded) are then scored with inherited weights (batch norms recalibrated per
subnet). The same cells are trained from scratch by :class:`tvm_nacos.accuracy.StandaloneAccuracy`
with the same network variant, data, optimizer, schedule and ``--epochs`` each, once per seed of
``--standalone-seeds``; the reference is their mean. Reported: ρ (and Kendall τ) between the
inherited-weight accuracy and the stand-alone mean, also on the cells whose output depends on their
input ("connected"); the stand-alone seeds' agreement with each other (mean pairwise ρ: the
ceiling any estimator can reach against a noisy reference); and the CPU time of every phase.

With ``--space vit`` the supernet is the ViT space's training variant
(:data:`tvm_nacos.accuracy.supernet.TRAINING_VARIANTS`) and ``--channels``,
``--cells-per-stage`` and ``--resolution`` do not apply.

Usage::

    python bench/run.py supernet_rho
    python bench/run.py supernet_rho --config channels8
    python bench/run.py supernet_rho --config vit
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from harness import Benchmark, RunContext, main


def _connected(sample: Mapping[str, str]) -> bool:
    """Whether the cell's output depends on its input: a path 0 → 3 through edges that are not 'none'."""
    reach = {0}
    for to_node in (1, 2, 3):
        edges = (f"edge.{to_node}<-{i}" for i in range(to_node) if i in reach)
        if any(edge in sample and sample[edge] != "none" for edge in edges):
            reach.add(to_node)
    return 3 in reach


def _rho(a: list[float] | np.ndarray, b: list[float] | np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def _tau(a: list[float] | np.ndarray, b: list[float] | np.ndarray) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Subnets, seed, the training recipe, stand-alone seeds and threads."""
    parser.add_argument("--space", default="nas-bench-201", help="the built-in space whose supernet trains")
    parser.add_argument("--num-subnets", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the cells, the supernet and the first stand-alone run")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--channels", type=int, help="nas-bench-201 only (default 4)")
    parser.add_argument("--cells-per-stage", type=int, help="nas-bench-201 only (default 1)")
    parser.add_argument("--resolution", type=int, help="nas-bench-201 only (default 8)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--optimizer", default="sgd", choices=("sgd", "adamw"))
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--num-random", type=int, default=2)
    parser.add_argument("--calib-batches", type=int, default=4)
    parser.add_argument("--standalone-seeds", type=int, default=5,
                        help="stand-alone runs per cell (seeds seed, seed+1, ...)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: the machine is shared)")
    parser.add_argument("--save-supernet", help="also save the trained supernet to this file")


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """Train the supernet, score the subnets, train them stand-alone; ρ between the two."""
    import torch

    from tvm_nacos.accuracy import StandaloneAccuracy, SupernetAccuracy
    from tvm_nacos.search_space import get

    torch.set_num_threads(args.threads)
    builtin = get(args.space)
    nb201 = builtin.name == "nas-bench-201"
    rng = np.random.default_rng(args.seed)
    samples: dict[str, object] = {}
    for _ in range(100 * args.num_subnets):  # bounded: distinct architectures of a space of thousands
        if len(samples) == args.num_subnets:
            break
        sample = builtin.space.sample(rng)
        samples.setdefault(sample.id, sample)
    cells = list(samples.values())
    network = {
        key: value
        for key, value in (
            ("channels", args.channels), ("cells_per_stage", args.cells_per_stage), ("resolution", args.resolution)
        )
        if value is not None
    }
    common = {
        **network,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "learning_rate": args.learning_rate,
        "num_threads": args.threads,
    }

    supernet = SupernetAccuracy(args.space, **common, num_random=args.num_random, calib_batches=args.calib_batches, seed=args.seed)
    ctx.progress("%d cells; %s, %d epochs", len(cells), supernet.name, args.epochs)
    supernet.fit()
    record = supernet.record
    ctx.progress("supernet: %d steps in %.1f s (CPU %.1f s)", record.steps, record.train_secs, record.cpu_secs)
    if args.save_supernet:
        supernet.save(args.save_supernet)
    wall, cpu = time.perf_counter(), time.process_time()
    inherited = supernet.evaluate(cells)
    eval_wall, eval_cpu = time.perf_counter() - wall, time.process_time() - cpu
    ctx.progress("inherited-weight evaluation: %d subnets in %.1f s (CPU %.1f s)", len(cells), eval_wall, eval_cpu)

    standalone_runs: list[list[float]] = []
    standalone_wall = standalone_cpu = 0.0
    for k in range(args.standalone_seeds):
        wall, cpu = time.perf_counter(), time.process_time()
        standalone_runs.append(StandaloneAccuracy(args.space, **common, seed=args.seed + k).evaluate(cells))
        standalone_wall += time.perf_counter() - wall
        standalone_cpu += time.process_time() - cpu
        ctx.progress("stand-alone seed %d: rho(inherited, this seed) = %.3f; %.0f s so far", args.seed + k,
                     _rho(inherited, standalone_runs[-1]), standalone_wall)
    reference = np.mean(standalone_runs, axis=0)
    connected = np.array([_connected(c) if nb201 else True for c in cells])
    inherited_arr = np.asarray(inherited)
    pairwise = [_rho(a, b) for a, b in itertools.combinations(standalone_runs, 2)]
    results = {
        "spearman_rho": _rho(inherited, reference),
        "kendall_tau": _tau(inherited, reference),
        "spearman_rho_connected": _rho(inherited_arr[connected], reference[connected]),
        "num_connected": int(connected.sum()),
        "spearman_rho_per_standalone_seed": [_rho(inherited, run) for run in standalone_runs],
        "standalone_seed_agreement_rho": float(np.mean(pairwise)) if pairwise else None,
        "standalone_seed_agreement_rho_connected": (
            float(np.mean([_rho(np.asarray(a)[connected], np.asarray(b)[connected])
                           for a, b in itertools.combinations(standalone_runs, 2)]))
            if pairwise else None
        ),
        "cpu_secs": {
            "supernet_training": record.cpu_secs,
            "subnet_evaluation": eval_cpu,
            "standalone_training": standalone_cpu,
        },
        "wall_secs": {
            "supernet_training": record.train_secs,
            "subnet_evaluation": eval_wall,
            "standalone_training": standalone_wall,
        },
        "supernet_steps": record.steps,
    }
    print(
        f"rho = {results['spearman_rho']:.3f} (tau {results['kendall_tau']:.3f}); connected cells "
        f"({results['num_connected']}): rho = {results['spearman_rho_connected']:.3f}; stand-alone seed "
        f"agreement rho = {results['standalone_seed_agreement_rho']}",
        flush=True,
    )
    print(f"CPU s: {results['cpu_secs']}", flush=True)
    report = {
        "torch_threads": args.threads,
        "data": "sklearn load_digits, stratified 75/25 train/val split (seed 0)",
        "supernet": supernet.name,
        "options": {**supernet.options(), "standalone_seeds": args.standalone_seeds, "num_subnets": len(cells)},
        "results": results,
        "cells": [
            {
                **({"arch_str": builtin.arch_str(c), "nb201_index": builtin.index(c)} if nb201 else {"sample": dict(c)}),
                "connected": bool(conn),
                "inherited_accuracy": acc,
                "standalone_accuracy": [run[i] for run in standalone_runs],
            }
            for i, (c, conn, acc) in enumerate(zip(cells, connected, inherited, strict=True))
        ],
    }
    return report


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """ρ and τ of inherited against stand-alone accuracy, the stand-alone seeds' agreement, CPU seconds."""
    figures = result["results"]
    return {
        "spearman_rho": figures["spearman_rho"],
        "kendall_tau": figures["kendall_tau"],
        "spearman_rho_connected": figures["spearman_rho_connected"],
        "standalone_seed_agreement_rho": figures["standalone_seed_agreement_rho"],
        **{f"cpu_secs.{phase}": secs for phase, secs in figures["cpu_secs"].items()},
    }


BENCHMARK = Benchmark(
    name="supernet_rho",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={
        "channels8": ["--channels", "8", "--standalone-seeds", "3"],
        "epochs20": ["--epochs", "20"],
        "smoke": ["--num-subnets", "4", "--epochs", "1", "--standalone-seeds", "2"],
        "vit": ["--space", "vit", "--epochs", "40", "--learning-rate", "0.1", "--standalone-seeds", "3"],
        "vit-e10": ["--space", "vit", "--epochs", "10", "--learning-rate", "0.1", "--standalone-seeds", "3"],
        "vit-smoke": ["--space", "vit", "--num-subnets", "4", "--epochs", "1", "--standalone-seeds", "2"],
    },
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
