"""The benchmark harness of ``bench/``: provenance, result paths, configs, saving, and the compare script."""

from __future__ import annotations

import argparse
import json
import logging
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import compare  # noqa: E402  (bench/ is not a package: its scripts import each other by name)
import harness  # noqa: E402
import run as runner  # noqa: E402


@pytest.fixture(autouse=True)
def _restore_logging() -> Any:
    """``harness.main`` configures logging as a script does; put the test session's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("bench").setLevel(logging.NOTSET)


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with one commit of one file."""
    folder = tmp_path / "repo"
    folder.mkdir()
    _git(folder, "init", "-q")
    _git(folder, "config", "user.email", "bench@example.com")
    _git(folder, "config", "user.name", "bench")
    (folder / "code.py").write_text("x = 1\n")
    _git(folder, "add", "code.py")
    _git(folder, "commit", "-q", "-m", "one")
    return folder


def _toy(calls: list[Any], *, resumable: bool = False) -> harness.Benchmark:
    """A benchmark that returns ``{"n": N, "runs": [...]}``, keeping resumed runs, and records its calls."""

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--n", type=int, default=1)

    def run(args: argparse.Namespace, ctx: harness.RunContext) -> dict[str, Any]:
        calls.append(ctx)
        runs = list(ctx.previous_result["runs"]) if ctx.previous_result else []
        runs.append(args.n)
        return {"n": args.n, "runs": runs, "ratio": float("nan")}

    return harness.Benchmark(name="toy", doc="A toy.\n\nMore.", add_arguments=add_arguments, run=run,
                             summarize=lambda result: {"n": result["n"], "runs": len(result["runs"])},
                             configs={"big": ["--n", "7"]}, resumable=resumable)


class TestResultPath:
    def test_commit_cut_to_seven_digits(self) -> None:
        assert harness.result_name("0123456789abcdef") == "0123456.json"

    def test_label_is_a_suffix(self) -> None:
        path = harness.result_path("bench/results", "strategy_comparison", "29753a6cfdab", "nb201-b500")
        assert path == Path("bench/results/strategy_comparison/29753a6-nb201-b500.json")

    def test_unknown_commit(self) -> None:
        assert harness.result_name(harness.UNKNOWN, "x") == "nocommit-x.json"

    @pytest.mark.parametrize("label", ["", "a/b", "../up", "-dash", "with space"])
    def test_bad_labels_are_refused(self, label: str) -> None:
        with pytest.raises(ValueError, match="label"):
            harness.check_label(label)


class TestProvenance:
    def test_clean_checkout(self, repo: Path) -> None:
        provenance = harness.collect_provenance(["bench/run.py", "toy", "--n", "2"], folder=repo)
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        assert provenance["commit"] == head
        assert provenance["commit_short"] == head[:7]
        assert provenance["dirty"] is False
        assert provenance["dirty_paths"] == []
        assert provenance["command"] == "python bench/run.py toy --n 2"
        assert set(provenance["versions"]) >= {"python", "tvm", "tvm_ffi", "xgboost", "numpy", "torch"}
        assert provenance["machine"]["cores"] >= 1
        assert provenance["machine"]["cpu_model"]

    def test_dirty_checkout_lists_the_modified_files(self, repo: Path) -> None:
        (repo / "code.py").write_text("x = 2\n")
        state = harness.git_state(repo)
        assert state["dirty"] is True
        assert state["dirty_paths"] == ["code.py"]  # the whole name: porcelain lines start with a space

    def test_untracked_files_do_not_make_it_dirty(self, repo: Path) -> None:
        (repo / "new.py").write_text("")
        assert harness.git_state(repo)["dirty"] is False

    def test_outside_a_checkout(self, tmp_path: Path) -> None:
        state = harness.git_state(tmp_path)
        assert state == {"commit": harness.UNKNOWN, "commit_short": harness.UNKNOWN, "dirty": harness.UNKNOWN,
                         "dirty_paths": []}

    def test_command_quotes_arguments(self) -> None:
        assert harness.command_line(["bench/run.py", "x", "--keep", '{"a": 1}']) == \
            "python bench/run.py x --keep '{\"a\": 1}'"


class TestConfigs:
    def test_config_arguments_come_first(self) -> None:
        benchmark = _toy([])
        assert harness.expand_config(benchmark, ["--config", "big", "--n", "3"]) == ["--n", "7", "--config", "big",
                                                                                     "--n", "3"]

    def test_no_config(self) -> None:
        assert harness.expand_config(_toy([]), ["--n", "3"]) == ["--n", "3"]

    def test_unknown_config(self) -> None:
        with pytest.raises(ValueError, match="'huge'.*big"):
            harness.expand_config(_toy([]), ["--config=huge"])


class TestMain:
    def test_writes_the_result_file(self, tmp_path: Path) -> None:
        calls: list[Any] = []
        assert harness.main(_toy(calls), ["--config", "big", "--results-dir", str(tmp_path)]) == 0
        (path,) = (tmp_path / "toy").glob("*.json")
        assert path.name.endswith("-big.json")
        document = json.loads(path.read_text())
        assert document["benchmark"] == "toy"
        assert document["label"] == "big"
        assert document["config"] == {"n": 7}
        assert document["summary"] == {"n": 7, "runs": 1}
        assert document["result"] == {"n": 7, "runs": [7], "ratio": None}  # NaN is not JSON
        assert document["provenance"]["finished"] is True
        assert document["provenance"]["command"].startswith("python ")
        assert len(calls) == 1

    def test_refuses_to_overwrite(self, tmp_path: Path) -> None:
        assert harness.main(_toy([]), ["--results-dir", str(tmp_path)]) == 0
        with pytest.raises(SystemExit):
            harness.main(_toy([]), ["--results-dir", str(tmp_path)])
        assert harness.main(_toy([]), ["--results-dir", str(tmp_path), "--overwrite"]) == 0
        assert harness.main(_toy([]), ["--results-dir", str(tmp_path), "--label", "again"]) == 0
        assert len(list((tmp_path / "toy").glob("*.json"))) == 2

    def test_no_save(self, tmp_path: Path) -> None:
        assert harness.main(_toy([]), ["--results-dir", str(tmp_path), "--no-save"]) == 0
        assert not (tmp_path / "toy").exists()

    def test_resume_keeps_the_earlier_runs(self, tmp_path: Path) -> None:
        first = tmp_path / "first.json"
        assert harness.main(_toy([], resumable=True), ["--output", str(first), "--n", "2"]) == 0
        second = tmp_path / "second.json"
        argv = ["--output", str(second), "--n", "3", "--resume", str(first)]
        assert harness.main(_toy([], resumable=True), argv) == 0
        document = json.loads(second.read_text())
        assert document["result"]["runs"] == [2, 3]
        assert document["provenance"]["resumed_from"]["path"] == str(first)
        assert "resume_path" not in document["config"]

    def test_partial_save(self, tmp_path: Path) -> None:
        benchmark = _toy([])
        args = argparse.Namespace(n=1, label=None, config=None, resume=None, resume_path=None)
        ctx = harness.RunContext(benchmark, args, {"commit": "abc"}, tmp_path / "partial.json")
        ctx.save({"n": 1, "runs": []})
        document = json.loads((tmp_path / "partial.json").read_text())
        assert document["provenance"]["finished"] is False
        assert document["summary"] == {"n": 1, "runs": 0}
        assert ctx.artifact_path(".png") == tmp_path / "partial.png"


def test_json_safe() -> None:
    assert harness.json_safe({"a": (1, math.inf), "b": {2.5, -math.nan}, 3: Path("x")}) in (
        {"a": [1, None], "b": [2.5, None], "3": "x"}, {"a": [1, None], "b": [None, 2.5], "3": "x"})


def test_load_result_refuses_other_json(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"benchmark": "x", "date": "2026-11-28"}))
    with pytest.raises(ValueError, match="not a bench result file"):
        harness.load_result(path)


class TestCompare:
    def test_ratio(self) -> None:
        assert compare.ratio(2.0, 3.0) == "1.50x"
        assert compare.ratio("abc", "abc") == "same"
        assert compare.ratio("abc", "abd") == "differs"
        assert compare.ratio(None, 1.0) == ""
        assert compare.ratio(0, 0) == "same"
        assert compare.ratio(True, False) == "differs"

    def test_format_value(self) -> None:
        assert compare.format_value(None) == "—"
        assert compare.format_value(1.234567) == "1.235"
        assert compare.format_value(12345678.0) == "12,345,678"
        assert compare.format_value("fce802bbea06b7fe") == "fce802bbea06b7fe"

    def test_flatten(self) -> None:
        flat = compare.flatten({"a": {"b": 1}, "runs": [{"hv": 2.0}], "long": list(range(5))}, max_list=3)
        assert flat == {"a.b": 1, "runs[0].hv": 2.0}

    def test_rows_and_render(self) -> None:
        documents = [{"summary": {"x": 1.0, "digest": "a"}, "result": {}},
                     {"summary": {"x": 2.0, "digest": "a", "y": 3}, "result": {}}]
        rows = compare.figure_rows(documents)
        assert rows == [["figure", "[1]", "[2]", "[2]/[1]"], ["x", "1", "2", "2.00x"], ["digest", "a", "a", "same"],
                        ["y", "—", "3", ""]]
        text = compare.render(rows)
        assert text.splitlines()[1].split() == ["x", "1", "2", "2.00x"]
        assert compare.render(rows, markdown=True).splitlines()[1] == "|---|---|---|---|"
        assert compare.figure_rows(documents, match="^d") == [rows[0], rows[2]]

    def test_two_files(self, tmp_path: Path) -> None:
        for n in (2, 4):
            assert harness.main(_toy([]), ["--output", str(tmp_path / f"{n}.json"), "--n", str(n)]) == 0
        text = compare.compare([str(tmp_path / "2.json"), str(tmp_path / "4.json")])
        assert "config: n" in text
        assert [line.split() for line in text.splitlines() if line.startswith("n ")] == [["n", "2", "4", "2.00x"]]
        assert compare.main([str(tmp_path / "2.json"), str(tmp_path / "missing.json")]) == 2


def test_every_benchmark_loads_light() -> None:
    """``bench/run.py --list`` imports every benchmark: none may import tvm or torch at import time."""
    code = (f"import sys; sys.path.insert(0, {str(BENCH)!r}); import run; run.list_benchmarks(); "
            "print(sorted(m for m in ('tvm', 'torch', 'tvm_nacos', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert {runner.load(name).name for name in runner.BENCHMARKS} == set(runner.BENCHMARKS)
    with pytest.raises(ValueError, match="no benchmark 'nope'"):
        runner.load("nope")
