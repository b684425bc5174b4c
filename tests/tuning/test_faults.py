"""Faulty kernels and the output check: MetaSchedule's own runner survives kernels that crash or
hang, and the checking runner rejects a kernel whose outputs are wrong and only that one."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tvm
from tuning_helpers import matmul

from tvm_nacos._compat import meta_schedule
from tvm_nacos.cosearch.schedule_strategy import NACOSSearchStrategy
from tvm_nacos.testing.fake import DeterministicRunner
from tvm_nacos.testing.faults import FaultPlanBuilder, FaultyBuild
from tvm_nacos.tuning import MeasureConfig, PersistentBuilder, make_runner
from tvm_nacos.tuning.check import CHECK_FILE_SUFFIX, compare_outputs
from tvm_nacos.tuning.intrin import register_tensor_intrinsics
from tvm_nacos.tuning.runner import CheckingLocalRunner, RunnerSpecError, shutdown_runner

ms = meta_schedule()
TARGET = tvm.target.Target({"kind": "llvm", "num-cores": 2})
FAST = {"number": 1, "repeat": 1, "min_repeat_ms": 0}


def _inputs(builds: list, mods: list) -> list:
    return [
        ms.runner.RunnerInput(b.artifact_path, "cpu", ms.arg_info.ArgInfo.from_prim_func(m["main"]))
        for b, m in zip(builds, mods, strict=True)
    ]


def test_local_runner_survives_kernels_that_crash_or_hang() -> None:
    mods = [matmul(16), matmul(16, "crashme"), matmul(16, "hangme")]
    f_build = FaultyBuild("run-crash", "crashme", build=FaultyBuild("run-hang", "hangme", hang_sec=60))
    builder = PersistentBuilder(max_workers=1, f_build=f_build)
    try:
        builds = builder.build([ms.builder.BuilderInput(m, TARGET) for m in mods])
    finally:
        builder.shutdown()
    assert [b.error_msg for b in builds] == [None] * 3  # the kernels build; they fail when run
    runner = ms.runner.LocalRunner(timeout_sec=1, evaluator_config=MeasureConfig(**FAST).evaluator_config())
    try:
        results = [f.result() for f in runner.run(_inputs(builds, mods))]
    finally:
        shutdown_runner(runner)  # not left to the garbage collector: that can deadlock a later test
    assert results[0].error_msg is None and float(results[0].run_secs[0]) > 0
    assert results[1].error_msg == "LocalRunner: An exception occurred\nSubprocess terminated"
    assert results[2].error_msg == "LocalRunner: Timeout, killed after 1 seconds\n"


def _candidates(mod: tvm.IRModule, count: int) -> list:
    """``count`` scheduled candidates of ``mod`` from MetaSchedule's search (random cost model)."""
    register_tensor_intrinsics(TARGET)  # without them, design-space generation takes 50× longer
    context = ms.TuneContext(mod=mod, target=TARGET, space_generator="post-order-apply",
                             search_strategy=NACOSSearchStrategy(), task_name="mm", num_threads=1, rand_state=1)
    context.pre_tuning(max_trials=64, num_trials_per_iter=count, design_spaces=context.generate_design_space(),
                       database=ms.database.MemoryDatabase(), cost_model=ms.cost_model.RandomModel())
    return list(context.generate_measure_candidates())


def test_output_check_rejects_wrong_kernels_and_only_those(tmp_path) -> None:
    # B is a constant weight: MetaSchedule rewrites its layout, which the timed build drops and
    # the check build keeps.
    task = tvm.IRModule({"main": matmul(32)["main"].with_attr("layout_free_buffers", [1])})
    candidates = _candidates(task, 3)
    mods = [c.sch.mod for c in candidates] + [matmul(24), matmul(16)]
    plan = {1: "wrong-output"}  # the second candidate computes nothing
    builder = FaultPlanBuilder(plan, max_workers=2, check_outputs=True)
    builder.add_reference(task)
    builder.add_reference(matmul(16))  # matmul(24) has no reference
    try:
        builds = builder.build([ms.builder.BuilderInput(m, TARGET) for m in mods])
    finally:
        builder.shutdown()
    assert [b.error_msg for b in builds] == [None] * 5
    os.remove(builds[4].artifact_path + CHECK_FILE_SUFFIX)  # as if built without the check
    runner = make_runner("local", measure=MeasureConfig(**FAST, timeout_sec=10, check_outputs=True))
    assert isinstance(runner, CheckingLocalRunner)
    args_info = [c.args_info for c in candidates] + [
        ms.arg_info.ArgInfo.from_prim_func(m["main"]) for m in (matmul(24), matmul(16))
    ]
    inputs = [ms.runner.RunnerInput(b.artifact_path, "cpu", a) for b, a in zip(builds, args_info, strict=True)]
    try:
        results = [f.result() for f in runner.run(inputs)]
    finally:
        runner.shutdown()
    errors = [r.error_msg for r in results]
    assert errors[0] is None and errors[2] is None  # correct schedules pass, layout rewrite or not
    assert all(float(s) > 0 for s in results[0].run_secs)
    assert errors[1].startswith("CheckingLocalRunner: output mismatch: max abs error ")
    assert "> tol" in errors[1] and "in argument 2 of 3, against the unscheduled kernel" in errors[1]
    assert "no reference kernel has this candidate's signature" in errors[3]
    assert "PersistentBuilder.add_reference" in errors[3]
    assert f"no {CHECK_FILE_SUFFIX} beside" in errors[4] and "PersistentBuilder(check_outputs=True)" in errors[4]
    assert runner.num_mismatches == 1


def test_compare_outputs() -> None:
    ref = np.array([1.0, -2.0, np.nan, 4.0], dtype="float32")
    assert compare_outputs([ref.copy()], [ref], rtol=1e-3, atol=1e-5) is None  # NaN where the reference has NaN
    close = ref + np.float32(1e-4)
    assert compare_outputs([close], [ref], rtol=1e-3, atol=1e-5) is None  # within 1e-5 + 1e-3 * 4
    off = ref.copy()
    off[1] = -2.5
    assert compare_outputs([ref, off], [ref, ref], rtol=1e-3, atol=1e-5) == (
        "output mismatch: max abs error 0.5 > tol 0.00401 in argument 1 of 2, against the unscheduled kernel"
    )
    nan = ref.copy()
    nan[0] = np.nan
    assert "max abs error inf" in compare_outputs([nan], [ref], rtol=1e-3, atol=1e-5)
    assert "has shape (3,), the reference (4,)" in compare_outputs([ref[:3]], [ref], rtol=0, atol=0)


def test_bad_fault_and_check_options() -> None:
    with pytest.raises(ValueError, match="hits nothing: give a marker or every=n"):
        FaultyBuild("crash")
    with pytest.raises(ValueError, match=r"unknown fault kinds \{2: 'melt'\}"):
        FaultPlanBuilder({2: "melt"})
    with pytest.raises(RunnerSpecError, match="check_outputs runs on the local runner only"):
        make_runner("rpc://127.0.0.1:9190/k", measure=MeasureConfig(check_outputs=True))
    with pytest.raises(RunnerSpecError, match="configure that object instead"):
        make_runner(DeterministicRunner(), measure=MeasureConfig())
    with pytest.raises(ValueError, match="check_outputs=True"):
        PersistentBuilder().add_reference(matmul(8))
    with pytest.raises(ValueError, match="check tolerances must be >= 0"):
        MeasureConfig(check_rtol=-1.0)
    with pytest.raises(ValueError, match=r"always checks outputs: pass MeasureConfig\(check_outputs=True"):
        CheckingLocalRunner(MeasureConfig())
