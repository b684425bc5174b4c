"""Options of a built-in space (``resolution``...) travel with a search: CLI, result, rebuild."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tuning_helpers import host_cpu

from tvm_nacos.cli import main
from tvm_nacos.cli.options import parse_space_options
from tvm_nacos.search_space import get, names


@pytest.mark.parametrize("name", names())
def test_options_rebuild_the_same_space(name: str) -> None:
    builtin = get(name)
    assert get(name, **builtin.options()) == builtin


def test_parse_space_options_reads_numbers() -> None:
    assert parse_space_options(["resolution=32", "width_mult=0.75", "mode = fast"]) == {
        "resolution": 32, "width_mult": 0.75, "mode": "fast",
    }


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--space-option", "res=32"], ["no option(s) 'res'", "'resolution'", "'width_mult'", "'num_classes'"]),
        (["--space-option", "resolution"], ["KEY=VALUE", "resolution=32"]),
        (["--space-option", "resolution=3"], ["resolution must be an int >= 32, got 3"]),
    ],
)
def test_bad_space_option_is_a_clear_error_and_writes_nothing(args, expected, tmp_path: Path, capsys) -> None:
    work_dir = tmp_path / "work"
    assert main(["search", "--space", "mobilenet-v2", "--work-dir", str(work_dir), *args]) == 2
    err = capsys.readouterr().err
    assert all(text in err for text in expected), err
    assert not work_dir.exists()


def test_space_option_with_a_model_file_is_refused(tmp_path: Path, capsys) -> None:
    assert main(["tasks", "--model", str(tmp_path / "m.json"), "--space-option", "resolution=32"]) == 2
    assert "apply to a built-in space, not to a model file" in capsys.readouterr().err


def test_search_records_the_options_and_compile_rebuilds_with_them(tmp_path: Path) -> None:
    """A resnet searched at 16×16 is rebuilt at 16×16 (its default is 32), from pareto.json or run.json."""
    import tvm_nacos
    from tvm_nacos.testing.fake import SMALL_SCHEDULE_SEARCH, DeterministicBuilder, DeterministicRunner
    from tvm_nacos.workdir import WorkDir

    builtin = get("resnet", resolution=16)
    tvm_nacos.search(
        builtin, target=host_cpu(2), accuracy=lambda s: [float(len(str(x))) for x in s],
        budget=6, strategy="random", work_dir=tmp_path, seed=0, builder=DeterministicBuilder(), runner=DeterministicRunner(),
        measure_end_to_end=False, strategy_options={"trials_per_task": 1}, schedule_options=SMALL_SCHEDULE_SEARCH,
    )
    result = json.loads((tmp_path / "pareto.json").read_text())
    assert result["space"] == "resnet" and result["space_options"] == {"resolution": 16, "num_classes": 10}
    state = json.loads((tmp_path / "search" / "state.json").read_text())
    assert state["run"]["space_options"] == {"resolution": 16, "num_classes": 10}  # a resume must match them

    mod, name = WorkDir(tmp_path).searched_module(result)
    assert name == "resnet"
    assert [int(d) for d in mod["main"].params[0].ty.shape.values] == [1, 3, 16, 16]
