"""Trials per minute: MetaSchedule's stock LocalBuilder vs tvm-nacos's PersistentBuilder.

Each configuration runs in a fresh subprocess (the stock path imports every tensor intrinsic
into the main process, which cannot be undone), one after the other in this run, on the same
workloads, with the same runner, search strategy, cost model, seed and 16 candidates per batch:

- ``matmul``: one 256×256×256 float32 matmul task, 64 trials;
- ``cnn``: the convolution tasks of one CNN architecture (the example supernet at 32 channels,
  its largest architecture, unless ``--space`` names a built-in space), 16 trials each;
- ``cosearch``: tvm-nacos's own loop, a joint search of ``nas-bench-201`` (or ``--space``; the
  NAS-Bench-201 table as accuracy, a zero-cost proxy elsewhere) with a budget of 128 trials
  (``--trials``), seed 0, without the final end-to-end timing. Its time per phase comes from
  the search's own ``time_breakdown``; ``--strategy`` does not apply (the joint search drives
  ``NACOSSearchStrategy``).

Both sides use the same schedule search: MetaSchedule's ``EvolutionarySearch`` by default, or
``--strategy nacos`` for tvm-nacos's ``NACOSSearchStrategy`` (a smaller population).

Reported: tuning wall time, trials per minute, MetaSchedule's profiler breakdown (time in
SendToBuilder, SendToRunner, ...), and the builder's share of the wall time.

Usage::

    python bench/run.py builder_throughput --config evolutionary   # both builders, matmul and cnn
    python bench/run.py builder_throughput --config nacos          # NACOSSearchStrategy on both sides
    python bench/run.py builder_throughput --config cosearch       # the joint search's own loop
    python bench/run.py builder_throughput --workloads matmul --trials 32 --label matmul32
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from harness import Benchmark, RunContext, main

TRIALS_PER_BATCH = 16


def matmul_kernels(n: int = 256) -> list:
    """``[(name, module, weight)]`` of one n×n×n float32 matmul."""
    import tvm
    from tvm import te

    a = te.placeholder((n, n), name="A")
    b = te.placeholder((n, n), name="B")
    k = te.reduce_axis((0, n), name="k")
    c = te.compute((n, n), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="C")
    return [("matmul256", tvm.IRModule({"main": te.create_prim_func([a, b, c])}), 1.0)]


def cnn_kernels(target, space_name: str | None) -> list:
    """``[(name, module, weight)]`` of the convolution tasks of one CNN architecture (see the docstring)."""
    import tvm_nacos
    from tvm_nacos.tuning import extract_tasks, lower_for_tuning

    if space_name:
        from tvm_nacos import search_space as spaces

        builtin = spaces.get(space_name)
        mod = builtin.ir_module()
        sample = builtin.space.default_sample()
    else:
        from tvm_nacos.examples import example_input, example_supernet

        mod = tvm_nacos.from_torch(example_supernet(channels=32), (example_input(),))
        sample = {"block1.op": "conv5x5", "block2.depth": "keep", "block2.kernel": "k5"}
    tasks = extract_tasks(lower_for_tuning(mod, target, sample=sample), target)
    return [(str(t.task_name), t.dispatched[0], float(t.weight)) for t in tasks if "conv2d" in str(t.task_name)]


def run_cosearch(builder_kind: str, budget: int, space_name: str | None) -> dict:
    """A joint search with ``builder_kind`` in this process; trials per minute and time by phase."""
    start = time.perf_counter()
    from _common import table_or_synflow

    import tvm_nacos
    from tvm_nacos import search_space as spaces
    from tvm_nacos._compat import meta_schedule

    space = spaces.get(space_name or "nas-bench-201")
    accuracy = table_or_synflow(space)
    builder = meta_schedule().builder.LocalBuilder() if builder_kind == "stock" else None  # None: PersistentBuilder
    batches: list[int] = []

    def progress(event) -> None:
        batches.append(event.trials_used - sum(batches))

    with tempfile.TemporaryDirectory() as work_dir:
        setup_secs = time.perf_counter() - start
        result = tvm_nacos.search(space, accuracy=accuracy, budget=budget, strategy="joint", work_dir=work_dir,
                                  seed=0, builder=builder, measure_end_to_end=False, progress=progress)
    times = result.time_breakdown
    return {
        "builder": builder_kind,
        "workload": "cosearch",
        "strategy": "joint (NACOSSearchStrategy)",
        "space": space.name,
        "trials": result.trials_used,
        "failed": result.failed_trials,
        "batches": len(batches),
        "mean_batch": round(result.trials_used / max(1, len(batches)), 1),
        "setup_secs": round(setup_secs, 1),
        "tune_secs": round(times["total"], 1),
        "trials_per_min": round(result.trials_used / times["total"] * 60, 1),
        "send_to_builder_secs": round(times["build"], 1),
        "send_to_runner_secs": round(times["run"], 1),
        "builder_share": round(times["build"] / times["total"], 3),
        "best_matmul_gflops": None,
        "profile": {k: round(v, 2) for k, v in times.items()},
    }


def run_one(builder_kind: str, workload: str, trials_per_kernel: int, space: str | None, strategy: str) -> dict:
    """Tune ``workload`` with ``builder_kind`` in this process; return the measurements."""
    if workload == "cosearch":
        return run_cosearch(builder_kind, trials_per_kernel, space)
    start = time.perf_counter()

    from tvm_nacos._compat import meta_schedule
    from tvm_nacos.target import host_target
    from tvm_nacos.tuning import PersistentBuilder, make_runner, register_tensor_intrinsics

    ms = meta_schedule()
    target = host_target()
    if builder_kind == "ours":
        register_tensor_intrinsics(target)
        builder = PersistentBuilder()
        builder.warm_up()
    else:
        builder = ms.builder.LocalBuilder()
    kernels = matmul_kernels() if workload == "matmul" else cnn_kernels(target, space)
    runner = make_runner("local")
    def make_strategy():
        if strategy == "nacos":
            from tvm_nacos.cosearch.schedule_strategy import NACOSSearchStrategy

            return NACOSSearchStrategy()
        return "evolutionary"

    contexts = [
        ms.TuneContext(mod=mod, target=target, space_generator="post-order-apply", search_strategy=make_strategy(),
                       task_name=name, num_threads=len(os.sched_getaffinity(0)), rand_state=i + 1)
        for i, (name, mod, _) in enumerate(kernels)
    ]
    setup_secs = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as work_dir, ms.Profiler() as profiler:
        tune_start = time.perf_counter()
        database = ms.tune_tasks(
            tasks=contexts,
            task_weights=[w for _, _, w in kernels],
            work_dir=work_dir,
            max_trials_global=trials_per_kernel * len(kernels),
            max_trials_per_task=trials_per_kernel,
            num_trials_per_iter=TRIALS_PER_BATCH,
            builder=builder,
            runner=runner,
            database="memory",
            cost_model="xgb",
        )
        tune_secs = time.perf_counter() - tune_start
        records = database.get_all_tuning_records()
    if builder_kind == "ours":
        builder.shutdown()
    breakdown = {k: float(v) for k, v in profiler.get().items()}
    trials = len(records)
    build_errors = sum(1 for r in records if r.run_secs is None or float(r.run_secs[0]) >= 1e9)
    valid = [sum(float(s) for s in r.run_secs) / len(r.run_secs) for r in records
             if r.run_secs is not None and float(r.run_secs[0]) < 1e9]
    gflops = None
    if workload == "matmul" and valid:  # one kernel: the best record is the best matmul
        gflops = 2 * 256**3 / min(valid) / 1e9
    return {
        "builder": builder_kind,
        "workload": workload,
        "strategy": strategy,
        "kernels": len(kernels),
        "trials": trials,
        "failed": build_errors,
        "setup_secs": round(setup_secs, 1),
        "tune_secs": round(tune_secs, 1),
        "trials_per_min": round(trials / tune_secs * 60, 1),
        "send_to_builder_secs": round(breakdown.get("SendToBuilder", float("nan")), 1),
        "send_to_runner_secs": round(breakdown.get("SendToRunner", float("nan")), 1),
        "builder_share": round(breakdown.get("SendToBuilder", 0.0) / tune_secs, 3),
        "best_matmul_gflops": None if gflops is None else round(gflops, 1),
        "profile": {k: round(v, 2) for k, v in sorted(breakdown.items(), key=lambda kv: -kv[1])[:8]},
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Workloads, builders, trials, space and schedule search."""
    parser.add_argument("--workloads", nargs="+", default=["matmul", "cnn"], choices=["matmul", "cnn", "cosearch"])
    parser.add_argument("--builders", nargs="+", default=["stock", "ours"], choices=["stock", "ours"])
    parser.add_argument("--trials", type=int, default=None,
                        help="trials per kernel (64 matmul, 16 cnn); the budget of cosearch (128)")
    parser.add_argument("--space", default=None,
                        help="built-in space for the cnn workload (its default architecture) and the cosearch "
                        "workload (nas-bench-201 by default)")
    parser.add_argument("--strategy", default="evolutionary", choices=["evolutionary", "nacos"],
                        help="schedule search of both sides: MetaSchedule's default EvolutionarySearch "
                        "(population 512) or NACOSSearchStrategy (population 64)")


def run(args: argparse.Namespace, ctx: RunContext) -> list[dict[str, Any]]:
    """Every (workload, builder) in a fresh subprocess, one after the other; prints the table."""
    results = []
    for workload in args.workloads:
        for builder in args.builders:
            ctx.progress("%s with the %s builder (%s)", workload, builder, args.strategy)
            cmd = [sys.executable, __file__, "--one", builder, workload, "--strategy", args.strategy]
            if args.trials:
                cmd += ["--trials", str(args.trials)]
            if args.space:
                cmd += ["--space", args.space]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            results.append(result)
            print(json.dumps(result), flush=True)
            ctx.save(results)
    print("\n| workload | builder | trials | tune s | trials/min | SendToBuilder s | builder share | SendToRunner s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['workload']} | {r['builder']} | {r['trials']} | {r['tune_secs']} | {r['trials_per_min']} | "
              f"{r['send_to_builder_secs']} | {r['builder_share']:.0%} | {r['send_to_runner_secs']} |")
    for workload, rate in speedups(results).items():
        print(f"{workload}: ours / stock = {rate:.2f}x trials per minute")
    return results


def speedups(results: list[dict[str, Any]]) -> dict[str, float]:
    """Trials per minute of ours over stock, per workload that ran with both."""
    out = {}
    for workload in dict.fromkeys(r["workload"] for r in results):
        rate = {r["builder"]: r["trials_per_min"] for r in results if r["workload"] == workload}
        if "stock" in rate and "ours" in rate:
            out[workload] = rate["ours"] / rate["stock"]
    return out


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per workload and builder: trials per minute, builder share, tune seconds; ours/stock per workload."""
    out: dict[str, Any] = {}
    for r in results:
        key = f"{r['workload']}/{r['builder']}"
        out.update({f"{key}.trials_per_min": r["trials_per_min"], f"{key}.builder_share": r["builder_share"],
                    f"{key}.tune_secs": r["tune_secs"]})
    out.update({f"{workload}.ours_over_stock": rate for workload, rate in speedups(results).items()})
    return out


def _one(argv: list[str]) -> None:
    """The subprocess of one (builder, workload): measures it and prints its JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--one", nargs=2, metavar=("BUILDER", "WORKLOAD"), required=True)
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--space", default=None)
    parser.add_argument("--strategy", default="evolutionary")
    args = parser.parse_args(argv)
    trials = args.trials or {"matmul": 64, "cnn": 16, "cosearch": 128}[args.one[1]]
    print(json.dumps(run_one(args.one[0], args.one[1], trials, args.space, args.strategy)))


BENCHMARK = Benchmark(
    name="builder_throughput",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={
        "evolutionary": [],
        "nacos": ["--strategy", "nacos"],
        "cosearch": ["--workloads", "cosearch", "--trials", "32"],
        "cosearch256-ours": ["--workloads", "cosearch", "--builders", "ours", "--trials", "256"],
        "smoke": ["--workloads", "matmul", "--builders", "ours", "--trials", "16"],
    },
)

if __name__ == "__main__":
    if "--one" in sys.argv[1:]:  # the measuring subprocess that run() starts, not a user option
        _one(sys.argv[1:])
    else:
        sys.exit(main(BENCHMARK))
