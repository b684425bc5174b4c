"""A search within a wall-time budget: it stops measuring in time, with a front, and resumes
with the time it has left."""

from __future__ import annotations

import json
import time

import pytest
import tvm
from tuning_helpers import host_cpu

import tvm_nacos
from tvm_nacos.cosearch.budget import TrialBudget, check_time_budget
from tvm_nacos.cosearch.cost_model import LatencyCostModel
from tvm_nacos.errors import SearchConfigError
from tvm_nacos.examples import example_input, example_supernet
from tvm_nacos.testing.fake import SMALL_SCHEDULE_SEARCH, DeterministicBuilder, DeterministicRunner

TARGET = host_cpu(2)
#: More trials than the time budgets below afford: time decides.
BUDGET = 10_000


def test_the_trials_left_are_those_the_time_left_affords() -> None:
    budget = TrialBudget(100, max_secs=10.0)
    budget.started -= 5.0  # 5 s into the search
    assert budget.left == 100 and budget.trials_per_sec() is None  # no rate before the first batch
    budget.spend(10, "k")  # 10 trials in 5 s: 2 a second, 5 s left
    assert budget.trials_per_sec() == pytest.approx(2.0, rel=0.05)
    assert 8 <= budget.left <= 10 and budget.planned_total == budget.used + budget.left
    # The rate moves with the clock between the two reads: equal to well within a millisecond's worth.
    assert budget.eta_secs() == pytest.approx(budget.left / budget.trials_per_sec(), rel=1e-3)
    budget.started -= 5.0
    assert budget.out_of_time and budget.left == 0 and budget.planned_total == 10 and budget.eta_secs() == 0
    # Without a time budget, only trials count, however long it takes.
    untimed = TrialBudget(100)
    untimed.started -= 1e6
    untimed.spend(10, "k")
    assert untimed.left == 90 and not untimed.out_of_time
    # A resumed search counts the seconds of its earlier runs.
    resumed = TrialBudget(100, max_secs=10.0)
    resumed.resume_from(40, 3, [{"trial": 40, "task": "k", "secs": 9.0}], secs=9.0)
    assert resumed.search_secs >= 9.0 and resumed.used == 40 and resumed.failed == 3
    spent = TrialBudget(100, max_secs=10.0)
    spent.resume_from(40, 0, [], secs=10.0)
    assert spent.out_of_time and spent.left == 0


@pytest.mark.parametrize("secs", [0, -1, float("inf"), float("nan"), "60", True])
def test_a_bad_time_budget_is_a_clear_error(secs) -> None:
    with pytest.raises(SearchConfigError, match="time_budget_s must be a positive, finite number of seconds"):
        check_time_budget(secs)
    with pytest.raises(SearchConfigError, match="time_budget_s must be"):
        TrialBudget(10, max_secs=secs)


class SlowRunner(DeterministicRunner):
    """A fake runner that takes ``secs`` per candidate, as a device does."""

    def __init__(self, secs: float) -> None:
        super().__init__(fail_every=7)
        self.secs = secs

    def run(self, runner_inputs):
        time.sleep(self.secs * len(runner_inputs))
        return super().run(runner_inputs)


@pytest.fixture(scope="module")
def supernet() -> tvm.IRModule:
    return tvm_nacos.from_torch(example_supernet(), (example_input(),))


def _search(supernet, work_dir, time_budget_s: float, *, resume: bool = False):
    return tvm_nacos.search(
        supernet, target=TARGET, accuracy=lambda samples: [float(len(str(s))) for s in samples], budget=BUDGET,
        work_dir=work_dir, seed=0, builder=DeterministicBuilder(), runner=SlowRunner(0.05), measure_end_to_end=False,
        deterministic=True, resume=resume, cost_model=LatencyCostModel(num_models=2, num_rounds=30, nthread=1, seed=0),
        schedule_options=SMALL_SCHEDULE_SEARCH, time_budget_s=time_budget_s,
    )


def test_a_search_stops_in_time_with_a_front_and_resumes_with_more_time(supernet, tmp_path) -> None:
    SECS = 20.0  # noqa: N806 - enough for a first front on a slow 2-core host (12 s was not, on an AMD EPYC)
    first = _search(supernet, tmp_path, SECS)
    assert 0 < first.trials_used < BUDGET and first.pareto  # time ended it, with a front
    assert first.time_budget_s == SECS and json.loads((tmp_path / "pareto.json").read_text())["time_budget_s"] == SECS
    state = json.loads((tmp_path / "search" / "state.json").read_text())
    history = state["history"]
    # Batches started only while there was time: each but the last ended before the budget.
    assert len(history) > 2 and all(batch["secs"] < SECS for batch in history[:-1])
    assert state["search_secs"] >= history[-1]["secs"]
    # Resumed with the same budget: its time is spent, nothing more is measured.
    again = _search(supernet, tmp_path, SECS, resume=True)
    assert again.resumed and again.trials_used == first.trials_used and again.pareto
    # With more time, the search goes on where it stopped.
    more = _search(supernet, tmp_path, SECS + 6.0, resume=True)
    assert more.resumed and more.trials_used > first.trials_used and more.pareto
