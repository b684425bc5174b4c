"""tvm_nacos.workdir.WorkDir: the layout, the format marker, and the reader and writer of each file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tvm_nacos.errors import WorkDirError
from tvm_nacos.workdir import WORK_DIR_FORMAT, WorkDir


def test_every_path_of_the_layout(tmp_path: Path) -> None:
    work = WorkDir(tmp_path)
    assert not any(tmp_path.iterdir())  # constructing touches nothing
    relative = {
        name: getattr(work, name).relative_to(tmp_path).as_posix()
        for name in ("marker", "pareto_json", "pareto_csv", "pareto_png", "report_md", "run_json", "model_json",
                     "state_dir", "state_json", "cost_model_pkl", "failures_jsonl", "tuning_root")
    }
    assert relative == {
        "marker": "nacos.json", "pareto_json": "pareto.json", "pareto_csv": "pareto.csv", "pareto_png": "pareto.png",
        "report_md": "report.md", "run_json": "run.json", "model_json": "model.json", "state_dir": "search",
        "state_json": "search/state.json", "cost_model_pkl": "search/cost_model.pkl",
        "failures_jsonl": "search/failures.jsonl", "tuning_root": "tuning",
    }
    assert work.report_files() == {"json": work.pareto_json, "csv": work.pareto_csv, "png": work.pareto_png,
                                   "md": work.report_md}
    assert Path(work) == tmp_path and WorkDir(work).path == tmp_path  # a WorkDir is a path-like


def test_tuning_dir_is_named_by_target_kind_and_hash(tmp_path: Path) -> None:
    import tvm

    from tvm_nacos.tuning.database import database_dir

    work = WorkDir(tmp_path)
    znver4 = tvm.target.Target({"kind": "llvm", "mcpu": "znver4", "num-cores": 2})
    other = tvm.target.Target({"kind": "llvm", "mcpu": "skylake", "num-cores": 2})
    path = work.tuning_dir(znver4)
    assert path.parent == work.tuning_root and path.name.startswith("llvm-") and len(path.name) == len("llvm-") + 10
    assert work.tuning_dir(other) != path and database_dir(tmp_path, znver4) == path


def test_prepare_writes_the_marker_and_refuses_another_format(tmp_path: Path) -> None:
    work = WorkDir.prepare(tmp_path / "new")
    marker = json.loads(work.marker.read_text())
    assert marker["format_version"] == WORK_DIR_FORMAT
    assert WorkDir.prepare(work.path).path == work.path

    work.marker.write_text(json.dumps({"format_version": WORK_DIR_FORMAT + 1, "created_by": "9.9"}))
    for opening in (WorkDir.prepare, WorkDir.open):
        with pytest.raises(WorkDirError, match=rf"tvm-nacos 9.9 in format {WORK_DIR_FORMAT + 1}; .* reads format"):
            opening(work.path)
    work.marker.write_text("not json")
    with pytest.raises(WorkDirError, match="not a tvm-nacos work-directory marker"):
        WorkDir.open(work.path)

    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(WorkDirError, match="exists and is not a directory"):
        WorkDir.prepare(a_file)


def test_open_creates_nothing(tmp_path: Path) -> None:
    work = WorkDir.open(tmp_path / "missing")
    assert not work.path.exists()


def test_run_info_round_trip(tmp_path: Path) -> None:
    work = WorkDir(tmp_path / "w")
    assert work.read_run_info() == {}
    info = {"space": None, "model": "m.json", "accuracy": "macs", "command": "tvm-nacos search --model m.json"}
    work.write_run_info(info)
    assert work.read_run_info() == info


def test_state_and_failures(tmp_path: Path) -> None:
    work = WorkDir(tmp_path)
    assert work.read_state() is None
    work.write_state({"trials_used": 5, "run": {"seed": 0}})
    assert work.read_state() == {"trials_used": 5, "run": {"seed": 0}}
    work.append_failure({"task": "t0", "trial": 1, "reason": "RuntimeError: x"})
    work.append_failure({"task": "t1", "trial": 2, "reason": "TimeoutError"})
    lines = work.failures_jsonl.read_text().splitlines()
    assert [json.loads(line)["task"] for line in lines] == ["t0", "t1"]


def test_result_is_written_whole_and_read_with_schema_checks(tmp_path: Path) -> None:
    work = WorkDir(tmp_path)
    with pytest.raises(WorkDirError, match="does not exist: not the work directory of a finished search"):
        work.read_result()
    data = {"schema_version": 1, "name": "tiny", "space": None, "pareto": [], "evaluated": []}
    work.write_result(json.dumps(data))
    assert work.read_result() == data and work.pareto_json.read_text().endswith("}\n")
    assert not list(tmp_path.glob("*.tmp"))
    work.write_result(json.dumps(data | {"schema_version": 7}))
    with pytest.raises(WorkDirError, match=r"schema_version 7 is not supported; supported: \[1\]"):
        work.read_result()
    work.write_result(json.dumps(data | {"pareto": None}))
    with pytest.raises(WorkDirError, match="'pareto' must be a list"):
        work.read_result()


def test_searched_module_from_a_builtin_space_or_model_json(tmp_path: Path) -> None:
    import tvm

    from tvm_nacos.analysis import search_space
    from tvm_nacos.examples import example_input, example_supernet
    from tvm_nacos.frontend.torch import from_torch

    work = WorkDir(tmp_path)
    result = {"schema_version": 1, "space": None, "name": "model", "pareto": [], "evaluated": []}
    with pytest.raises(WorkDirError, match="cannot tell which module the search in .* ran on: .*model.json"):
        work.searched_module(result)

    supernet = from_torch(example_supernet(), (example_input(),))
    work.save_model(supernet)
    mod, name = work.searched_module(result)
    assert name is None
    tvm.ir.assert_structural_equal(mod, supernet)
    assert search_space(mod).size == 9

    mod, name = work.searched_module(result | {"space": "nas-bench-201"})  # a built-in space wins
    assert name == "nas-bench-201" and search_space(mod).size == 15_625


def test_a_model_file_that_is_not_a_module_is_a_clear_error(tmp_path: Path) -> None:
    work = WorkDir(tmp_path)
    with pytest.raises(WorkDirError, match="model.json' does not exist"):
        work.load_model()
    work.model_json.write_text("{}")
    with pytest.raises(WorkDirError, match=r"tvm.ir.save_json\(mod\)"):
        work.load_model()
