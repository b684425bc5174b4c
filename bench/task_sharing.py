"""Task sharing across architectures, and what folding batch norm does to the task count.

For N random architectures of a space, every architecture is specialized, simplified (or not)
and fused, and its kernels merged into one :class:`~tvm_nacos.tuning.TaskPool`. Reported, with
and without batch-norm folding: task occurrences summed over architectures, unique tasks, how
many of them are convolutions or matmuls, the sharing ratio (occurrences / unique), and how
many distinct *anchor blocks* (the conv or matmul of a fused kernel, MetaSchedule's
``anchor-block`` equality; a kernel without one counts as itself) the unique tasks have: the
number of tasks a tuner that transfers schedules between fused variants of one anchor would tune.

Usage::

    python bench/run.py task_sharing --config nas-bench-201-100
    python bench/run.py task_sharing --config example
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
from harness import Benchmark, RunContext, main


def _space_and_module(name: str):
    import tvm_nacos

    if name == "example":
        from tvm_nacos.analysis import search_space
        from tvm_nacos.examples import example_input, example_supernet

        mod = tvm_nacos.from_torch(example_supernet(), (example_input(),))
        return search_space(mod), mod
    from tvm_nacos import search_space as spaces

    builtin = spaces.get(name)
    return builtin.space, builtin.ir_module()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Space, architectures, seed, and whether to skip the run without batch-norm folding."""
    parser.add_argument("--space", default="nas-bench-201")
    parser.add_argument("--num-archs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-unfolded", action="store_true", help="skip the run without batch-norm folding")


def run(args: argparse.Namespace, ctx: RunContext) -> list[dict[str, Any]]:
    """The task pool of the drawn architectures, with and without batch-norm folding; prints the table."""
    from tvm_nacos._compat import find_anchor_block, structural_hash
    from tvm_nacos.target import host_target
    from tvm_nacos.tuning import TaskPool

    start = time.perf_counter()
    space, mod = _space_and_module(args.space)
    import_secs = time.perf_counter() - start
    rng = np.random.default_rng(args.seed)
    samples = [space.sample(rng) for _ in range(args.num_archs)]
    distinct = len({s.id for s in samples})
    target = host_target()
    results = []
    for fold in ([True] if args.no_unfolded else [True, False]):
        pool = TaskPool(target)
        start = time.perf_counter()
        for sample in samples:
            pool.add_architecture(mod, sample, fold_batch_norm=fold)
        secs = time.perf_counter() - start
        heavy = [t for t in pool.tasks if "conv2d" in t.name or "matmul" in t.name]
        anchors = set()
        for task in pool.tasks:
            block = find_anchor_block(task.mod)
            anchors.add(("task", task.key) if block is None else ("anchor", int(structural_hash(block))))
        occurrences = sum(len(a.weights) for a in pool.architectures.values())
        results.append(
            {
                "space": args.space,
                "architectures": distinct,
                "fold_batch_norm": fold,
                "task_occurrences": occurrences,
                "unique_tasks": len(pool),
                "unique_conv_or_matmul_tasks": len(heavy),
                "unique_anchor_blocks": len(anchors),
                "sharing_ratio": round(pool.sharing_ratio(), 2),
                "extract_secs": round(secs, 1),
            }
        )
        ctx.progress("%s", json.dumps(results[-1]))
    print(f"\nimport of the space's module: {import_secs:.1f} s; {distinct} distinct architectures of "
          f"{args.num_archs} drawn\n")
    print("| BN folded | task occurrences | unique tasks | of which conv/matmul | unique anchor blocks "
          "| sharing ratio | extraction s |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {'yes' if r['fold_batch_norm'] else 'no'} | {r['task_occurrences']} | {r['unique_tasks']} | "
              f"{r['unique_conv_or_matmul_tasks']} | {r['unique_anchor_blocks']} | {r['sharing_ratio']} | "
              f"{r['extract_secs']} |")
    return results


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per folding: occurrences, unique tasks, anchor blocks, sharing ratio, extraction seconds."""
    out: dict[str, Any] = {}
    for r in results:
        key = "folded" if r["fold_batch_norm"] else "unfolded"
        for figure in ("task_occurrences", "unique_tasks", "unique_conv_or_matmul_tasks", "unique_anchor_blocks",
                       "sharing_ratio", "extract_secs"):
            out[f"{key}.{figure}"] = r.get(figure)
    return out


BENCHMARK = Benchmark(
    name="task_sharing",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={
        "nas-bench-201-100": ["--space", "nas-bench-201", "--num-archs", "100", "--no-unfolded"],
        "example": ["--space", "example", "--num-archs", "30"],
        "smoke": ["--space", "example", "--num-archs", "3"],
    },
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
