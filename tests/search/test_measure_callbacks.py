"""A measured batch goes through the session's measure callbacks, in MetaSchedule's form."""

from __future__ import annotations

import json

import pytest
import tvm
from tuning_helpers import host_cpu
from tvm.ir.utils import derived_object
from tvm.script import tirx as T

from tvm_nacos._compat import meta_schedule
from tvm_nacos.cosearch.measure_callbacks import MeasureCallback, default_callbacks
from tvm_nacos.cosearch.session import SearchSession, TaskTuner
from tvm_nacos.search_space import SearchSpace
from tvm_nacos.target import as_target
from tvm_nacos.testing.fake import DeterministicBuilder, DeterministicRunner
from tvm_nacos.tuning.database import count_records

TARGET = host_cpu(2)
ms = meta_schedule()


@derived_object
class _EveryOtherFails(ms.runner.PyRunner):
    """The second, fourth... candidate of each batch fails to run; the others take 1 µs."""

    def run(self, runner_inputs):
        return [
            ms.runner.LocalRunnerFuture(None, "injected: run failed") if i % 2 else ms.runner.LocalRunnerFuture([1e-6], None)
            for i, _ in enumerate(runner_inputs)
        ]


@T.prim_func(s_tir=True)
def _matmul(a: T.Buffer((32, 32), "float32"), b: T.Buffer((32, 32), "float32"), c: T.Buffer((32, 32), "float32")) -> None:
    for i, j, k in T.grid(32, 32, 32):
        with T.sblock("matmul"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                c[vi, vj] = T.float32(0)
            c[vi, vj] = c[vi, vj] + a[vi, vk] * b[vk, vj]


class _Recorder(MeasureCallback):
    """Keeps what each call saw, and what the session said at that moment."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results) -> None:
        self.calls.append({
            "session": task_scheduler,
            "tuner": task_scheduler.task(task_id),
            "candidates": len(measure_candidates),
            "builds": len(builder_results),
            "results": len(runner_results),
            "trials_used": task_scheduler.trials_used,
        })


def _session(work_dir, budget: int = 8, **kwargs) -> SearchSession:
    return SearchSession(
        tvm.IRModule({}), SearchSpace([]), accuracy=lambda s: [0.0] * len(s), target=as_target(TARGET),
        work_dir=work_dir, budget=budget, builder=DeterministicBuilder(), deterministic=True, **kwargs,
    )


def test_the_default_pipeline_is_metaschedules_form_in_order() -> None:
    callbacks = default_callbacks()
    assert all(isinstance(c, ms.measure_callback.PyMeasureCallback) for c in callbacks)
    assert [type(c).__name__ for c in callbacks] == [
        "AddToSearchDatabase", "ShareBestSchedules", "LogFailures", "UpdateSharedCostModel", "RemoveBuildArtifacts",
        "SaveCheckpoint", "ReportProgress",
    ]


def test_a_batch_reaches_every_callback_with_its_task(tmp_path) -> None:
    recorder = _Recorder()
    session = _session(tmp_path, measure_callbacks=[*default_callbacks(), recorder], runner=DeterministicRunner())
    try:
        tuner = TaskTuner(tvm.IRModule({"main": _matmul}), "matmul", session)
        assert session.task(tuner.task_id) is tuner
        spent = tuner.measure(4)
    finally:
        session.close()
    assert spent == 4 and len(recorder.calls) == 1
    call = recorder.calls[0]
    assert call["session"] is session and call["tuner"] is tuner
    assert call["candidates"] == call["builds"] == call["results"] == 4
    assert call["trials_used"] == 4  # the batch is counted before the callbacks run
    # AddToSearchDatabase appended every candidate; SaveCheckpoint wrote the state after it.
    assert count_records(tmp_path, as_target(TARGET)) == 4
    state = json.loads((tmp_path / "search" / "state.json").read_text())
    assert state["trials_used"] == 4 and state["records_total"] == 4
    # ShareBestSchedules kept the best run time; UpdateSharedCostModel saw the batch.
    assert tuner.best_secs is not None and session.cost_model.num_samples == 4


def test_failures_are_counted_logged_and_kept_out_of_the_best(tmp_path) -> None:
    session = _session(tmp_path, runner=_EveryOtherFails())
    try:
        tuner = TaskTuner(tvm.IRModule({"main": _matmul}), "matmul", session)
        tuner.measure(4)
    finally:
        session.close()
    assert tuner.best_secs == pytest.approx(1e-6)
    failures = [json.loads(line) for line in (tmp_path / "search" / "failures.jsonl").read_text().splitlines()]
    assert len(failures) == session.num_failed == 2
    assert session.failure_reasons == {"injected": 2}
    assert {f["task"] for f in failures} == {"matmul"} and {f["trial"] for f in failures} == {0}
    assert count_records(tmp_path, as_target(TARGET)) == 4  # failed ones too, with the failure time


def test_a_pipeline_without_the_database_callback_records_nothing(tmp_path) -> None:
    # The callbacks are the whole bookkeeping: leave one out and its effect is gone.
    pipeline = [c for c in default_callbacks() if type(c).__name__ != "AddToSearchDatabase"]
    session = _session(tmp_path, measure_callbacks=pipeline, runner=DeterministicRunner())
    try:
        TaskTuner(tvm.IRModule({"main": _matmul}), "matmul", session).measure(2)
    finally:
        session.close()
    assert session.trials_used == 2
    assert count_records(tmp_path, as_target(TARGET)) == 0


def test_a_callback_error_is_not_swallowed(tmp_path) -> None:
    class Broken(MeasureCallback):
        def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results) -> None:
            raise RuntimeError("broken callback")

    session = _session(tmp_path, measure_callbacks=[Broken()], runner=DeterministicRunner())
    try:
        with pytest.raises(RuntimeError, match="broken callback"):
            TaskTuner(tvm.IRModule({"main": _matmul}), "matmul", session).measure(2)
    finally:
        session.close()
