"""Where a candidate's build time goes, and whether LLVM's optimization level buys any of it back.

Draws one batch of schedule candidates for a 256×256×256 float32 matmul, or (``--workload
cnn``) for each convolution task of ``bench/builder_throughput.py``'s CNN (MetaSchedule's
evolutionary search with a random cost model, fixed seed), then, in this process:

1. builds each as :func:`tvm_nacos.tuning.builder.build_candidate` does, timing its phases:
   layout-rewrite removal, the TIR lowering pipeline, host finalization, LLVM code generation,
   and writing the object file (LLVM's machine-code emission); then, for comparison, the same
   module exported as a tar, as MetaSchedule's builder does;
2. (matmul only) builds the batch again at each LLVM ``opt-level`` (3, 2, 1, 0) and times the
   compiled kernels, to see whether a cheaper build would still measure what the final compile runs.

Usage::

    python bench/run.py build_breakdown --config matmul
    python bench/run.py build_breakdown --config cnn
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np
from harness import Benchmark, RunContext, main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The workload, the batch size and the seed of the candidates."""
    parser.add_argument("--workload", default="matmul", choices=["matmul", "cnn"])
    parser.add_argument("--candidates", type=int, default=16, help="schedule candidates per kernel")
    parser.add_argument("--seed", type=int, default=1)


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """Build phases per kernel, and (matmul) build and kernel time per LLVM opt-level."""
    from builder_throughput import cnn_kernels, matmul_kernels

    from tvm_nacos.target import host_target
    from tvm_nacos.tuning.intrin import register_tensor_intrinsics

    target = host_target()
    register_tensor_intrinsics(target)
    kernels = matmul_kernels() if args.workload == "matmul" else cnn_kernels(target, None)
    folder = tempfile.mkdtemp(prefix="nacos-build-breakdown-")
    by_kernel, levels = {}, {}
    for name, mod, _ in kernels:
        candidates = _draw_candidates(mod, target, args.candidates, args.seed)
        by_kernel[name] = _time_phases(candidates, target, folder)
        ctx.progress("%s: build phases, ms per candidate: %s", name, json.dumps(by_kernel[name]))
        if args.workload == "matmul":
            levels = _opt_levels(candidates, target, folder, ctx)
    per_candidate_ms = by_kernel[kernels[0][0]] if len(kernels) == 1 else None
    return {"target": str(target), "workload": args.workload, "phases_ms_per_candidate": per_candidate_ms,
            "phases_ms_per_candidate_by_kernel": by_kernel, "opt_levels": levels}


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Milliseconds per candidate in each phase, per kernel, and per opt-level (matmul)."""
    out: dict[str, Any] = {}
    by_kernel = result.get("phases_ms_per_candidate_by_kernel") or {"matmul256": result["phases_ms_per_candidate"]}
    for kernel, phases in by_kernel.items():
        out.update({f"{kernel}.{phase}": ms for phase, ms in phases.items()})
    for level, figures in (result.get("opt_levels") or {}).items():
        out[f"opt-level {level}.build_ms_per_candidate"] = figures["build_ms_per_candidate"]
    return out


def _draw_candidates(mod, target, num: int, seed: int) -> list:
    """One batch of ``num`` schedule candidates of ``mod`` (evolutionary search, random cost model)."""
    from tvm_nacos._compat import meta_schedule

    ms = meta_schedule()
    context = ms.TuneContext(
        mod=mod, target=target, space_generator="post-order-apply", num_threads=1, rand_state=seed,
        search_strategy=ms.search_strategy.EvolutionarySearch(population_size=64, init_min_unmeasured=16,
                                                              genetic_num_iters=1),
    )
    context.pre_tuning(max_trials=num, num_trials_per_iter=num, design_spaces=context.generate_design_space(),
                       database=ms.database.MemoryDatabase(), cost_model=ms.cost_model.RandomModel())
    return context.generate_measure_candidates()


def _time_phases(candidates, target, folder: str) -> dict:
    """Milliseconds per candidate in each phase of ``build_candidate``, and a tar export for comparison."""
    import tvm
    from tvm.support.tar import tar
    from tvm.tirx.build import split_host_device_mods, tir_to_runtime

    from tvm_nacos.tuning.builder import without_layout_rewrite

    phases = {"remove layout rewrite": 0.0, "TIR pipeline": 0.0, "host finalization": 0.0, "LLVM codegen": 0.0,
              "write object file (.o)": 0.0}
    tar_export_secs = 0.0  # what MetaSchedule's export does instead of the .o: export_library as a tar
    for i, candidate in enumerate(candidates):
        t0 = time.perf_counter()
        scheduled = without_layout_rewrite(candidate.sch.mod)
        t1 = time.perf_counter()
        bound = tvm.tirx.transform.BindTarget(target.with_host(target))(scheduled)
        pipeline, finalize_host, _ = tvm.tirx.get_default_tir_pipeline(target)
        lowered = pipeline(bound)
        t2 = time.perf_counter()
        host, _ = split_host_device_mods(lowered)
        host = finalize_host()(host)
        t3 = time.perf_counter()
        runtime = tir_to_runtime(host, {}, target)
        t4 = time.perf_counter()
        runtime.write_to_file(os.path.join(folder, f"c{i}.o"))
        t5 = time.perf_counter()
        runtime.export_library(os.path.join(folder, f"c{i}.tar"), fcompile=tar)
        tar_export_secs += time.perf_counter() - t5
        for name, secs in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            phases[name] += secs
    per_candidate_ms = {name: round(secs / len(candidates) * 1e3, 1) for name, secs in phases.items()}
    per_candidate_ms["total"] = round(sum(phases.values()) / len(candidates) * 1e3, 1)
    per_candidate_ms["export as tar instead of .o"] = round(tar_export_secs / len(candidates) * 1e3, 1)
    return per_candidate_ms


def _opt_levels(candidates, target, folder: str, ctx: RunContext) -> dict:
    """Build time and kernel time of the matmul batch at each LLVM ``opt-level``."""
    import tvm
    from tvm.support.tar import tar

    from tvm_nacos._compat import tirx
    from tvm_nacos.tuning.builder import without_layout_rewrite

    n = 256
    device = tvm.cpu()
    rng = np.random.default_rng(0)
    arrays = [tvm.runtime.tensor(rng.random((n, n), dtype=np.float32), device) for _ in range(2)]
    arrays.append(tvm.runtime.tensor(np.zeros((n, n), dtype=np.float32), device))
    levels = {}
    base = {key: value for key, value in target.export().items() if key in ("kind", "mcpu", "num-cores", "mtriple")}
    for level in (3, 2, 1, 0):
        leveled = tvm.target.Target({**base, "opt-level": level})
        build_secs, run_us = 0.0, []
        for i, candidate in enumerate(candidates):
            t0 = time.perf_counter()
            runtime = tirx.build(without_layout_rewrite(candidate.sch.mod), target=leveled)
            runtime.export_library(os.path.join(folder, f"o{level}_{i}.tar"), fcompile=tar)
            build_secs += time.perf_counter() - t0
            timer = runtime.time_evaluator("main", device, number=5, repeat=3, min_repeat_ms=20)
            run_us.append(round(min(timer(*arrays).results) * 1e6, 1))
        levels[level] = {"build_ms_per_candidate": round(build_secs / len(candidates) * 1e3, 1), "run_us": run_us}
        ctx.progress("opt-level %d: build %s ms per candidate; kernels (us): %s", level,
                     levels[level]["build_ms_per_candidate"], run_us)
    return levels


BENCHMARK = Benchmark(
    name="build_breakdown",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={"matmul": [], "cnn": ["--workload", "cnn"], "smoke": ["--candidates", "2"]},
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
