"""Interrupted searches resume: nothing measured is lost or measured again; the database repairs
a torn last line; a work directory of another format is refused untouched."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import tvm
from tuning_helpers import host_cpu

import tvm_nacos
from tvm_nacos._compat import structural_hash, tir_schedule_class
from tvm_nacos.cosearch.cost_model import LatencyCostModel
from tvm_nacos.errors import WorkDirError
from tvm_nacos.examples import example_input, example_supernet
from tvm_nacos.target import as_target
from tvm_nacos.testing.fake import SMALL_SCHEDULE_SEARCH, DeterministicBuilder, DeterministicRunner
from tvm_nacos.tuning.database import RECORD_FILE, WORKLOAD_FILE, database_dir, open_database
from tvm_nacos.workdir import WORK_DIR_FORMAT

TARGET = host_cpu(2)
BUDGET = 48


def accuracy(samples) -> list[float]:
    """Monotone made-up accuracy of the example space (bigger blocks score higher)."""
    base = {"conv3x3": 90.0, "conv5x5": 92.0, "dwsep3x3": 88.0}
    return [base[s["block1.op"]] + (3.0 if s["block2.depth"] == "keep" else 0.0) for s in samples]


@pytest.fixture(scope="module")
def supernet() -> tvm.IRModule:
    return tvm_nacos.from_torch(example_supernet(), (example_input(),))


class _Interrupt(Exception):
    pass


def _search(supernet, work_dir, *, resume=False, progress=None, strategy="joint", schedule_options=SMALL_SCHEDULE_SEARCH):
    return tvm_nacos.search(
        supernet, target=TARGET, accuracy=accuracy, budget=BUDGET, strategy=strategy, work_dir=work_dir, seed=0,
        builder=DeterministicBuilder(), runner=DeterministicRunner(fail_every=7), measure_end_to_end=False,
        deterministic=True, resume=resume, progress=progress,
        strategy_options={"trials_per_task": 4} if strategy == "random" else None,
        cost_model=LatencyCostModel(num_models=2, num_rounds=30, nthread=1, seed=0),
        schedule_options=schedule_options,
    )


def _record_lines(work_dir) -> list[str]:
    path = database_dir(work_dir, as_target(TARGET)) / RECORD_FILE
    return path.read_text().splitlines() if path.exists() else []


def _measured_schedules(work_dir) -> Counter:
    """(workload, scheduled module) of every record, failed ones included."""
    database = open_database(work_dir, as_target(TARGET))
    schedule_class = tir_schedule_class()
    seen: Counter = Counter()
    for record in database.get_all_tuning_records():
        sch = schedule_class(record.workload.mod)
        record.trace.apply_to_schedule(sch, remove_postproc=False)
        seen[(int(structural_hash(record.workload.mod)), int(structural_hash(sch.mod)))] += 1
    return seen


@pytest.mark.parametrize("strategy", ["random"])
def test_interrupted_search_resumes_without_measuring_twice(supernet, tmp_path, strategy) -> None:
    stop_at = 16

    def interrupt(event) -> None:
        if event.trials_used >= stop_at:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        _search(supernet, tmp_path, progress=interrupt, strategy=strategy)
    before = _record_lines(tmp_path)
    assert len(before) >= stop_at
    state = json.loads((tmp_path / "search" / "state.json").read_text())
    # Every trial is a record, or a transferred schedule kept in the state (see TaskTuner).
    assert state["trials_used"] == len(before) + len(state["transfers"])

    events = []
    result = _search(supernet, tmp_path, resume=True, progress=events.append, strategy=strategy)
    after = _record_lines(tmp_path)
    assert result.resumed
    assert after[: len(before)] == before  # every earlier record kept, in place
    transfers = json.loads((tmp_path / "search" / "state.json").read_text())["transfers"]
    assert set(state["transfers"]) <= set(transfers)  # none looked at again
    assert result.trials_used == len(after) + len(transfers) <= BUDGET  # the budget counts the earlier trials
    assert events and events[0].trials_used > len(before)
    duplicates = {k: n for k, n in _measured_schedules(tmp_path).items() if n > 1}
    assert not duplicates, f"{len(duplicates)} schedules measured twice"
    assert result.pareto


def test_resume_must_match_the_saved_run(supernet, tmp_path) -> None:
    def interrupt(event) -> None:
        raise _Interrupt

    with pytest.raises(_Interrupt):
        _search(supernet, tmp_path, progress=interrupt)
    with pytest.raises(WorkDirError, match=r"differs in strategy"):
        _search(supernet, tmp_path, resume=True, strategy="random")
    with pytest.raises(WorkDirError, match=r"differs in schedule_options"):
        _search(supernet, tmp_path, resume=True, schedule_options={"population_size": 32})


# A search killed with SIGKILL, then resumed: tests/search/test_in_flight.py (with batches in flight).


def test_torn_last_record_line_is_set_aside_with_a_warning(tmp_path, caplog) -> None:
    target = as_target(TARGET)
    open_database(tmp_path, target)
    directory = database_dir(tmp_path, target)
    # Two good-looking lines (MetaSchedule's format is checked when loading, so use real ones)
    good = _record_lines_from_a_tiny_tuning(tmp_path)
    path = directory / RECORD_FILE
    path.write_text("\n".join(good) + "\n" + good[0][: len(good[0]) // 2])  # killed mid-append
    with caplog.at_level("WARNING"):
        database = open_database(tmp_path, target)
    assert len(database.get_all_tuning_records()) == len(good)
    assert f"{RECORD_FILE}, line {len(good) + 1}: corrupt" in caplog.text
    assert (directory / (RECORD_FILE + ".corrupt")).read_text() == good[0][: len(good[0]) // 2] + "\n"
    assert path.read_text().endswith("\n")


def test_corrupt_workload_line_in_the_middle_is_refused(tmp_path) -> None:
    target = as_target(TARGET)
    _record_lines_from_a_tiny_tuning(tmp_path)
    path = database_dir(tmp_path, target) / WORKLOAD_FILE
    lines = path.read_text().splitlines()
    assert len(lines) >= 1
    path.write_text("{not json\n" + "\n".join(lines) + "\n")
    with pytest.raises(WorkDirError, match=r"line 1: corrupt"):
        open_database(tmp_path, target)


def test_work_dir_of_another_format_is_refused_untouched(supernet, tmp_path) -> None:
    marker = tmp_path / "nacos.json"
    marker.write_text(json.dumps({"format_version": WORK_DIR_FORMAT + 1, "created_by": "9.9"}))
    listing = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(WorkDirError, match=r"written by tvm-nacos 9.9 in format 2.*reads format 1"):
        _search(supernet, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == listing


def _record_lines_from_a_tiny_tuning(work_dir) -> list[str]:
    """Measure a few candidates of one small kernel into ``work_dir``; return the record lines."""
    from tvm.script import tirx as T

    from tvm_nacos.cosearch.session import SearchSession
    from tvm_nacos.search_space import SearchSpace

    @T.prim_func(s_tir=True)
    def add(a: T.Buffer((64,), "float32"), b: T.Buffer((64,), "float32")) -> None:
        for i in range(64):
            with T.sblock("add"):
                vi = T.axis.spatial(64, i)
                b[vi] = a[vi] + T.float32(1)

    session = SearchSession(
        tvm.IRModule({}), SearchSpace([]), accuracy=lambda s: [0.0] * len(s), target=as_target(TARGET),
        work_dir=work_dir, budget=4, builder=DeterministicBuilder(), runner=DeterministicRunner(), deterministic=True,
    )
    try:
        from tvm_nacos.cosearch.session import TaskTuner

        tuner = TaskTuner(tvm.IRModule({"main": add}), "add", session)
        tuner.measure(4)
    finally:
        session.close()
    return _record_lines(work_dir)
