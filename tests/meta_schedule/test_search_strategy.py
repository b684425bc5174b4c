"""MetaSchedule's search-strategy tests, run with MetaSchedule's strategies and ours.

Ported from apache/tvm v0.27, ``tests/python/s_tir/meta_schedule/test_meta_schedule_search_strategy.py``
(unchanged from tag ``v0.27.dev0``, 68ba2b31c2, through main 5d4dc87213): the same modules,
schedule functions, strategy settings, budgets and assertions. What differs:

- each case is parametrized over the strategies that fit it (``ReplayFunc``/``ReplayTrace``,
  ``EvolutionarySearch`` and :class:`~tvm_nacos.cosearch.schedule_strategy.NACOSSearchStrategy`)
  and over the database: empty, as upstream, or holding the records of an earlier session of the
  same task (same seed) — a resumed tuning;
- the replay test gives every strategy a database and a cost model (the evolutionary ones need
  both; the replay ones ignore them), a target and a seed;
- with records, the assertions that count trials say how many of them are new: our strategy
  never measures a schedule the database holds, MetaSchedule's measure it again.

The cases after the port are ours: ``clone()`` keeps every setting, and a resumed session whose
cost model learnt the records (so that the evolutionary search proposes them again) still gets
full batches within its budget.
"""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from strategies import (
    ALL,
    DATABASES,
    EVOLUTIONARY,
    TARGET,
    make_strategy,
    measured_keys,
    module_key,
    run_session,
    skips_measured,
)
from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.testing.dummy_object import DummyMutator
from tvm.s_tir.schedule import Schedule, Trace
from tvm.script import tirx as T

from tvm_nacos._compat import meta_schedule
from tvm_nacos.cosearch.schedule_strategy import NACOSSearchStrategy

ms = meta_schedule()

# fmt: off


@tvm.script.ir_module
class Matmul:
    @T.prim_func(s_tir=True)
    def main(a: T.handle, b: T.handle, c: T.handle) -> None:  # type: ignore
        T.func_attr({"global_symbol": "main"})
        A = T.match_buffer(a, (32, 32), "float32")
        B = T.match_buffer(b, (32, 32), "float32")
        C = T.match_buffer(c, (32, 32), "float32")
        for i, j, k in T.grid(32, 32, 32):
            with T.sblock("matmul"):
                vi, vj, vk = T.axis.remap("SSR", [i, j, k])
                with T.init():
                    C[vi, vj] = 0.0  # type: ignore
                C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]


@tvm.script.ir_module
class OtherBlock:
    @T.prim_func(s_tir=True)
    def main(a: T.handle, b: T.handle, c: T.handle) -> None:  # type: ignore
        T.func_attr({"global_symbol": "main"})
        A = T.match_buffer(a, (32, 32), "float32")
        B = T.match_buffer(b, (32, 32), "float32")
        C = T.match_buffer(c, (32, 32), "float32")
        for i, j, k in T.grid(32, 32, 32):
            with T.sblock("other"):
                vi, vj, vk = T.axis.remap("SSR", [i, j, k])
                with T.init():
                    C[vi, vj] = 0.0  # type: ignore
                C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]

# fmt: on

#: Seed of the tuning context: the earlier session (records) and the tested one draw alike.
RAND_STATE = 42

#: The evolutionary settings of the upstream tests.
EVOLUTION = {
    "population_size": 5,
    "init_measured_ratio": 0.1,
    "init_min_unmeasured": 50,
    "genetic_num_iters": 3,
    "genetic_mutate_prob": 0.5,
    "genetic_max_fail_count": 10,
    "eps_greedy": 0.9,
}


def _is_trace_equal(sch_1: Schedule, sch_2: Schedule, remove_decisions: bool = True) -> bool:
    if remove_decisions:
        trace_1 = Trace(sch_1.trace.insts, {})
        trace_2 = Trace(sch_2.trace.insts, {})
    else:
        trace_1 = sch_1.trace
        trace_2 = sch_2.trace
    return str(trace_1) == str(trace_2)


def _schedule_matmul(sch: Schedule) -> None:
    block = sch.get_sblock("matmul")
    i, j, k = sch.get_loops(block=block)
    i_0, i_1, i_2, i_3 = sch.split(i, sch.sample_perfect_tile(i, n=4))
    j_0, j_1, j_2, j_3 = sch.split(j, sch.sample_perfect_tile(j, n=4))
    k_0, k_1 = sch.split(k, sch.sample_perfect_tile(k, n=2))
    sch.reorder(i_0, j_0, i_1, j_1, k_0, i_2, j_2, k_1, i_3, j_3)


def _schedule_matmul_small(sch: Schedule) -> None:
    block = sch.get_sblock("matmul")
    _, j, k = sch.get_loops(block=block)
    _, _ = sch.split(j, sch.sample_perfect_tile(j, n=2))
    _, _ = sch.split(k, sch.sample_perfect_tile(k, n=2))


def _schedule_matmul_empty(sch: Schedule) -> Schedule:
    return sch


def _evolution_context(kind: str, sch_fn, postprocs=None, **settings) -> ms.TuneContext:
    return ms.TuneContext(
        mod=Matmul,
        space_generator=ms.space_generator.ScheduleFn(
            sch_fn=sch_fn, sch_rules=[], postprocs=postprocs or [], mutator_probs={DummyMutator(): 1.0}
        ),
        search_strategy=make_strategy(kind, **(settings or EVOLUTION)),
        target=TARGET,
        num_threads=1,  # because we are using a mutator from the python side
        rand_state=RAND_STATE,
    )


def _database(state: str, earlier_session) -> tuple[ms.database.MemoryDatabase, set[int]]:
    """A database, empty or with the records of ``earlier_session(database)``; and their keys."""
    database = ms.database.MemoryDatabase()
    if state == "with-records":
        earlier_session(database)
        assert len(database) > 0
    return database, measured_keys(database, Matmul)


@pytest.mark.parametrize("database_state", DATABASES)
@pytest.mark.parametrize("kind", ALL)
def test_meta_schedule_replay_func(kind: str, database_state: str) -> None:
    num_trials_per_iter = 7
    max_trials_per_task = 20

    def context() -> ms.TuneContext:
        return ms.TuneContext(
            mod=Matmul,
            target=TARGET,
            num_threads=1,
            space_generator=ms.space_generator.ScheduleFn(sch_fn=_schedule_matmul, postprocs=[]),
            search_strategy=make_strategy(kind),
            rand_state=RAND_STATE,
        )

    def earlier(database) -> None:
        run_session(context(), max_trials=max_trials_per_task, num_trials_per_iter=num_trials_per_iter,
                    database=database, cost_model=ms.cost_model.RandomModel(), commit_to=database)

    database, before = _database(database_state, earlier)
    (correct_sch,) = ms.space_generator.ScheduleFn(sch_fn=_schedule_matmul).generate_design_space(Matmul)
    tested = context()

    def check(candidate) -> None:
        _is_trace_equal(candidate.sch, correct_sch,
                        remove_decisions=isinstance(tested.search_strategy, ms.search_strategy.ReplayTrace))

    num_trials_each_iter, keys = run_session(
        tested, max_trials=max_trials_per_task, num_trials_per_iter=num_trials_per_iter,
        database=database, cost_model=ms.cost_model.RandomModel(), on_candidate=check,
    )
    assert num_trials_each_iter == [7, 7, 6]
    if skips_measured(kind):
        assert not before & set(keys) and len(set(keys)) == 20


@pytest.mark.parametrize("database_state", DATABASES)
@pytest.mark.parametrize("kind", EVOLUTIONARY)
def test_meta_schedule_evolutionary_search(kind: str, database_state: str) -> None:
    num_trials_per_iter = 10
    max_trials_per_task = 2000

    def earlier(database) -> None:  # measured 10 of the schedules before
        run_session(_evolution_context(kind, _schedule_matmul_small), max_trials=10, num_trials_per_iter=10,
                    database=database, cost_model=ms.cost_model.RandomModel(), commit_to=database)

    database, before = _database(database_state, earlier)
    num_trials_each_iter, keys = run_session(
        _evolution_context(kind, _schedule_matmul_small), max_trials=max_trials_per_task,
        num_trials_per_iter=num_trials_per_iter, database=database, cost_model=ms.cost_model.RandomModel(),
    )
    # All 25 schedules of the space, once each; with records, ours measures only the new ones.
    already = len(before) if skips_measured(kind) else 0
    assert sum(num_trials_each_iter) == 25 - already
    assert num_trials_each_iter.count(0) < 5
    assert len(set(keys) | before) == 25 and not (before & set(keys) if skips_measured(kind) else set())


@pytest.mark.parametrize("database_state", DATABASES)
@pytest.mark.parametrize("kind", EVOLUTIONARY)
def test_meta_schedule_evolutionary_search_early_stop(kind: str, database_state: str) -> None:
    num_trials_per_iter = 10
    max_trials_per_task = 100

    def earlier(database) -> None:  # measured the space's only schedule before
        run_session(_evolution_context(kind, _schedule_matmul_empty), max_trials=max_trials_per_task,
                    num_trials_per_iter=num_trials_per_iter, database=database,
                    cost_model=ms.cost_model.RandomModel(), commit_to=database)

    database, before = _database(database_state, earlier)
    num_trials_each_iter, keys = run_session(
        _evolution_context(kind, _schedule_matmul_empty), max_trials=max_trials_per_task,
        num_trials_per_iter=num_trials_per_iter, database=database, cost_model=ms.cost_model.RandomModel(),
    )
    if skips_measured(kind) and before:
        # Nothing left to measure: empty batches until the evolutionary search stops (its fifth
        # empty draw; the first came while replacing the proposal the database held).
        assert num_trials_each_iter == [0, 0, 0, 0] and not keys
    else:
        assert num_trials_each_iter == [1, 0, 0, 0, 0]


@pytest.mark.parametrize("database_state", DATABASES)
@pytest.mark.parametrize("kind", EVOLUTIONARY)
def test_meta_schedule_evolutionary_search_fail_init_population(kind: str, database_state: str) -> None:
    @derived_object
    class AlwaysFailPostproc(ms.postproc.PyPostproc):
        """A postproc that always fails."""

        def _initialize_with_tune_context(self, context: ms.TuneContext) -> None:
            pass

        def apply(self, sch: Schedule) -> bool:
            return False

        def clone(self) -> AlwaysFailPostproc:
            return AlwaysFailPostproc()

        def __str__(self) -> str:
            return "AlwaysFailPostproc"

    num_trials_per_iter = 10
    max_trials_per_task = 2000

    def earlier(database) -> None:  # records of the same schedules, made without the postproc
        run_session(_evolution_context(kind, _schedule_matmul), max_trials=10, num_trials_per_iter=10,
                    database=database, cost_model=ms.cost_model.RandomModel(), commit_to=database)

    database, _ = _database(database_state, earlier)
    context = _evolution_context(kind, _schedule_matmul, postprocs=[AlwaysFailPostproc()])
    strategy = context.search_strategy
    strategy.pre_tuning(
        max_trials=max_trials_per_task,
        num_trials_per_iter=num_trials_per_iter,
        design_spaces=context.space_generator.generate_design_space(context.mod),
        database=database,
        cost_model=ms.cost_model.RandomModel(),
    )
    candidates = strategy.generate_measure_candidates()
    assert candidates is None


@pytest.mark.parametrize("kind", EVOLUTIONARY)
def test_meta_schedule_evolutionary_search_skip_invalid_measured_trace(kind: str) -> None:
    # Construct an incompatible measured trace: it references block name "other",
    # which doesn't exist in Matmul. Replaying this trace should fail and be skipped.
    wrong_sch = Schedule(OtherBlock)
    wrong_sch.get_sblock("other")
    wrong_trace = wrong_sch.trace

    database = ms.database.MemoryDatabase()
    workload = database.commit_workload(Matmul)
    database.commit_tuning_record(
        ms.database.TuningRecord(
            trace=wrong_trace,
            workload=workload,
            run_secs=[0.1],
            target=tvm.target.Target("llvm"),
            args_info=ms.arg_info.ArgInfo.from_prim_func(func=Matmul["main"]),
        )
    )
    context = ms.TuneContext(
        mod=Matmul,
        space_generator=ms.space_generator.ScheduleFn(
            sch_fn=_schedule_matmul, sch_rules=[], postprocs=[], mutator_probs={DummyMutator(): 1.0}
        ),
        search_strategy=make_strategy(
            kind, population_size=5, init_measured_ratio=1.0, init_min_unmeasured=1, genetic_num_iters=1,
            genetic_mutate_prob=0.5, genetic_max_fail_count=4, eps_greedy=0.9,
        ),
        target=TARGET,
        num_threads=1,
    )
    strategy = context.search_strategy
    strategy.pre_tuning(
        max_trials=4,
        num_trials_per_iter=2,
        design_spaces=context.space_generator.generate_design_space(context.mod),
        database=database,
        cost_model=ms.cost_model.RandomModel(),
    )
    candidates = strategy.generate_measure_candidates()
    strategy.post_tuning()
    # Regression assertion: invalid measured trace should be skipped, not crash
    assert candidates is not None


def test_search_strategy_abstract_class_instantiation() -> None:
    """Directly instantiating the abstract SearchStrategy raises TypeError instead of segfaulting."""
    from tvm.s_tir.meta_schedule import SearchStrategy, TuneContext
    from tvm.target import Target

    with pytest.raises(TypeError, match="Cannot instantiate abstract class SearchStrategy"):
        SearchStrategy()
    with pytest.raises(TypeError, match="Cannot instantiate abstract class SearchStrategy"):
        TuneContext(mod=Matmul, target=Target("llvm"), search_strategy=SearchStrategy())
    strategy = SearchStrategy.create("evolutionary")
    assert strategy is not None
    assert isinstance(strategy, SearchStrategy)
    assert type(strategy) is not SearchStrategy
    # Ours is a concrete SearchStrategy too.
    ours = NACOSSearchStrategy()
    assert isinstance(ours, SearchStrategy) and type(ours) is not SearchStrategy


def test_clone_keeps_every_setting() -> None:
    """``clone()`` (what ``tune_tir``/``tune_relax`` tune) keeps every setting, and the original
    reports what its clones measured."""
    records = [object()]
    original = NACOSSearchStrategy(
        population_size=7, init_min_unmeasured=3, genetic_num_iters=5, eps_greedy=0.25, previous_records=records,
        init_measured_ratio=0.5, max_fail_count=9, genetic_mutate_prob=0.4, genetic_max_fail_count=6,
    )
    settings = ["population_size", "init_min_unmeasured", "genetic_num_iters", "eps_greedy", "latency_model",
                "previous_records", "init_measured_ratio", "max_fail_count", "genetic_mutate_prob",
                "genetic_max_fail_count"]
    # MetaSchedule's clone() hands back the FFI object; the Python strategy is in ``clones``.
    original.clone()
    (copy,) = original.clones
    copy.clone()
    again = original.clones[-1]
    for name in settings:
        assert getattr(copy, name) is getattr(original, name) or getattr(copy, name) == getattr(original, name), name
        assert getattr(again, name) == getattr(copy, name), name
    assert copy.previous_records is records
    assert [c is copy or c is again for c in original.clones] == [True, True] and len(original.clones) == 2
    assert original.trials_measured == 0


# --- ours: resuming on a space the database mostly covers ---------------------------------------


@derived_object
class MeasuredFirst(ms.cost_model.PyCostModel):
    """A cost model that has learnt the records: it scores the schedules they measured above
    any other (seeded random scores below), as a model trained on an earlier session does."""

    def __init__(self, measured: set[int]) -> None:
        self.measured = measured
        self.rng = np.random.default_rng(0)

    def load(self, path: str) -> None:
        pass

    def save(self, path: str) -> None:
        pass

    def update(self, context, candidates, results) -> None:
        pass

    def predict(self, context, candidates) -> np.ndarray:
        scores = self.rng.uniform(0.0, 0.5, len(candidates))
        keys = [module_key(c.sch.mod) for c in candidates]
        return np.array([1.0 if k in self.measured else s for k, s in zip(keys, scores, strict=True)])


@pytest.mark.parametrize("kind", EVOLUTIONARY)
def test_resume_with_a_model_that_learnt_the_records(kind: str) -> None:
    """40 schedules were measured before and the cost model ranks them best, so the evolutionary
    search proposes them again. A session of 10 trials at 4 per iteration still gets full
    batches, ``[4, 4, 2]``; ours replaces every proposal the database held."""
    settings = {**EVOLUTION, "population_size": 32, "init_measured_ratio": 0.5, "init_min_unmeasured": 8,
                "eps_greedy": 0.0}

    def earlier(database) -> None:
        run_session(_evolution_context(kind, _schedule_matmul, **settings), max_trials=40, num_trials_per_iter=8,
                    database=database, cost_model=ms.cost_model.RandomModel(seed=0), commit_to=database)

    database, before = _database("with-records", earlier)
    assert len(before) == 40
    num_trials_each_iter, keys = run_session(
        _evolution_context(kind, _schedule_matmul, **settings), max_trials=10, num_trials_per_iter=4,
        database=database, cost_model=MeasuredFirst(before),
    )
    assert num_trials_each_iter == [4, 4, 2]
    if skips_measured(kind):
        assert len(set(keys)) == 10 and not before & set(keys)
    else:  # MetaSchedule's measures the records again
        assert before & set(keys)
