"""Building ahead on one local device: a batch builds while the host proposes the next one, and
no build runs beside a timing."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import tvm
from tuning_helpers import host_cpu
from tvm.ir.utils import derived_object
from tvm.script import tirx as T

from tvm_nacos._compat import meta_schedule
from tvm_nacos.cosearch.cost_model import LatencyCostModel
from tvm_nacos.cosearch.measure_callbacks import MeasureCallback, default_callbacks
from tvm_nacos.cosearch.session import SearchSession, TaskTuner
from tvm_nacos.search_space import SearchSpace
from tvm_nacos.target import as_target
from tvm_nacos.testing.fake import DeterministicBuilder, DeterministicRunner
from tvm_nacos.tuning.builder import PendingBuild
from tvm_nacos.tuning.database import count_records

TARGET = host_cpu(2)
ms = meta_schedule()
BUILD_SECS = 0.03
RUN_SECS = 0.01


def _matmul(n: int) -> tvm.IRModule:
    @T.prim_func(s_tir=True)
    def matmul(a: T.Buffer((n, n), "float32"), b: T.Buffer((n, n), "float32"), c: T.Buffer((n, n), "float32")) -> None:
        for i, j, k in T.grid(n, n, n):
            with T.sblock("matmul"):
                vi, vj, vk = T.axis.remap("SSR", [i, j, k])
                with T.init():
                    c[vi, vj] = T.float32(0)
                c[vi, vj] = c[vi, vj] + a[vi, vk] * b[vk, vj]

    return tvm.IRModule({"main": matmul})


class _BackgroundBuilder:
    """Builds like :class:`DeterministicBuilder`, taking ``BUILD_SECS`` per candidate on a
    thread of its own, and keeps when each build ran."""

    def __init__(self) -> None:
        self._inner = DeterministicBuilder()
        self._pool = ThreadPoolExecutor(1)
        self.intervals: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def _build_one(self, build_input) -> object:
        start = time.perf_counter()
        time.sleep(BUILD_SECS)
        result = self._inner.build([build_input])[0]
        with self._lock:
            self.intervals.append((start, time.perf_counter()))
        return result

    def build(self, build_inputs):
        return self.build_async(build_inputs).result()

    def build_async(self, build_inputs) -> PendingBuild:
        futures = [self._pool.submit(self._build_one, b) for b in build_inputs]
        return PendingBuild(futures, lambda done: [f.result() for f in done])

    def shutdown(self) -> None:
        self._pool.shutdown()


@derived_object
class _TimedRunner(ms.runner.PyRunner):
    """:class:`DeterministicRunner`'s results, ``RUN_SECS`` per candidate, each run's interval kept."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = DeterministicRunner()
        self.intervals: list[tuple[float, float]] = []

    def run(self, runner_inputs):
        futures = []
        for runner_input in runner_inputs:
            start = time.perf_counter()
            time.sleep(RUN_SECS)
            self.intervals.append((start, time.perf_counter()))
            result = self.inner.result_of(runner_input)
            futures.append(ms.runner.LocalRunnerFuture(result.run_secs, result.error_msg))
        return futures


def _session(work_dir, builder, runner, **kwargs) -> SearchSession:
    return SearchSession(
        tvm.IRModule({}), SearchSpace([]), accuracy=lambda s: [0.0] * len(s), target=as_target(TARGET),
        work_dir=work_dir, budget=64, builder=builder, runner=runner, deterministic=True, **kwargs,
    )


def _overlapping(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple]:
    return [(x, y) for x in a for y in b if x[0] < y[1] and y[0] < x[1]]


def test_a_batch_builds_while_the_next_is_proposed_and_never_beside_a_run(tmp_path) -> None:
    builder, runner = _BackgroundBuilder(), _TimedRunner()
    session = _session(tmp_path, builder, runner)
    try:
        assert session.build_ahead
        first, second = TaskTuner(_matmul(32), "mm32", session), TaskTuner(_matmul(48), "mm48", session)
        assert first.measure(4) == 4
        # Handed to the builder, counted, not yet run or recorded.
        assert first.in_flight is not None and first.in_flight.building is not None
        assert session.trials_used == 4 and session.in_flight_trials == 4 and not runner.intervals
        assert count_records(tmp_path, session.target) == 0
        assert second.measure(4) == 4
        # The first batch ran (after the second was proposed) and landed; the second builds.
        assert first.in_flight is None and second.in_flight is not None
        assert count_records(tmp_path, session.target) == 4 and len(runner.intervals) == 4
        assert first.measure(4) == 4
        assert second.in_flight is None and count_records(tmp_path, session.target) == 8
        session.wait_for_any()
        assert session.in_flight_trials == 0 and count_records(tmp_path, session.target) == 12
    finally:
        session.close()
        builder.shutdown()
    assert len(builder.intervals) == len(runner.intervals) == 12
    assert not _overlapping(builder.intervals, runner.intervals), "a build ran beside a timing"
    times = session.times
    built = sum(end - start for start, end in builder.intervals)
    # The host waited for less than the builds took: it proposed the next batch meanwhile.
    assert times.seconds["build"] < built
    breakdown = times.breakdown(total_secs=60.0)
    assert breakdown["measuring"] >= built + sum(end - start for start, end in runner.intervals) - 0.05


def test_builders_without_a_background_build_and_remote_runs_measure_as_before(tmp_path) -> None:
    session = _session(tmp_path / "sync", DeterministicBuilder(), DeterministicRunner())
    try:
        assert not session.build_ahead  # nothing to gain: the batch lands at once
        tuner = TaskTuner(_matmul(32), "mm32", session)
        assert tuner.measure(4) == 4 and tuner.in_flight is None
        assert count_records(tmp_path / "sync", session.target) == 4
    finally:
        session.close()
    builder = _BackgroundBuilder()
    session = _session(tmp_path / "off", builder, DeterministicRunner(), build_ahead=False)
    try:
        assert not session.build_ahead
        tuner = TaskTuner(_matmul(32), "mm32", session)
        assert tuner.measure(4) == 4 and tuner.in_flight is None
    finally:
        session.close()
        builder.shutdown()


def test_closing_with_a_batch_building_drops_it_uncounted_and_deletes_its_artifacts(tmp_path) -> None:
    builder = _BackgroundBuilder()
    session = _session(tmp_path, builder, _TimedRunner())
    tuner = TaskTuner(_matmul(32), "mm32", session)
    tuner.measure(4)
    assert session.in_flight_trials == 4
    building = tuner.in_flight.building
    assert building is not None  # most likely still building (4 × 30 ms)
    session.close()
    builder.shutdown()
    assert session.trials_used == 0 and tuner.in_flight is None
    assert count_records(tmp_path, session.target) == 0
    folders = [os.path.dirname(b.artifact_path) for b in building.result()]
    assert len(folders) == 4 and not [f for f in folders if os.path.exists(f)], "a dropped batch's artifacts remain"


class _ThreadsSeen(MeasureCallback):
    """The cost model's XGBoost threads when each batch's results are taken in."""

    def __init__(self) -> None:
        self.nthread: list[int] = []

    def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results) -> None:
        self.nthread.append(task_scheduler.cost_model.nthread)


def test_the_cost_model_trains_on_the_cores_a_build_leaves_free(tmp_path) -> None:
    builder, seen = _BackgroundBuilder(), _ThreadsSeen()
    session = _session(tmp_path, builder, _TimedRunner(), cost_model=LatencyCostModel(nthread=2),
                       measure_callbacks=[*default_callbacks(), seen])
    try:
        first, second = TaskTuner(_matmul(32), "mm32", session), TaskTuner(_matmul(48), "mm48", session)
        first.measure(4)
        second.measure(4)  # the first batch lands while the second (4 builds) holds the cores
        session.wait_all()  # the second lands with nothing building
    finally:
        session.close()
        builder.shutdown()
    cores = len(os.sched_getaffinity(0))
    assert seen.nthread == [max(1, min(2, cores - 4)), 2]
    assert session.cost_model.nthread == 2
