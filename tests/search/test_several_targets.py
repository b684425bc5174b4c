"""Several targets in one search: one exploration of the architectures, a database, cost model
and front per target."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import tvm
from search.test_resume import accuracy

import tvm_nacos
from tvm_nacos.cli.search import parse_targets
from tvm_nacos.cosearch.cost_model import LatencyCostModel
from tvm_nacos.cosearch.multi_target import OTHER_TARGETS, MultiTargetResult
from tvm_nacos.cosearch.targets import resolve_targets
from tvm_nacos.errors import SearchConfigError, WorkDirError
from tvm_nacos.examples import example_input, example_supernet
from tvm_nacos.target import TargetError, as_target
from tvm_nacos.testing.fake import SMALL_SCHEDULE_SEARCH, DeterministicBuilder, DeterministicRunner, FakeDevicesRunner
from tvm_nacos.tuning.database import RECORD_FILE, database_dir
from tvm_nacos.workdir import WorkDir

ZEN = {"kind": "llvm", "mcpu": "znver4", "num-cores": 2}
SKYLAKE = {"kind": "llvm", "mcpu": "skylake", "num-cores": 2}
BUDGET = 24


@pytest.fixture(scope="module")
def supernet() -> tvm.IRModule:
    return tvm_nacos.from_torch(example_supernet(), (example_input(),))


def test_two_targets_in_one_search_give_two_fronts_and_two_databases(supernet, tmp_path) -> None:
    evaluated: Counter = Counter()

    def counting_accuracy(samples):
        evaluated.update(s.id for s in samples)
        return accuracy(samples)

    devices = FakeDevicesRunner(num_devices=2, secs_per_trial=0.01, fail_every=9)
    events = []
    try:
        result = tvm_nacos.search(
            supernet, targets={"zen": {"target": ZEN, "runner": DeterministicRunner(fail_every=7)},
                               "sky": {"target": SKYLAKE, "runner": devices}},
            accuracy=counting_accuracy, budget=BUDGET, work_dir=tmp_path, seed=0, builder=DeterministicBuilder(),
            measure_end_to_end=False, deterministic=True, progress=events.append,
            cost_model=LatencyCostModel(num_models=2, num_rounds=30, nthread=1, seed=0),
            schedule_options=SMALL_SCHEDULE_SEARCH,
        )
    finally:
        devices.shutdown()
    assert isinstance(result, MultiTargetResult) and list(result) == ["zen", "sky"]
    # One exploration: every architecture's accuracy estimated once, for both targets.
    assert evaluated and max(evaluated.values()) == 1
    assert result.num_architectures == len(evaluated)
    states = {name: json.loads((tmp_path / "targets" / name / "search" / "state.json").read_text()) for name in result}
    assert states["zen"]["strategy_state"]["population"] == states["sky"]["strategy_state"]["population"]
    # A database, a budget and a front per target.
    for name, target in (("zen", ZEN), ("sky", SKYLAKE)):
        target_result = result[name]
        records = database_dir(tmp_path / "targets" / name, as_target(target)) / RECORD_FILE
        assert records.is_file() and len(records.read_text().splitlines()) > 0
        assert 0 < target_result.trials_used <= BUDGET
        assert target_result.target == str(as_target(target))
        assert target_result.pareto, f"no front for {name}"
        assert target_result.time_breakdown[OTHER_TARGETS] > 0
        assert (tmp_path / "targets" / name / "pareto.json").is_file()
    assert devices.max_concurrent == 2, "the target with two devices kept one busy"
    assert {e.target for e in events} == {"zen", "sky"}
    # The top-level result: every front, the report side by side, one target's directory to compile.
    data = WorkDir.open(tmp_path).read_result()
    assert set(data["targets"]) == {"zen", "sky"}
    assert [p["arch_id"] for p in data["targets"]["sky"]["pareto"]] == [p.sample.id for p in result["sky"].pareto]
    report = (tmp_path / "report.md").read_text()
    assert "## zen" in report and "## sky" in report and (tmp_path / "pareto.png").stat().st_size > 0
    assert (tmp_path / "pareto.csv").read_text().splitlines()[0].startswith("target,arch_id")
    with pytest.raises(WorkDirError, match=r"targets \['sky', 'zen'\]"):
        WorkDir.open(tmp_path).for_target()
    assert WorkDir.open(tmp_path).for_target("sky").path == tmp_path / "targets" / "sky"
    with pytest.raises(KeyError, match="the targets are"):
        result["board"]


def test_with_own_populations_each_target_searches_as_its_own_search_would(supernet, tmp_path) -> None:
    common = {
        "accuracy": accuracy, "budget": 8, "seed": 0, "measure_end_to_end": False, "deterministic": True,
        "cost_model": LatencyCostModel(num_models=2, num_rounds=30, nthread=1, seed=0),
        "schedule_options": SMALL_SCHEDULE_SEARCH,
    }
    together = tvm_nacos.search(
        supernet, targets={"zen": {"target": ZEN, "runner": DeterministicRunner(fail_every=7)},
                           "sky": {"target": SKYLAKE, "runner": DeterministicRunner(fail_every=7)}},
        work_dir=tmp_path / "together", builder=DeterministicBuilder(),
        strategy_options={"shared_population": False}, **common,
    )
    alone = tvm_nacos.search(supernet, target=SKYLAKE, runner=DeterministicRunner(fail_every=7),
                             work_dir=tmp_path / "alone", builder=DeterministicBuilder(), **common)

    def records(work_dir):
        return (database_dir(work_dir, as_target(SKYLAKE)) / RECORD_FILE).read_text().splitlines()

    assert records(tmp_path / "together" / "targets" / "sky") == records(tmp_path / "alone")
    assert [p.sample.id for p in together["sky"].pareto] == [p.sample.id for p in alone.pareto]


def test_targets_are_checked_before_anything_runs(supernet, tmp_path) -> None:
    with pytest.raises(SearchConfigError, match="non-empty mapping"):
        resolve_targets({})
    with pytest.raises(SearchConfigError, match="names a directory"):
        resolve_targets({"a/b": ZEN})
    with pytest.raises(SearchConfigError, match=r"unknown key\(s\) \['runer'\]"):
        resolve_targets({"zen": {"target": ZEN, "runer": "rpc://h:1/k"}})
    with pytest.raises(SearchConfigError, match="same target measured in the same place"):
        resolve_targets({"a": ZEN, "b": dict(ZEN)})
    with pytest.raises(TargetError, match="target 'bad'"):
        resolve_targets({"bad": {"kind": "no-such-kind"}})
    specs = resolve_targets({"here": "host", "zen": {"target": ZEN, "runner": "local"}})
    assert [s.runner for s in specs] == [None, None] and str(specs[1].target) == str(as_target(ZEN))
    with pytest.raises(SearchConfigError, match="do not also pass target"):
        tvm_nacos.search(supernet, targets={"zen": ZEN}, target=ZEN, accuracy=accuracy, budget=4, work_dir=tmp_path)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
    assert parse_targets('{"zen": {"target": {"kind": "llvm"}}}') == {"zen": {"target": {"kind": "llvm"}}}
    with pytest.raises(ValueError, match="JSON object"):
        parse_targets("[1, 2]")
    file = tmp_path.parent / "targets.json"
    file.write_text(json.dumps({"zen": ZEN}))
    assert parse_targets(str(file)) == {"zen": ZEN}
