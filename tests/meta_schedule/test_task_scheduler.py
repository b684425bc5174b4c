"""MetaSchedule's task-scheduler tests, run with MetaSchedule's strategies and ours.

Ported from apache/tvm v0.27, ``tests/python/s_tir/meta_schedule/test_meta_schedule_task_scheduler.py``
(unchanged from tag ``v0.27.dev0``, 68ba2b31c2, through main 5d4dc87213): the same modules,
schedules, schedulers, budgets and assertions, each case parametrized over the search strategy
of its tasks (upstream: ``ReplayTrace``).

Upstream passes ``cost_model=None``, which ``EvolutionarySearch`` refuses in ``pre_tuning``
("CostModel is not supplied"), and its schedule functions fix every split factor, so an
evolutionary search would find one schedule per task: those cases are strict xfails for
``EvolutionarySearch`` and ours alike. The cases after them are ours: the same schedulers
(round-robin, gradient-based) through ``ms.tune_tasks`` with a cost model and a space to search,
with an empty database and with the records of an earlier session, checking the trial budget,
the batch sizes and what our strategy reports.
"""

from __future__ import annotations

import random
import weakref

import pytest
import tvm
from strategies import DATABASES, EVOLUTIONARY, TARGET, make_strategy, skips_measured
from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.testing.dummy_object import DummyBuilder, DummyRunner
from tvm.s_tir.schedule import Schedule
from tvm.script import tirx as T

from tvm_nacos._compat import meta_schedule

ms = meta_schedule()



@tvm.script.ir_module
class MatmulModule:
    @T.prim_func(s_tir=True)
    def main(a: T.handle, b: T.handle, c: T.handle) -> None:  # type: ignore
        T.func_attr({"global_symbol": "main", "tirx.noalias": True})
        A = T.match_buffer(a, (1024, 1024), "float32")
        B = T.match_buffer(b, (1024, 1024), "float32")
        C = T.match_buffer(c, (1024, 1024), "float32")
        for i, j, k in T.grid(1024, 1024, 1024):
            with T.sblock("matmul"):
                vi, vj, vk = T.axis.remap("SSR", [i, j, k])
                with T.init():
                    C[vi, vj] = 0.0  # type: ignore
                C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]


@tvm.script.ir_module
class MatmulReluModule:
    @T.prim_func(s_tir=True)
    def main(a: T.handle, b: T.handle, d: T.handle) -> None:  # type: ignore
        T.func_attr({"global_symbol": "main", "tirx.noalias": True})
        A = T.match_buffer(a, (1024, 1024), "float32")
        B = T.match_buffer(b, (1024, 1024), "float32")
        D = T.match_buffer(d, (1024, 1024), "float32")
        C = T.sblock_alloc_buffer((1024, 1024), "float32")
        for i, j, k in T.grid(1024, 1024, 1024):
            with T.sblock("matmul"):
                vi, vj, vk = T.axis.remap("SSR", [i, j, k])
                with T.init():
                    C[vi, vj] = 0.0  # type: ignore
                C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
        for i, j in T.grid(1024, 1024):
            with T.sblock("relu"):
                vi, vj = T.axis.remap("SS", [i, j])
                D[vi, vj] = T.max(C[vi, vj], 0.0)  # type: ignore


@tvm.script.ir_module
class BatchMatmulModule:
    @T.prim_func(s_tir=True)
    def main(a: T.handle, b: T.handle, c: T.handle) -> None:  # type: ignore
        T.func_attr({"global_symbol": "main", "tirx.noalias": True})
        A = T.match_buffer(a, [16, 128, 128])
        B = T.match_buffer(b, [16, 128, 128])
        C = T.match_buffer(c, [16, 128, 128])
        for n, i, j, k in T.grid(16, 128, 128, 128):
            with T.sblock("matmul"):
                vn, vi, vj, vk = T.axis.remap("SSSR", [n, i, j, k])
                with T.init():
                    C[vn, vi, vj] = 0.0  # type: ignore
                C[vn, vi, vj] = C[vn, vi, vj] + A[vn, vi, vk] * B[vn, vj, vk]




def _schedule_matmul(sch: Schedule) -> None:
    block = sch.get_sblock("matmul")
    i, j, k = sch.get_loops(block=block)
    i_0, i_1, i_2, i_3 = sch.split(loop=i, factors=[2, 4, 64, 2])
    j_0, j_1, j_2, j_3 = sch.split(loop=j, factors=[4, 64, 2, 2])
    k_0, k_1 = sch.split(loop=k, factors=[32, 32])
    sch.reorder(i_0, j_0, i_1, j_1, k_0, i_2, j_2, k_1, i_3, j_3)


def _schedule_batch_matmul(sch: Schedule) -> None:
    block = sch.get_sblock("matmul")
    i, j, k, t = sch.get_loops(block=block)
    i_0, i_1, i_2, i_3 = sch.split(loop=i, factors=[2, 2, 2, 2])
    j_0, j_1, j_2, j_3 = sch.split(loop=j, factors=[2, 4, 64, 2])
    k_0, k_1 = sch.split(loop=k, factors=[32, 32])
    t_0, t_1 = sch.split(loop=t, factors=[2, 512])
    sch.reorder(i_0, j_0, i_1, j_1, k_0, i_2, j_2, k_1, i_3, j_3, t_0, t_1)


@derived_object
class MyTaskScheduler(ms.task_scheduler.PyTaskScheduler):
    done: set = set()

    def next_task_id(self) -> int:
        tasks = self._outer().tasks_
        while len(self.done) != len(tasks):
            x = random.randint(0, len(tasks) - 1)
            task = tasks[x]
            if not task.is_terminated:
                if task.runner_futures is not None:
                    self.join_running_task(x)
                return x
            self.done.add(x)
        return -1


#: Upstream's strategy, then the evolutionary ones, which refuse ``cost_model=None``.
UPSTREAM_KINDS = [
    pytest.param("replay-trace", id="replay-trace"),
    *[
        pytest.param(kind, id=kind, marks=pytest.mark.xfail(
            strict=True, raises=ValueError, reason="EvolutionarySearch refuses cost_model=None in pre_tuning"))
        for kind in EVOLUTIONARY
    ],
]


def _three_tasks(kind: str) -> list[ms.TuneContext]:
    return [
        ms.TuneContext(MatmulModule, num_threads=1, target=tvm.target.Target("llvm"), space_generator=_schedule_matmul,
                       search_strategy=make_strategy(kind), task_name="Matmul", rand_state=42),
        ms.TuneContext(MatmulReluModule, num_threads=1, target=tvm.target.Target("llvm"),
                       space_generator=_schedule_matmul, search_strategy=make_strategy(kind), task_name="MatmulRelu",
                       rand_state=0xDEADBEEF),
        ms.TuneContext(BatchMatmulModule, num_threads=1, target=tvm.target.Target("llvm"),
                       space_generator=_schedule_batch_matmul, search_strategy=make_strategy(kind),
                       task_name="BatchMatmul", rand_state=0x114514),
    ]


@pytest.mark.parametrize("kind", UPSTREAM_KINDS)
def test_meta_schedule_task_scheduler_single(kind: str) -> None:
    device_types: list[str] = []

    @derived_object
    class RecordingRunner(ms.runner.PyRunner):
        def run(self, runner_inputs: list[ms.runner.RunnerInput]) -> list[ms.runner.RunnerFuture]:
            device_types.extend(str(runner_input.device_type) for runner_input in runner_inputs)
            return DummyRunner().run(runner_inputs)

    num_trials_per_iter = 3
    max_trials_per_task = 10
    database = ms.database.MemoryDatabase()
    round_robin = ms.task_scheduler.RoundRobin()
    round_robin.tune(
        [ms.TuneContext(MatmulModule, num_threads=1, target=tvm.target.Target("llvm"), space_generator=_schedule_matmul,
                        search_strategy=make_strategy(kind), task_name="Test", rand_state=42)],
        [1.0],
        max_trials_global=num_trials_per_iter,
        max_trials_per_task=max_trials_per_task,
        num_trials_per_iter=64,
        builder=DummyBuilder(),
        runner=RecordingRunner(),
        database=database,
        measure_callbacks=[ms.measure_callback.AddToDatabase()],
        cost_model=None,
    )
    assert len(database) == max_trials_per_task
    assert device_types == ["cpu"] * max_trials_per_task


@pytest.mark.parametrize("kind", UPSTREAM_KINDS)
def test_meta_schedule_task_scheduler_multiple(kind: str) -> None:
    num_trials_per_iter = 6
    max_trials_per_task = 101
    tasks = _three_tasks(kind)
    database = ms.database.MemoryDatabase()
    round_robin = ms.task_scheduler.RoundRobin()
    round_robin.tune(
        tasks,
        [1.0, 1.0, 1.0],
        builder=DummyBuilder(),
        runner=DummyRunner(),
        database=database,
        measure_callbacks=[ms.measure_callback.AddToDatabase()],
        max_trials_global=max_trials_per_task * len(tasks),
        max_trials_per_task=max_trials_per_task,
        num_trials_per_iter=num_trials_per_iter,
        cost_model=None,
    )
    assert len(database) == max_trials_per_task * len(tasks)
    for task in tasks:
        assert len(database.get_top_k(database.commit_workload(task.mod), 100000)) == max_trials_per_task


def test_meta_schedule_task_scheduler_NIE() -> None:
    @derived_object
    class NIETaskScheduler(ms.task_scheduler.PyTaskScheduler):
        pass

    with pytest.raises(ValueError, match="next_task_id is not defined"):
        scheduler = NIETaskScheduler()
        scheduler.next_task_id()


def test_meta_schedule_task_scheduler_avoid_cyclic() -> None:
    scheduler = MyTaskScheduler()
    test = weakref.ref(scheduler)  # test if it can be destructed successfully
    del scheduler
    assert test() is None


@pytest.mark.parametrize("kind", UPSTREAM_KINDS)
def test_meta_schedule_task_scheduler_override_next_task_id_only(kind: str) -> None:
    max_trials_per_task = 101
    tasks = _three_tasks(kind)
    database = ms.database.MemoryDatabase()
    scheduler = MyTaskScheduler()
    scheduler.tune(
        tasks,
        task_weights=[1.0] * len(tasks),
        builder=DummyBuilder(),
        runner=DummyRunner(),
        database=database,
        measure_callbacks=[ms.measure_callback.AddToDatabase()],
        max_trials_global=max_trials_per_task * len(tasks),
        max_trials_per_task=max_trials_per_task,
        num_trials_per_iter=6,
        cost_model=None,
    )
    assert len(database) == max_trials_per_task * len(tasks)
    for task in tasks:
        assert len(database.get_top_k(database.commit_workload(task.mod), 100000)) == max_trials_per_task


@pytest.mark.parametrize("kind", UPSTREAM_KINDS)
def test_meta_schedule_task_scheduler_multiple_gradient_based(kind: str) -> None:
    max_trials_per_task = 101
    tasks = _three_tasks(kind)
    database = ms.database.MemoryDatabase()
    gradient_based = ms.task_scheduler.GradientBased()
    gradient_based.tune(
        tasks,
        task_weights=[1.0, 1.0, 1.0],
        builder=DummyBuilder(),
        runner=DummyRunner(),
        database=database,
        measure_callbacks=[ms.measure_callback.AddToDatabase()],
        max_trials_global=max_trials_per_task * len(tasks),
        max_trials_per_task=max_trials_per_task,
        num_trials_per_iter=6,
        cost_model=None,
    )
    assert len(database) == max_trials_per_task * len(tasks)
    for task in tasks:
        assert len(database.get_top_k(database.commit_workload(task.mod), 10000)) == max_trials_per_task


@pytest.mark.parametrize("kind", UPSTREAM_KINDS)
def test_meta_schedule_task_scheduler_gradient_based_with_null_search_strategy(kind: str) -> None:
    """When the search strategy of one task returns an empty list of candidates or None,
    the scheduler goes on with the other tasks."""

    @derived_object
    class NullSearchStrategy(ms.search_strategy.PySearchStrategy):
        def __init__(self, rounds_with_empty_candidates):
            self.rounds_with_empty_candidates = rounds_with_empty_candidates

        def _initialize_with_tune_context(self, context: ms.TuneContext) -> None:
            pass

        def pre_tuning(self, *args, **kwargs):
            pass

        def post_tuning(self):
            pass

        def generate_measure_candidates(self):
            """An empty list: no result from the search this time, but it has not ended."""
            if self.rounds_with_empty_candidates:
                self.rounds_with_empty_candidates -= 1
                return []
            return None

        def notify_runner_results(self, *args, **kwargs):
            pass

        def clone(self):
            return NullSearchStrategy(self.rounds_with_empty_candidates)

    tasks = [
        ms.TuneContext(MatmulModule, num_threads=1, target=tvm.target.Target("llvm"), space_generator=_schedule_matmul,
                       search_strategy=NullSearchStrategy(rounds_with_empty_candidates=5), task_name="Matmul",
                       rand_state=42),
        ms.TuneContext(BatchMatmulModule, num_threads=1, target=tvm.target.Target("llvm"),
                       space_generator=_schedule_batch_matmul,
                       search_strategy=NullSearchStrategy(rounds_with_empty_candidates=0), task_name="BatchMatmul",
                       rand_state=0x114514),
        ms.TuneContext(MatmulReluModule, num_threads=1, target=tvm.target.Target("llvm"),
                       space_generator=_schedule_matmul, search_strategy=make_strategy(kind), task_name="MatmulRelu",
                       rand_state=0xDEADBEEF),
    ]
    database = ms.database.MemoryDatabase()
    gradient_based = ms.task_scheduler.GradientBased()
    gradient_based.tune(
        tasks,
        task_weights=[1.0, 1.0, 1.0],
        builder=DummyBuilder(),
        runner=DummyRunner(),
        database=database,
        measure_callbacks=[ms.measure_callback.AddToDatabase()],
        max_trials_global=30,
        max_trials_per_task=10,
        num_trials_per_iter=6,
        cost_model=None,
    )
    assert len(database) == 10
    assert len(database.get_top_k(database.commit_workload(MatmulModule), 100)) == 0
    assert len(database.get_top_k(database.commit_workload(BatchMatmulModule), 100)) == 0
    assert len(database.get_top_k(database.commit_workload(MatmulReluModule), 100)) == 10


# --- ours: the same schedulers with a cost model and a space to search -------------------------


def _schedule_matmul_sampled(sch: Schedule) -> None:
    """``_schedule_matmul`` with sampled tile sizes (thousands of schedules)."""
    block = sch.get_sblock("matmul")
    i, j, k = sch.get_loops(block=block)[-3:]
    i_0, i_1, i_2, i_3 = sch.split(i, sch.sample_perfect_tile(i, n=4))
    j_0, j_1, j_2, j_3 = sch.split(j, sch.sample_perfect_tile(j, n=4))
    k_0, k_1 = sch.split(k, sch.sample_perfect_tile(k, n=2))
    sch.reorder(i_0, j_0, i_1, j_1, k_0, i_2, j_2, k_1, i_3, j_3)


@derived_object
class BatchSizes(ms.measure_callback.PyMeasureCallback):
    """Records the size of every batch measured, per task."""

    def __init__(self) -> None:
        self.sizes: dict[int, list[int]] = {}

    def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results) -> None:
        self.sizes.setdefault(int(task_id), []).append(len(measure_candidates))


def _tune_three(kind: str, scheduler: str, database, *, max_trials_per_task: int, num_trials_per_iter: int):
    tasks = [
        ms.TuneContext(mod, num_threads=1, target=TARGET, task_name=name, rand_state=seed,
                       space_generator=ms.space_generator.ScheduleFn(_schedule_matmul_sampled, sch_rules=[],
                                                                     postprocs=[], mutator_probs={}),
                       search_strategy=make_strategy(kind, population_size=16, init_min_unmeasured=8,
                                                     genetic_num_iters=1))
        for mod, name, seed in [(MatmulModule, "Matmul", 42), (MatmulReluModule, "MatmulRelu", 0xDEADBEEF),
                                (BatchMatmulModule, "BatchMatmul", 0x114514)]
    ]
    sizes = BatchSizes()
    ms.task_scheduler.TaskScheduler.create(scheduler).tune(
        tasks,
        task_weights=[1.0, 1.0, 1.0],
        builder=DummyBuilder(),
        runner=DummyRunner(),
        database=database,
        # The dummy builder's artifact is a fake path: no RemoveBuildArtifact.
        measure_callbacks=[ms.measure_callback.AddToDatabase(), ms.measure_callback.UpdateCostModel(), sizes],
        max_trials_global=max_trials_per_task * len(tasks),
        max_trials_per_task=max_trials_per_task,
        num_trials_per_iter=num_trials_per_iter,
        cost_model=ms.cost_model.RandomModel(),
    )
    return tasks, sizes.sizes


@pytest.mark.parametrize("database_state", DATABASES)
@pytest.mark.parametrize("scheduler", ["round-robin", "gradient"])
@pytest.mark.parametrize("kind", EVOLUTIONARY)
def test_tune_tasks_keeps_the_budget_and_full_batches(kind: str, scheduler: str, database_state: str) -> None:
    max_trials_per_task, num_trials_per_iter = 20, 6
    database = ms.database.MemoryDatabase()
    if database_state == "with-records":  # an earlier session, same seeds: the same first proposals
        _tune_three(kind, scheduler, database, max_trials_per_task=max_trials_per_task,
                    num_trials_per_iter=num_trials_per_iter)
    before = len(database)
    tasks, sizes = _tune_three(kind, scheduler, database, max_trials_per_task=max_trials_per_task,
                               num_trials_per_iter=num_trials_per_iter)
    assert len(database) - before == max_trials_per_task * len(tasks)
    for task_id, task in enumerate(tasks):
        records = database.get_top_k(database.commit_workload(task.mod), 100000)
        assert len(records) == max_trials_per_task * (2 if database_state == "with-records" else 1)
        assert sizes[task_id] == [6, 6, 6, 2], (task.task_name, sizes[task_id])
        if skips_measured(kind):  # never the same schedule twice
            assert len({str(r.trace) for r in records}) == len(records)
