"""The searched architectures against PyTorch eager and numpy's GEMM, on this machine.

For the front of a finished search (``WORK_DIR/pareto.json`` of a built-in space), this script

1. rebuilds the most accurate and the fastest front architecture with the work directory's
   tuned records, and times them end to end against the PyTorch eager model of the same
   architecture (many repeats: minimum and median, as PyTorch timings are noisy here);
2. lists the kernels of each with the largest share of FLOPs: their best measured latency
   from the tuning database and the GFLOP/s that makes, against numpy's float32 GEMM
   measured in the same run (at 1024³, and at the GEMM shape of the kernel's convolution or
   matmul; a batched matmul, such as attention's, counts as one GEMM of all its rows); and
   (``in_turns``) the kernel's best schedule built again and timed in turns with numpy's GEMM
   at its shape (:func:`kernel_and_gemm_in_turns`): the fair ratio on a loaded machine.

With ``--finish-trials-per-kernel N``, each pick then gets a finishing tune (every kernel of it
topped up to N measured candidates, :func:`tvm_nacos.tuning.finish_architecture`, into a copy of
the work directory's database) and is measured again: ``architectures["<role> after finishing"]``.
``--finish-top-kernels K`` finishes only the K kernels with the largest share of FLOPs (those
the roofline table lists; :func:`tvm_nacos.tuning.tune_kernels`), and
``--finish-schedule-options JSON`` sets the finishing tune's evolutionary search (e.g.
``'{"population_size": 64}'``; :data:`tvm_nacos.tuning.schedule_options.SCHEDULE_OPTIONS`):
two runs with different options compare the finishing tune's speed and what it reaches.

Example::

    python bench/run.py best_architecture --work-dir /tmp/qs4 --repeats 100 --label quickstart
    python bench/run.py best_architecture --work-dir /tmp/nacos_joint_s0_xyz --option resolution=32 --label mbv2
    python bench/run.py best_architecture --work-dir /tmp/vit --eager-threads 1 2 --finish-trials-per-kernel 32 --label vit
    python bench/run.py best_architecture --work-dir /tmp/qs --finish-trials-per-kernel 32 --finish-top-kernels 4 \
        --finish-schedule-options '{"population_size": 64}' --label quickstart-finish-p64
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import best_schedule_timer, parse_option
from harness import Benchmark, RunContext, main


def numpy_gemm_gflops(m: int, n: int, k: int, repeats: int) -> float:
    """Best GFLOP/s of ``a @ b`` (float32, m×k by k×n) over ``repeats`` timed calls."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    a @ b  # warm-up
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2.0 * m * n * k / best / 1e9


def kernel_and_gemm_in_turns(
    task_mod: Any, database: Any, target: Any, shape: tuple[int, int, int], flop: float, *, rounds: int = 9,
    min_repeat_ms: float = 25.0,
) -> dict[str, float] | None:
    """A kernel's best schedule and numpy's GEMM at its shape, timed in turns, same statistic.

    The kernel's best record is built again here (:func:`_common.best_schedule_timer`) and timed
    like numpy's ``a @ b``: each sample the mean of as many calls as fill ``min_repeat_ms``, the
    two alternating for ``rounds`` rounds, the median of each. Load then weighs on both alike,
    where the database's latency was taken during the search under whatever load there was, and
    numpy's best single call is an optimistic figure for a 20 µs GEMM. ``None`` when the kernel
    has no record.
    """
    kernel = best_schedule_timer(task_mod, database, target, min_repeat_ms=int(min_repeat_ms))
    if kernel is None:
        return None
    m, n, k = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    a @ b

    def gemm_sample() -> float:
        calls, start = 0, time.perf_counter()
        while True:
            a @ b
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed * 1e3 >= min_repeat_ms:
                return elapsed / calls

    kernel_secs, gemm_secs = [], []
    for round_index in range(rounds):
        for which in ("kernel", "gemm") if round_index % 2 == 0 else ("gemm", "kernel"):
            if which == "kernel":
                kernel_secs.append(kernel())
            else:
                gemm_secs.append(gemm_sample())
    kernel_gflops = flop / float(np.median(kernel_secs)) / 1e9
    gemm_gflops = 2.0 * m * n * k / float(np.median(gemm_secs)) / 1e9
    return {"kernel_gflops": kernel_gflops, "numpy_gflops": gemm_gflops, "ratio": kernel_gflops / gemm_gflops}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def conv_gemm_shape(mod: Any) -> tuple[int, int, int] | None:
    """(M, N, K) of the GEMM of a kernel (a ``tvm.IRModule``): its conv2d's im2col GEMM, or its matmul's.

    A matmul's inputs are ``A[..., M, K]`` and ``B[..., K, N]``; with batch dimensions (attention's
    batched matmuls) M counts the rows of every batch.
    """
    from tvm_nacos._compat import meta_schedule

    ms = meta_schedule()
    text = mod.script()
    shapes = [[int(d) for d in info.shape] for info in ms.arg_info.ArgInfo.from_prim_func(mod["main"])]
    if "conv2d" not in text:
        if "matmul" not in text or len(shapes) < 3:
            return None
        a, out = shapes[0], shapes[-1]
        k, n = a[-1], out[-1]
        return int(np.prod(out)) // n, n, k
    if len(shapes) < 2 or len(shapes[1]) != 4:
        return None
    data, weight, out = shapes[0], shapes[1], shapes[-1]
    groups = max(1, data[1] // weight[1])
    m = out[0] * out[2] * out[3]
    return m, out[1] // groups, weight[1] * weight[2] * weight[3]


def time_tvm(mod, sample, target, database, repeats: int) -> tuple[float, float]:
    """Minimum and median end-to-end milliseconds of ``sample`` compiled with the database's schedules."""
    import tvm
    from tvm import relax

    from tvm_nacos.target import device_for
    from tvm_nacos.tuning.tasks import lower_for_tuning

    fused = lower_for_tuning(mod, target, sample=sample)
    with target, database:
        tuned = relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(fused)
    executable = tvm.compile(tuned, target=target)
    device = device_for(target)
    vm = relax.VirtualMachine(executable, device)
    rng = np.random.default_rng(0)
    inputs = [
        tvm.runtime.tensor(rng.standard_normal([int(d) for d in p.ty.shape.values]).astype(str(p.ty.dtype)), device)
        for p in fused["main"].params
    ]
    results = vm.time_evaluator("main", device, number=1, repeat=repeats, min_repeat_ms=0)(*inputs).results
    return min(results) * 1e3, statistics.median(results) * 1e3


def time_eager(space, sample, threads: int, repeats: int) -> tuple[float, float]:
    """Minimum and median milliseconds of the PyTorch eager model of ``sample`` on ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    model = space.torch_reference(sample).eval()
    x = space.example_input()
    times = []
    with torch.inference_mode():
        for _ in range(10):
            model(x)
        for _ in range(repeats):
            times.append(_timed(lambda: model(x)))
    return min(times) * 1e3, statistics.median(times) * 1e3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The work directory, repeats, eager threads, kernels listed and the space's options."""
    parser.add_argument("--work-dir", required=True, help="work directory of a finished search of a built-in space")
    parser.add_argument("--repeats", type=int, default=200, help="timed runs of each model")
    parser.add_argument("--eager-threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--top-kernels", type=int, default=4)
    parser.add_argument("--finish-trials-per-kernel", type=int, default=0,
                        help="then tune each pick's kernels up to this many candidates and measure again")
    parser.add_argument("--finish-top-kernels", type=int, default=0,
                        help="finish only this many kernels, those with the largest share of FLOPs (0: every kernel)")
    parser.add_argument("--finish-schedule-options", type=json.loads, default=None, metavar="JSON",
                        help="settings of the finishing tune's evolutionary search (omitted: MetaSchedule's "
                             "defaults with --finish-top-kernels, else finish_architecture's)")
    parser.add_argument("--finish-cost-model", choices=("search", "xgb"), default="search",
                        help="the finishing tune's cost model: the one the search saved (default) or a new XGBoost model")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option the search gave the space, e.g. resolution=32 for mobilenet-v2 (repeatable)")


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """Time the front's most accurate and fastest architectures, and list their largest kernels."""
    from tvm_nacos import search_space as spaces
    from tvm_nacos.search_space import ArchSample
    from tvm_nacos.target import as_target
    from tvm_nacos.tuning.database import best_run_secs, open_database
    from tvm_nacos.tuning.tasks import TaskPool, lower_for_tuning

    result = json.loads((Path(args.work_dir) / "pareto.json").read_text())
    if not result.get("space"):
        raise SystemExit("this script needs the work directory of a search of a built-in space")
    space = spaces.get(result["space"], **dict(parse_option(o) for o in args.option))
    target = as_target(json.loads(result["target"]) if result["target"].startswith("{") else result["target"])
    mod = space.ir_module()
    front = result["pareto"]
    picks = {"most accurate": max(front, key=lambda p: p["accuracy"]),
             "fastest": min(front, key=lambda p: p["latency_ms"])}

    gemm_cache: dict[tuple[int, int, int], float] = {}

    def gemm(m: int, n: int, k: int) -> float:
        if (m, n, k) not in gemm_cache:
            gemm_cache[(m, n, k)] = numpy_gemm_gflops(m, n, k, repeats=50)
        return gemm_cache[(m, n, k)]

    report = {
        "work_dir": args.work_dir,
        "space": result["space"],
        "strategy": result["strategy"],
        "target": result["target"],
        "numpy_gemm_1024_gflops": gemm(1024, 1024, 1024),
        "architectures": {},
    }
    print(f"numpy float32 GEMM 1024^3: {report['numpy_gemm_1024_gflops']:.1f} GFLOP/s")
    def largest_kernels(sample: Any, database: Any) -> list[tuple[float, Any, int, float | None]]:
        """(FLOPs of all calls, task, calls, best seconds) of every kernel of ``sample``, largest first."""
        pool = TaskPool(target)
        arch = pool.add_fused(sample, lower_for_tuning(mod, target, sample=sample))
        kernels = []
        for key, weight in arch.weights.items():
            task = pool[key]
            secs = best_run_secs(database, task.mod)
            kernels.append((task.flop * weight, task, weight, secs))
        return sorted(kernels, key=lambda k: -k[0])

    def measure(role: str, point: dict[str, Any], work_dir: str) -> None:
        sample = ArchSample.from_dict(point["sample"])
        database = open_database(work_dir, target)
        tvm_min, tvm_median = time_tvm(mod, sample, target, database, args.repeats)
        eager = {t: time_eager(space, sample, t, args.repeats) for t in args.eager_threads}
        kernels = largest_kernels(sample, database)
        rows = []
        for total_flop, task, weight, secs in kernels[: args.top_kernels]:
            shape = conv_gemm_shape(task.mod)
            rows.append({
                "kernel": task.name,
                "calls": weight,
                "share_of_flop": total_flop / sum(k[0] for k in kernels),
                "best_ms": None if secs is None else secs * 1e3,
                "gflops": None if secs is None else task.flop / secs / 1e9,
                "gemm_shape": shape,
                "numpy_gemm_gflops_same_shape": None if shape is None else gemm(*shape),
                "in_turns": None if shape is None else kernel_and_gemm_in_turns(
                    task.mod, database, target, shape, task.flop),
            })
        entry = {
            "arch_id": point["arch_id"],
            "sample": point["sample"],
            "accuracy": point["accuracy"],
            "tvm_tuned_ms": {"min": tvm_min, "median": tvm_median},
            "pytorch_eager_ms": {f"{t}_threads": {"min": v[0], "median": v[1]} for t, v in eager.items()},
            "speedup_vs_eager_median": {f"{t}_threads": v[1] / tvm_median for t, v in eager.items()},
            "kernels": rows,
        }
        report["architectures"][role] = entry
        print(f"{role} {point['arch_id']} (accuracy {point['accuracy']:.2f}): "
              f"TVM tuned {tvm_min:.3f}/{tvm_median:.3f} ms "
              f"(min/median); " + "; ".join(f"eager {t} thr {v[0]:.3f}/{v[1]:.3f} ms" for t, v in eager.items()))
        for row in rows:
            shape = row["gemm_shape"]
            print(f"   {row['kernel']:<40} x{row['calls']} {100 * row['share_of_flop']:5.1f}% FLOP  "
                  + ("unmeasured" if row["gflops"] is None else f"{row['gflops']:6.1f} GFLOP/s")
                  + ("" if shape is None else f"  (numpy GEMM {shape}: {row['numpy_gemm_gflops_same_shape']:.1f})")
                  + ("" if not row["in_turns"] else "; in turns {kernel_gflops:.1f} vs numpy {numpy_gflops:.1f} "
                     "GFLOP/s ({ratio:.0%})".format(**row["in_turns"])))

    for role, point in picks.items():
        measure(role, point, args.work_dir)
    if args.finish_trials_per_kernel > 0:
        import shutil
        import tempfile

        from tvm_nacos.export import search_cost_model
        from tvm_nacos.tuning import finish_architecture, tune_kernels
        from tvm_nacos.workdir import WorkDir

        finished = tempfile.mkdtemp(prefix="best_architecture_finish_")
        shutil.copytree(Path(args.work_dir) / "tuning", Path(finished) / "tuning")
        for role, point in picks.items():
            sample = ArchSample.from_dict(point["sample"])
            start = time.perf_counter()
            cost_model = search_cost_model(WorkDir(args.work_dir)) if args.finish_cost_model == "search" else "xgb"
            if args.finish_top_kernels > 0:
                chosen = largest_kernels(sample, open_database(finished, target))[: args.finish_top_kernels]
                new_trials = tune_kernels([(task.name, task.mod, weight) for _, task, weight, _ in chosen],
                                          target=target, work_dir=finished,
                                          trials_per_kernel=args.finish_trials_per_kernel, cost_model=cost_model,
                                          schedule_options=args.finish_schedule_options)
            else:
                new_trials = finish_architecture(mod, sample, target=target, work_dir=finished,
                                                 trials_per_kernel=args.finish_trials_per_kernel,
                                                 cost_model=cost_model, schedule_options=args.finish_schedule_options)
            secs = time.perf_counter() - start
            ctx.progress("%s: finishing tune, %d new trials in %.0f s", role, new_trials, secs)
            measure(f"{role} after finishing", point, finished)
            report["architectures"][f"{role} after finishing"]["finishing"] = {
                "trials_per_kernel": args.finish_trials_per_kernel, "new_trials": new_trials,
                "kernels": args.finish_top_kernels or "all",
                "cost_model": args.finish_cost_model, "schedule_options": args.finish_schedule_options,
                "secs": round(secs, 1), "trials_per_min": round(60 * new_trials / secs, 1) if secs else None,
            }
    return report


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """numpy's GEMM rate; per architecture, TVM's median, eager's medians and the speedups."""
    out: dict[str, Any] = {"numpy_gemm_1024_gflops": result["numpy_gemm_1024_gflops"]}
    for role, entry in result["architectures"].items():
        out[f"{role}.accuracy"] = entry["accuracy"]
        out[f"{role}.tvm_tuned_ms.median"] = entry["tvm_tuned_ms"]["median"]
        for threads, times in entry["pytorch_eager_ms"].items():
            out[f"{role}.eager_{threads}_ms.median"] = times["median"]
        for threads, speedup in entry["speedup_vs_eager_median"].items():
            out[f"{role}.speedup_vs_eager_{threads}"] = speedup
    return out


BENCHMARK = Benchmark(name="best_architecture", doc=__doc__, add_arguments=add_arguments, run=run,
                      summarize=summarize)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
