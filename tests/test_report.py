"""tvm_nacos.report: CSV, PNG and Markdown from a hand-made pareto.json."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tvm_nacos.errors import WorkDirError
from tvm_nacos.report import CSV_COLUMNS, front_table, load_pareto, rows, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _point(arch_id: str, accuracy: float, latency_ms: float, estimated_ms: float, op: str) -> dict:
    return {
        "arch_id": arch_id,
        "sample": {"block1.op": op, "block2.depth": "skip"},
        "accuracy": accuracy,
        "latency_ms": latency_ms,
        "estimated_latency_ms": estimated_ms,
        "macs": 1_500_000,
        "kernels": [
            {"name": "fused_conv2d_add_relu", "weight": 2, "best_latency_ms": 0.01, "trials": 16},
            {"name": "fused_matmul", "weight": 1, "best_latency_ms": 0.002, "trials": 4},
        ],
    }


def _pareto_json() -> dict:
    fast = _point("a1", 88.0, 0.30, 0.25, "dwsep3x3")
    accurate = _point("a2", 92.0, 0.55, 0.50, "conv5x5")
    dominated = _point("a3", 87.0, 0.60, 0.60, "conv3x3")
    return {
        "schema_version": 1,
        "strategy": "joint",
        "seed": 0,
        "budget_trials": 64,
        "trials_used": 64,
        "failed_trials": 3,
        "target": '{"kind":"llvm","mcpu":"znver4","num-cores":2}',
        "search_secs": 75.2,
        "space": None,
        # a1 as a result written before timings had a spread, a2 with one
        "pareto": [fast | {"latency_ms": 0.31}, accurate | {"latency_ms": 0.52, "latency_spread_ms": 0.004}],
        "evaluated": [fast, accurate, dominated],
    }


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    (tmp_path / "pareto.json").write_text(json.dumps(_pareto_json()))
    return tmp_path


def test_write_report_writes_csv_png_and_markdown(work_dir: Path) -> None:
    paths = write_report(work_dir, baselines={"two-stage": [(0.4, 87.5), {"latency_ms": 0.7, "accuracy": 91.0}]})
    assert set(paths) == {"json", "csv", "png", "md"}
    assert all(p.parent == work_dir and p.is_file() for p in paths.values())

    with paths["csv"].open() as handle:
        table = list(csv.DictReader(handle))
    assert tuple(table[0]) == CSV_COLUMNS
    assert [r["arch_id"] for r in table] == ["a1", "a2", "a3"]  # fastest first
    assert [r["on_front"] for r in table] == ["True", "True", "False"]
    assert [float(r["latency_ms"]) for r in table] == [0.31, 0.52, 0.60]  # end to end on the front
    assert [float(r["estimated_latency_ms"]) for r in table] == [0.25, 0.50, 0.60]
    assert table[2]["end_to_end_latency_ms"] == ""
    assert [r["end_to_end_spread_ms"] for r in table] == ["", "0.004", ""]
    assert [float(r["accuracy"]) for r in table] == [88.0, 92.0, 87.0]
    assert {int(r["num_kernels"]) for r in table} == {2} and {int(r["kernel_trials"]) for r in table} == {20}
    assert json.loads(table[1]["sample_json"]) == {"block1.op": "conv5x5", "block2.depth": "skip"}

    png = paths["png"].read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 5_000

    md = paths["md"].read_text()
    assert "| strategy | joint |" in md
    assert "64 of 64 measurement trials used, 3 failed" in md
    assert "1 min 15 s" in md
    assert "| a1 | 88 | 0.3100 | 0.2500 | 1.50 |" in md
    assert "| a2 | 92 | 0.5200 ± 0.0040 | 0.5000 |" in md
    assert "![accuracy–latency front](pareto.png)" in md


def test_rows_and_front_table(work_dir: Path) -> None:
    data = load_pareto(work_dir)
    table = rows(data)
    assert [(r["arch_id"], r["on_front"]) for r in table] == [("a1", True), ("a2", True), ("a3", False)]
    text = front_table(data, max_rows=1)
    assert text.count("\n| a") == 1  # header, separator, one row


def test_nas_bench_201_samples_are_shown_as_arch_str(tmp_path: Path) -> None:
    from tvm_nacos.search_space import get

    nb201 = get("nas-bench-201")
    sample = nb201.sample_from_index(6111)
    data = _pareto_json() | {"space": "nas-bench-201"}
    data["pareto"] = [{**data["pareto"][0], "sample": dict(sample)}]
    assert nb201.arch_str(sample) in front_table(data)


def test_missing_or_bad_pareto_json_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WorkDirError, match="tvm-nacos search --work-dir"):
        write_report(tmp_path)
    (tmp_path / "pareto.json").write_text(json.dumps({"schema_version": 99, "pareto": [], "evaluated": []}))
    with pytest.raises(WorkDirError, match=r"schema_version 99 is not supported; supported: \[1\]"):
        write_report(tmp_path)


def test_report_needs_neither_tvm_nor_torch(work_dir: Path) -> None:
    code = (
        "import sys; from tvm_nacos.report import write_report;"
        f"write_report({str(work_dir)!r});"
        "print(sorted(m for m in ('tvm', 'torch') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stderr



def test_report_names_what_was_searched(work_dir: Path) -> None:
    md = write_report(work_dir)["md"].read_text()
    assert "| searched | `a user module` |" in md  # a pareto.json of an older version: no name, no model file

    (work_dir / "run.json").write_text(json.dumps({"model": "/models/supernet.json", "accuracy": "macs"}))
    md = write_report(work_dir)["md"].read_text()
    assert "| searched | `supernet.json` |" in md and "| model file | `/models/supernet.json` |" in md

    (work_dir / "pareto.json").write_text(json.dumps(_pareto_json() | {"name": "tiny"}))
    md = write_report(work_dir)["md"].read_text()
    assert "| searched | `tiny` |" in md and "| accuracy estimator | macs |" in md

    (work_dir / "run.json").unlink()
    renamed = _pareto_json() | {"name": "nb201-small", "space": "nas-bench-201"}
    (work_dir / "pareto.json").write_text(json.dumps(renamed))
    md = write_report(work_dir)["md"].read_text()
    assert "| searched | `nb201-small` |" in md and "| built-in space | `nas-bench-201` |" in md
