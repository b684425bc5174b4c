"""tvm_nacos.search: strategies at a budget, reproducibility, bad input, a real small search."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import tvm
from tuning_helpers import host_cpu

import tvm_nacos
from tvm_nacos._compat import meta_schedule
from tvm_nacos.analysis import search_space
from tvm_nacos.cosearch.cost_model import LatencyCostModel
from tvm_nacos.cosearch.objectives import Constraints, hypervolume, pareto_indices
from tvm_nacos.cosearch.schedule_strategy import NACOSSearchStrategy
from tvm_nacos.examples import example_input, example_supernet
from tvm_nacos.testing.fake import SMALL_SCHEDULE_SEARCH, DeterministicBuilder, DeterministicRunner

ms = meta_schedule()
TARGET = host_cpu(2)
ACCURACY = {"conv3x3": 90.0, "conv5x5": 92.0, "dwsep3x3": 88.0}


def accuracy(samples) -> list[float]:
    """A made-up but monotone accuracy: bigger blocks score higher."""
    return [
        ACCURACY[s["block1.op"]] + (3.0 if s["block2.depth"] == "keep" else 0.0) + (1.0 if s.get("block2.kernel") == "k5" else 0.0)
        for s in samples
    ]


@pytest.fixture(scope="module")
def supernet() -> tvm.IRModule:
    return tvm_nacos.from_torch(example_supernet(), (example_input(),))


def _fake_search(
    supernet, tmp_path, strategy: str, seed: int = 0, budget: int = 48, accuracy=accuracy, progress=None, **options
):
    return tvm_nacos.search(
        supernet, target=TARGET, accuracy=accuracy, budget=budget, strategy=strategy, work_dir=tmp_path,
        seed=seed, builder=DeterministicBuilder(), runner=DeterministicRunner(fail_every=7), progress=progress,
        measure_end_to_end=False, deterministic=True, strategy_options=options,
        cost_model=LatencyCostModel(num_models=2, num_rounds=30, nthread=1, seed=seed),
        schedule_options=SMALL_SCHEDULE_SEARCH,
    )


def test_pareto_and_hypervolume_helpers() -> None:
    acc, lat = [90, 92, 91, 89], [1.0, 2.0, 3.0, 0.5]
    assert pareto_indices(acc, lat) == [3, 0, 1]
    assert hypervolume([90], [1.0], reference=(80, 2.0)) == pytest.approx(10.0)
    assert hypervolume(acc, lat, reference=(80, 4.0)) > hypervolume([90], [1.0], reference=(80, 4.0))
    assert Constraints(max_latency_ms=1.0).violations(latency_ms=2.0) == ["latency 2.000 ms > 1.0 ms"]
    with pytest.raises(ValueError, match="max_macs must be positive"):
        Constraints(max_macs=0)


STRATEGY_OPTIONS = {
    "joint": {}, "random": {"trials_per_task": 4}, "two-stage": {"trials_per_task": 4},
    "exhaustive": {"trials_per_task": 4},
}


@pytest.fixture(scope="module")
def seed0_runs(supernet, tmp_path_factory):
    """strategy → (work dir, result) of its fake search with seed 0, run once for this module."""
    runs: dict = {}

    def run(strategy: str):
        if strategy not in runs:
            work_dir = tmp_path_factory.mktemp(strategy)
            runs[strategy] = (work_dir, _fake_search(supernet, work_dir, strategy, **STRATEGY_OPTIONS[strategy]))
        return runs[strategy]

    return run


@pytest.mark.parametrize("strategy", list(STRATEGY_OPTIONS))
def test_strategies_respect_the_budget_and_skip_failures(seed0_runs, strategy: str) -> None:
    work_dir, result = seed0_runs(strategy)
    assert 0 < result.trials_used <= 48
    # Fake runners: the front is kernel sums, and the report says so.
    assert json.loads((work_dir / "pareto.json").read_text())["measured_end_to_end"] is False
    assert "did not time whole networks" in (work_dir / "report.md").read_text()
    assert result.failed_trials > 0  # injected failures were recorded and the search went on
    assert result.pareto, "a front came out"
    accs = [p.accuracy for p in result.pareto]
    lats = [p.latency_ms for p in result.pareto]
    assert lats == sorted(lats) and accs == sorted(accs)  # a front: faster means less accurate
    assert result.best().latency_ms == min(lats)
    assert '"schema_version": 1' in result.to_json()


@pytest.mark.parametrize("strategy", ["joint", "two-stage"])
def test_result_says_where_the_time_went(seed0_runs, strategy: str) -> None:
    work_dir, result = seed0_runs(strategy)
    times = result.time_breakdown
    assert set(times) == {"schedule search", "build", "run", "cost model", "end-to-end timing", "other", "total",
                          "measuring"}
    # Every batch searched, built, ran and updated the cost model; nothing was timed end to end.
    for phase in ("schedule search", "build", "run", "cost model"):
        assert times[phase] > 0, phase
    assert times["end-to-end timing"] == 0
    # The host's phases sum to the wall time; the time with a build or run in progress overlaps them.
    assert sum(v for k, v in times.items() if k not in ("total", "measuring")) == pytest.approx(times["total"], abs=0.01)
    assert 0 < times["measuring"] <= times["total"]
    assert times["total"] == pytest.approx(result.search_secs, abs=0.01)
    assert json.loads((work_dir / "pareto.json").read_text())["time_breakdown"] == times
    assert "| where the time went | " in (work_dir / "report.md").read_text()


@pytest.mark.parametrize("budget,seed", [(12, 1), (24, 2), (48, 3)])
def test_joint_completes_a_front_at_small_budgets(supernet, tmp_path, budget: int, seed: int) -> None:
    """However its gains pick kernels, the joint search keeps what completing the front needs."""
    result = _fake_search(supernet, tmp_path, "joint", seed=seed, budget=budget)
    assert result.pareto and all(p.latency_ms > 0 for p in result.pareto)
    assert result.trials_used <= budget


def test_a_budget_too_small_for_any_architecture_says_why_the_front_is_empty(supernet, tmp_path, caplog) -> None:
    """One trial measures one kernel: no architecture of the example supernet is complete."""
    with caplog.at_level(logging.WARNING, logger="tvm_nacos.cosearch"):
        result = _fake_search(supernet, tmp_path, "joint", budget=1)
    assert result.pareto == [] and result.trials_used <= 1
    assert any("1 trials left, fewer than the kernels of any architecture" in r.getMessage() for r in caplog.records)
    warning = next(r.getMessage() for r in caplog.records if "the front is empty" in r.getMessage())
    assert "after 1 trials" in warning or "after 0 trials" in warning
    assert "kernels or more" in warning


def _bigger_is_not_better(samples) -> list[float]:
    """An accuracy under which the larger options lose: most architectures are dominated."""
    op = {"conv3x3": 92.0, "conv5x5": 90.0, "dwsep3x3": 88.0}
    return [op[s["block1.op"]] + (3.0 if s["block2.depth"] == "keep" else 0.0) - (1.0 if s.get("block2.kernel") == "k5" else 0.0)
            for s in samples]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_joint_starts_from_the_accuracy_macs_front(supernet, tmp_path, seed: int) -> None:
    """The first architectures the joint search looks at are the best by (accuracy, MACs)."""
    from tvm_nacos.analysis import ArchitectureMacs, search_space
    from tvm_nacos.search_space import ArchSample

    _fake_search(supernet, tmp_path, "joint", seed=seed, budget=12, accuracy=_bigger_is_not_better, initial_population=2)
    state = json.loads((tmp_path / "search" / "state.json").read_text())
    start = {ArchSample.from_dict(d).id for d in state["strategy_state"]["population"][:2]}
    everyone = list(search_space(supernet).enumerate())
    macs = ArchitectureMacs(supernet)
    front = {everyone[i].id for i in pareto_indices(_bigger_is_not_better(everyone), [macs(s) for s in everyone])}
    assert 2 <= len(front) <= len(everyone) // 2
    assert start <= front


def _trajectory(work_dir) -> dict:
    """What a run did, in order: every measured candidate (trace, run time) and each batch's task."""
    from tvm_nacos.tuning.database import database_dir

    database = database_dir(work_dir, tvm.target.Target(TARGET))
    state = json.loads((work_dir / "search" / "state.json").read_text())
    return {
        "records": (database / "database_tuning_record.json").read_text(),
        "workloads": (database / "database_workload.json").read_text(),
        "batches": [(h["trial"], h["task"]) for h in state["history"]],
        "strategy_state": state["strategy_state"],
        "rng": state["rng"],
        "transfers": state["transfers"],
    }


def _points(points) -> list:
    return [(p.sample, p.accuracy, p.latency_ms, p.macs, p.kernels) for p in points]


@pytest.mark.parametrize("strategy", ["joint", "two-stage", "random"])
def test_same_seed_same_trajectory_and_front(seed0_runs, supernet, tmp_path, strategy: str) -> None:
    first_dir, first = seed0_runs(strategy)  # shared with the test above
    # The second run reports progress: looking at the search must not change it.
    events = []
    second = _fake_search(supernet, tmp_path, strategy, progress=events.append, **STRATEGY_OPTIONS[strategy])
    assert events and events[-1].trials_used == second.trials_used
    one, two = _trajectory(first_dir), _trajectory(tmp_path)
    transfers = one["transfers"]  # trials on transferred schedules live in the state, not the database
    assert len(one["batches"]) > 1 and one["records"].count("\n") + len(transfers) == first.trials_used
    for part in one:
        assert one[part] == two[part], part  # the same candidates, measured in the same order
    assert (first.trials_used, first.failed_trials) == (second.trials_used, second.failed_trials)
    assert _points(first.evaluated) == _points(second.evaluated)
    assert _points(first.pareto) == _points(second.pareto) and first.pareto


def test_progress_shows_the_expected_front_from_the_first_batches(supernet, tmp_path) -> None:
    events = []
    _fake_search(supernet, tmp_path, "joint", budget=24, progress=events.append)
    first = events[0]
    assert first.estimated_front and not first.front  # expected before any architecture is measured
    assert any(p.missing_kernels > 0 for p in first.estimated_front)
    for event in events:
        expected = event.estimated_front
        assert [p.latency_ms for p in expected] == sorted(p.latency_ms for p in expected)
        assert [p.accuracy for p in expected] == sorted(p.accuracy for p in expected)  # a front
        measured = {p.arch_id: p.latency_ms for p in event.front}
        for point in expected:
            if point.missing_kernels == 0 and point.arch_id in measured:  # nothing left to predict
                assert point.latency_ms == pytest.approx(measured[point.arch_id])
    assert any(p.missing_kernels == 0 for p in events[-1].estimated_front)


def test_bad_input(supernet, tmp_path) -> None:
    # Unknown strategy, bad budgets, no choice points ...: tests/test_bad_input.py.
    with pytest.raises(ValueError, match=r"unknown two-stage proxy 'flops'.*'macs'"):
        _fake_search(supernet, tmp_path, "two-stage", proxy="flops")
    with pytest.raises(ValueError, match=r"seed_candidates must be >= 0 \(0: a random start\), got -1"):
        _fake_search(supernet, tmp_path / "negative", "joint", seed_candidates=-1)


def test_strategy_honours_the_metaschedule_contract(tmp_path) -> None:
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1]))
    from tuning_helpers import matmul

    target = tvm.target.Target(TARGET)
    model = LatencyCostModel()
    strategy = NACOSSearchStrategy(latency_model=model)
    context = ms.TuneContext(mod=matmul(32), target=target, space_generator="post-order-apply",
                             search_strategy=strategy, task_name="mm", num_threads=2, rand_state=1)
    database = ms.tune_tasks(tasks=[context], task_weights=[1.0], work_dir=str(tmp_path), max_trials_global=24,
                             max_trials_per_task=24, num_trials_per_iter=8, builder=DeterministicBuilder(),
                             runner=DeterministicRunner(), database="memory", cost_model=model)
    assert len(database.get_all_tuning_records()) == 24
    assert strategy.trials_measured == 24
    assert model.num_samples == 24 and strategy.predicted_secs is not None


@pytest.mark.slow
def test_small_real_joint_search(supernet, tmp_path) -> None:
    import torch
    from tvm import relax

    from tvm_nacos.frontend.torch import apply_sample
    # The suite's small schedule population: what this checks does not depend on it.
    result = tvm_nacos.search(supernet, target=TARGET, accuracy=accuracy, budget=48, strategy="joint",
                              work_dir=tmp_path, seed=0, schedule_options=SMALL_SCHEDULE_SEARCH)
    assert result.pareto and all(p.latency_ms > 0 for p in result.pareto)
    # Timed end to end in turns: each latency comes with the spread of its samples.
    assert all(p.latency_spread_ms is not None and 0 <= p.latency_spread_ms < p.latency_ms for p in result.pareto)
    saved = json.loads((tmp_path / "pareto.json").read_text())["pareto"]
    assert [p["latency_spread_ms"] for p in saved] == [p.latency_spread_ms for p in result.pareto]
    assert " ± " in (tmp_path / "report.md").read_text()
    # Every end-to-end timing taught the end-to-end model, and was kept for later searches.
    model = result.end_to_end_model
    assert model is not None and model["num_timings"] >= len(result.pareto) and model["scale"] > 0
    kept = [json.loads(line) for line in next(tmp_path.glob("tuning/*/end_to_end.jsonl")).read_text().splitlines()]
    assert {p.sample.id for p in result.pareto} <= {t["arch_id"] for t in kept}
    assert all(p.kernel_sum_latency_ms and p.kernel_sum_latency_ms > 0 for p in result.pareto)
    assert json.loads((tmp_path / "pareto.json").read_text())["end_to_end_model"] == model
    assert "| end-to-end model |" in (tmp_path / "report.md").read_text()
    # The front's kernels were run again in turns from the builds the search kept.
    retimed = model["kernels_retimed"]
    assert retimed["kernels"] >= max(len(p.kernels) for p in result.pareto) and retimed["rebuilt"] == 0
    assert retimed["median_ratio"] > 0 and "| kernels re-timed |" in (tmp_path / "report.md").read_text()
    assert result.trials_used <= 48
    # The shared cost model ranks measurements it was not trained on (kernels of many sizes).
    assert result.cost_model is not None and result.cost_model["num_samples"] >= 10
    assert result.cost_model["spearman"] > 0.3
    assert json.loads((tmp_path / "pareto.json").read_text())["cost_model"] == result.cost_model
    assert "cost model, held-out | Spearman" in (tmp_path / "report.md").read_text()
    # Real builds and runs took time, and so did compiling and timing the front end to end.
    times = result.time_breakdown
    assert times["build"] > 0 and times["run"] > 0 and times["end-to-end timing"] > 0
    assert times["build"] + times["run"] < times["total"]
    # Batches built while the host proposed the next: builds and runs took longer than the host waited for them.
    assert times["build"] + times["run"] < times["measuring"] < times["total"]
    best = result.best()
    vm = relax.VirtualMachine(result.compile(best.sample), tvm.cpu())
    x = example_input(seed=2)
    out = vm["main"](tvm.runtime.tensor(x.numpy())).numpy()
    with torch.no_grad():
        reference = apply_sample(example_supernet(), best.sample)(x).numpy()
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-4)


def test_the_co_search_takes_its_own_schedule_settings_under_the_given_ones(supernet, tmp_path) -> None:
    from tvm_nacos.analysis import search_space
    from tvm_nacos.cosearch.session import SearchSession
    from tvm_nacos.target import as_target
    from tvm_nacos.tuning.schedule_options import COSEARCH_SCHEDULE_SEARCH

    def session(work_dir, **options):
        return SearchSession(supernet, search_space(supernet), accuracy=accuracy,
                             target=as_target(TARGET), work_dir=work_dir, budget=4, builder=DeterministicBuilder(),
                             runner=DeterministicRunner(), deterministic=True, **options)

    default = session(tmp_path / "default")
    assert default.schedule_options == COSEARCH_SCHEDULE_SEARCH and "schedule_options" not in default.run_info
    key = next(iter(default.add(default.space.default_sample()).weights))
    assert default.tuner(key)._strategy.population_size == COSEARCH_SCHEDULE_SEARCH["population_size"]
    default.close()
    given = session(tmp_path / "given", schedule_options={"population_size": 32})
    assert given.schedule_options == {**COSEARCH_SCHEDULE_SEARCH, "population_size": 32}
    assert given.run_info["schedule_options"] == {"population_size": 32}  # what a resumed run must be given
    given.close()


def test_a_slow_accuracy_estimator_seeds_from_fewer_candidates(supernet, tmp_path, caplog) -> None:
    """The joint start ranks the candidates whose accuracy it can estimate in ``seed_secs`` (in
    chunks of ``initial_population``, at least two); a deterministic search ranks them all."""
    scored: list[str] = []

    def slow_accuracy(samples) -> list[float]:
        scored.extend(s.id for s in samples)
        return accuracy(samples)

    def run(work_dir, deterministic: bool) -> int:
        scored.clear()
        tvm_nacos.search(
            supernet, target=TARGET, accuracy=slow_accuracy, budget=4, work_dir=work_dir, seed=0,
            builder=DeterministicBuilder(), runner=DeterministicRunner(), measure_end_to_end=False,
            deterministic=deterministic, schedule_options=SMALL_SCHEDULE_SEARCH,
            strategy_options={"initial_population": 2, "seed_secs": 1e-9},
            cost_model=LatencyCostModel(num_models=2, num_rounds=30, nthread=1, seed=0),
        )
        return len(set(scored))

    space_size = search_space(supernet).size
    assert space_size > 4
    with caplog.at_level(logging.INFO, logger="tvm_nacos.cosearch.strategies.joint"):
        run(tmp_path / "timed", deterministic=False)
    assert f"seeding: accuracy of 4 of {space_size} candidates" in caplog.text
    assert run(tmp_path / "all", deterministic=True) == space_size
    with pytest.raises(ValueError, match=r"seed_secs must be positive or None \(no limit\), got 0"):
        _fake_search(supernet, tmp_path / "zero", "joint", seed_secs=0)
