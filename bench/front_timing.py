"""Time a search's front twice: back to back (one architecture's repeats in a row) vs in turns.

A search reports the front's end-to-end latencies. On a shared machine a burst of load that
falls on one architecture's timing moves it off the front (or onto it). This benchmark takes a
finished search's front (``--work-dir``, or a fresh nas-bench-201 search of ``--budget`` trials),
compiles each architecture with its tuned kernels once, and times the whole front twice with
each method, the methods alternating (back to back, in turns, back to back, in turns):

- ``back-to-back``: ``time_executable`` per architecture, 10 samples in a row (what the search
  did before it timed in turns);
- ``interleaved``: ``time_interleaved``, 5 rounds × 2 samples, the order alternating per round
  (what the search does now).

Per architecture and method: the second timing over the first. ``--load bursty`` runs a
CPU-bound process beside the timings that switches on and off at random (0.3–2 s each), as other
jobs on a shared machine do; ``--load none`` leaves the machine as it is.

Usage::

    python bench/run.py front_timing --config nb201-bursty
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np
from harness import Benchmark, RunContext, main

#: A process that keeps one core busy for a random 0.3-2 s, then sleeps for a random 0.3-2 s.
_BURSTY_LOAD = """
import random, time
rng = random.Random({seed})
while True:
    end = time.perf_counter() + rng.uniform(0.3, 2.0)
    while time.perf_counter() < end:
        pass
    time.sleep(rng.uniform(0.3, 2.0))
"""

METHODS = ("back-to-back", "interleaved")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Which front, and what runs beside the timings."""
    parser.add_argument("--work-dir", help="a finished search (default: run a nas-bench-201 search first)")
    parser.add_argument("--budget", type=int, default=200, help="trials of the search run when --work-dir is not given")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--load", choices=("none", "bursty"), default="none", help="a process beside the timings")
    parser.add_argument("--tolerance", type=float, default=0.05, help="agreement counted within this ratio")


def _front(args: argparse.Namespace, ctx: RunContext) -> tuple[str, dict[str, Any]]:
    """(work dir, its pareto.json), running a search first when no work dir is given."""
    import tvm_nacos
    from tvm_nacos.accuracy import TableAccuracy
    from tvm_nacos.workdir import WorkDir

    work_dir = args.work_dir
    if work_dir is None:
        work_dir = tempfile.mkdtemp(prefix="front_timing_")
        ctx.progress("searching nas-bench-201 for the front, %d trials, in %s", args.budget, work_dir)
        tvm_nacos.search("nas-bench-201", accuracy=TableAccuracy(), budget=args.budget, work_dir=work_dir,
                         seed=args.seed)
    return work_dir, WorkDir.open(work_dir).read_result()


def _compile_front(work_dir: str, result: dict[str, Any]) -> tuple[Any, dict[str, tuple[Any, list[Any]]]]:
    """The target and, by arch id, each front architecture compiled with its tuned kernels and its inputs."""
    from tvm_nacos.analysis import search_space
    from tvm_nacos.search_space import ArchSample
    from tvm_nacos.target import as_target, device_for
    from tvm_nacos.tuning.compile import compile_architecture, random_inputs
    from tvm_nacos.tuning.database import open_database
    from tvm_nacos.tuning.intrin import register_tensor_intrinsics
    from tvm_nacos.workdir import WorkDir

    work = WorkDir.open(work_dir)
    target = as_target(result["target"])
    register_tensor_intrinsics(target)
    mod, _ = work.searched_module(result)
    space = search_space(mod)
    database = open_database(work, target)
    networks = {}
    for point in result["pareto"]:
        sample = space.canonicalize(ArchSample.from_dict(point["sample"]))
        compiled = compile_architecture(mod, target, sample=sample, database=database)
        networks[sample.id] = (compiled.executable, random_inputs(compiled.lowered["main"], device_for(target), 0))
    return target, networks


def _time(method: str, networks: dict[str, tuple[Any, list[Any]]], target: Any) -> dict[str, float]:
    from tvm_nacos.tuning.compile import time_executable, time_interleaved

    if method == "back-to-back":
        return {arch_id: time_executable(exe, target, inputs).median_ms for arch_id, (exe, inputs) in networks.items()}
    return {arch_id: latency.median_ms for arch_id, latency in time_interleaved(networks, target).items()}


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """Each method's two timings of the front, and how well they agree."""
    work_dir, result = _front(args, ctx)
    target, networks = _compile_front(work_dir, result)
    ctx.progress("%d front architectures compiled; load: %s", len(networks), args.load)
    load = None
    if args.load == "bursty":
        load = subprocess.Popen([sys.executable, "-c", _BURSTY_LOAD.format(seed=args.seed)])
    timings: dict[str, list[dict[str, float]]] = {m: [] for m in METHODS}
    start = time.perf_counter()
    try:
        for timing in range(2):
            for method in METHODS:
                timings[method].append(_time(method, networks, target))
                ctx.progress("%s, timing %d: %.1f s; load average %.2f", method, timing + 1,
                             time.perf_counter() - start, os.getloadavg()[0])
    finally:
        if load is not None:
            load.kill()
            load.wait()
    report: dict[str, Any] = {
        "work_dir": work_dir, "load": args.load, "tolerance": args.tolerance, "num_archs": len(networks),
        "estimated_ms": {p["arch_id"]: p.get("estimated_latency_ms") for p in result["pareto"]},
        "methods": {},
    }
    print(f"\n{len(networks)} front architectures, load {args.load}; second timing / first")
    print(f"| method | median deviation | max deviation | within ±{args.tolerance:.0%} |")
    print("|---|---:|---:|---:|")
    for method in METHODS:
        first, second = timings[method]
        ratios = {arch_id: second[arch_id] / first[arch_id] for arch_id in networks}
        deviations = np.abs(np.asarray(list(ratios.values())) - 1.0)
        within = float(np.mean(deviations <= args.tolerance))
        report["methods"][method] = {
            "first_ms": first, "second_ms": second, "ratios": ratios,
            "median_abs_deviation": float(np.median(deviations)), "max_abs_deviation": float(deviations.max()),
            "share_within_tolerance": within,
        }
        print(f"| {method} | {np.median(deviations):.1%} | {deviations.max():.1%} | {within:.0%} |")
    return report


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Per method: median and max deviation of the second timing from the first, share within tolerance."""
    summary: dict[str, Any] = {"num_archs": result["num_archs"], "load": result["load"]}
    for method, values in result["methods"].items():
        for key in ("median_abs_deviation", "max_abs_deviation", "share_within_tolerance"):
            summary[f"{method}.{key}"] = round(values[key], 4)
    return summary


BENCHMARK = Benchmark(
    name="front_timing",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={
        "nb201-quiet": ["--budget", "200", "--load", "none"],
        "nb201-bursty": ["--budget", "200", "--load", "bursty"],
        "smoke": ["--budget", "8", "--load", "none"],
    },
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
