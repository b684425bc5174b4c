"""The report of a search over several targets: the fronts side by side.

``WORK_DIR/pareto.json`` of ``search(..., targets=...)`` holds each target's result under
``"targets"``; each target's own report is in ``WORK_DIR/targets/NAME/``. Here:

- ``pareto.csv``: every target's rows (:func:`tvm_nacos.report.rows`) with a ``target`` column;
- ``pareto.png``: one panel per target (its measured architectures and its front);
- ``report.md``: what ran, each target's budget, time and front, the architectures on several
  fronts, links to each target's report.

Nothing here imports TVM; matplotlib is imported (Agg) only to draw.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tvm_nacos.cosearch.timing import describe_breakdown
from tvm_nacos.report import CSV_COLUMNS, front_table, rows, searched_name
from tvm_nacos.workdir import WorkDir

logger = logging.getLogger(__name__)

__all__ = ["write_targets_report"]


def _write_csv(path: Path, tables: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=("target", *CSV_COLUMNS))
        writer.writeheader()
        for name, table in tables.items():
            for row in table:
                writer.writerow({"target": name, **{k: ("" if row[k] is None else row[k]) for k in CSV_COLUMNS}})


def _draw(path: Path, data: Mapping[str, Any], tables: Mapping[str, Sequence[Mapping[str, Any]]], subject: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    count = len(tables)
    figure = Figure(figsize=(4.2 * count + 0.6, 4.4), dpi=120)
    FigureCanvasAgg(figure)
    results = data["targets"]
    for i, (name, table) in enumerate(tables.items()):
        axes = figure.add_subplot(1, count, i + 1)
        others = [r for r in table if not r["on_front"]]
        if others:
            axes.scatter([r["estimated_latency_ms"] for r in others], [r["accuracy"] for r in others],
                         s=12, color="0.6", alpha=0.8, label="measured (Σ tuned kernels)")
        front = sorted((r["latency_ms"], r["accuracy"]) for r in table if r["on_front"])
        if front:
            xs, ys = [p[0] for p in front], [p[1] for p in front]
            axes.step(xs, ys, where="post", color=f"C{i}", linewidth=1.5)
            result = results[name]
            kind = "end to end" if result.get("measured_end_to_end", True) else "Σ tuned kernels"
            axes.scatter(xs, ys, s=28, color=f"C{i}", zorder=3, label=f"front ({kind})")
        result = results[name]
        axes.set_title(f"{name}: {result.get('trials_used', '?')}/{result.get('budget_trials', '?')} trials",
                       fontsize=9)
        axes.set_xlabel("tuned end-to-end latency (ms)")
        if i == 0:
            axes.set_ylabel("accuracy")
        axes.grid(True, alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(loc="best", fontsize=7, framealpha=0.8)
    figure.suptitle(f"{subject}: {data.get('strategy', '?')}, one search over {count} targets", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, format="png")


def _shared_front_members(data: Mapping[str, Any]) -> dict[str, list[str]]:
    """Architectures on the front of more than one target: id -> the targets."""
    on: dict[str, list[str]] = {}
    for name, result in data["targets"].items():
        for point in result["pareto"]:
            on.setdefault(str(point["arch_id"]), []).append(name)
    return {arch_id: names for arch_id, names in on.items() if len(names) > 1}


def _markdown(work: WorkDir, data: Mapping[str, Any], tables: Mapping[str, Sequence[Mapping[str, Any]]],
              run_info: Mapping[str, Any] | None) -> str:
    results = data["targets"]
    lines = [
        "# tvm-nacos search report: several targets",
        "",
        "| | |",
        "|---|---|",
        f"| searched | `{searched_name(data, run_info)}` |",
        f"| strategy | {data.get('strategy', '?')}, one exploration of the architectures for {len(results)} targets |",
    ]
    if run_info and run_info.get("accuracy"):
        lines.append(f"| accuracy estimator | {run_info['accuracy']} |")
    lines += [
        f"| seed | {data.get('seed', '?')} |",
        f"| budget | {data.get('budget_trials', '?')} measurement trials per target |",
        f"| architectures explored | {data.get('num_architectures', '?')} (accuracy estimated once each) |",
        f"| search time | {float(data.get('search_secs', 0.0)):.1f} s |",
    ]
    if data.get("time_breakdown"):
        lines.append(f"| where the time went | {describe_breakdown(data['time_breakdown'])} |")
    if run_info and run_info.get("command"):
        lines.append(f"| command | `{str(run_info['command']).replace('|', chr(92) + '|')}` |")
    lines += ["", f"![the fronts of every target]({work.pareto_png.name})", ""]
    for name, result in results.items():
        sub = result.get("work_dir", f"targets/{name}")
        lines += [
            f"## {name}",
            "",
            f"Target `{result.get('target', '?')}`, measured on {result.get('runner', 'local')}; "
            f"{result.get('trials_used', '?')} of {result.get('budget_trials', '?')} trials "
            f"({result.get('failed_trials', 0)} failed); {len(tables[name])} architectures with every kernel "
            f"measured, {len(result['pareto'])} on the front. Its report: [`{sub}/report.md`]({sub}/report.md); "
            f"compile for it with `tvm-nacos compile --work-dir {work.path} --target-name {name} --output arch.so`.",
            "",
            front_table(result) if result["pareto"] else "The front is empty: no architecture met the constraints.",
            "",
        ]
    shared = _shared_front_members(data)
    lines += ["## Architectures on several fronts", ""]
    if shared:
        lines += ["| arch_id | on the fronts of |", "|---|---|"]
        lines += [f"| {arch_id} | {', '.join(names)} |" for arch_id, names in sorted(shared.items())]
    else:
        lines.append("None: each target's front is its own.")
    lines += ["", f"Every measured architecture of every target: [`{work.pareto_csv.name}`]({work.pareto_csv.name}).", ""]
    return "\n".join(lines)


def write_targets_report(work: WorkDir, data: Mapping[str, Any], run_info: Mapping[str, Any] | None) -> dict[str, Path]:
    """Write ``pareto.csv``, ``pareto.png`` and ``report.md`` of a search over several targets
    from its ``pareto.json`` contents ``data``; returns the paths as :func:`tvm_nacos.report.write_report`."""
    tables = {name: rows(result) for name, result in data["targets"].items()}
    paths = work.report_files()
    _write_csv(paths["csv"], tables)
    _draw(paths["png"], data, tables, searched_name(data, run_info))
    paths["md"].write_text(_markdown(work, data, tables, run_info))
    logger.info("report of %d targets in %s", len(tables), work.path)
    return paths
