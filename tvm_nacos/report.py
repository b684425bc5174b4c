"""Reports of a search: ``pareto.csv``, ``pareto.png`` and ``report.md`` from ``pareto.json``.

:func:`tvm_nacos.search` writes ``WORK_DIR/pareto.json`` (:meth:`SearchResult.to_json
<tvm_nacos.cosearch.search.SearchResult.to_json>`); :func:`write_report` turns it into

- ``pareto.csv``: one row per architecture whose kernels were all measured, ``on_front`` set for
  the architectures of the front, units in the column names;
- ``pareto.png``: every measured architecture as a dot, the front as a step line, optional
  baselines (other searches' fronts) as other markers;
- ``report.md``: what ran, the budget used, the front as a table, a link to the plot.

Latencies in ``pareto.json`` come in two kinds. ``estimated_latency_ms`` is the sum over the
kernels of an architecture of calls × best tuned kernel latency; the architectures of the front
are also compiled with their tuned kernels and timed end to end, and for them ``latency_ms`` is
that measurement (for the others it equals the estimate). The plot and the CSV keep the two
apart.

Nothing here imports TVM or PyTorch; matplotlib is imported (Agg, no display) only to draw.

.. code-block:: python

    from tvm_nacos.report import write_report
    paths = write_report("nacos-work", baselines={"two-stage": "runs/two-stage"})
    paths["png"], paths["csv"], paths["md"]
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tvm_nacos.cosearch.timing import describe_breakdown
from tvm_nacos.errors import WorkDirError
from tvm_nacos.workdir import TARGETS_DIR, WorkDir, read_result_file

logger = logging.getLogger(__name__)

__all__ = [
    "CSV_COLUMNS",
    "front_table",
    "load_pareto",
    "rows",
    "searched_name",
    "write_report",
]

#: Columns of ``pareto.csv``, units in the names.
CSV_COLUMNS = (
    "arch_id",
    "on_front",
    "accuracy",
    "latency_ms",
    "end_to_end_latency_ms",
    "end_to_end_spread_ms",
    "estimated_latency_ms",
    "macs",
    "num_kernels",
    "kernel_trials",
    "sample_json",
)

Baselines = Mapping[str, "str | os.PathLike[str] | Sequence[Mapping[str, Any]]"]


def load_pareto(work_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check ``WORK_DIR/pareto.json`` (:func:`tvm_nacos.workdir.read_result_file`).

    Parameters
    ----------
    work_dir : path
        A search's work directory, or the path of a ``pareto.json`` itself.

    Returns
    -------
    dict
        The parsed JSON (``pareto`` and ``evaluated`` lists of points, run metadata).

    Raises
    ------
    WorkDirError
        The file is missing (the message says how to make one), is not JSON, or has an unknown
        ``schema_version`` (the message lists the supported ones).
    """
    path = Path(work_dir)
    if path.is_dir() or path.suffix != ".json":
        path = WorkDir(path).pareto_json
    return read_result_file(path)


def _front_ids(data: Mapping[str, Any]) -> set[str]:
    return {str(p["arch_id"]) for p in data["pareto"]}


def rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per architecture (the evaluated ones and the front), fastest first.

    ``latency_ms`` is the end-to-end measurement for the front and the kernel-sum estimate for
    the others; ``end_to_end_latency_ms`` is empty (``None``) where there was no such
    measurement, and ``end_to_end_spread_ms`` (half the interquartile range of its samples)
    also where the result predates it.
    """
    front = {str(p["arch_id"]): p for p in data["pareto"]}
    points: dict[str, Mapping[str, Any]] = {str(p["arch_id"]): p for p in data["evaluated"]}
    for arch_id, point in front.items():
        points.setdefault(arch_id, point)
    table = []
    for arch_id, point in points.items():
        on_front = arch_id in front
        estimated = float(point.get("estimated_latency_ms", point["latency_ms"]))
        end_to_end = float(front[arch_id]["latency_ms"]) if on_front else None
        kernels = point.get("kernels") or []
        table.append(
            {
                "arch_id": arch_id,
                "on_front": on_front,
                "accuracy": float(point["accuracy"]),
                "latency_ms": end_to_end if end_to_end is not None else estimated,
                "end_to_end_latency_ms": end_to_end,
                "end_to_end_spread_ms": front[arch_id].get("latency_spread_ms") if on_front else None,
                "estimated_latency_ms": estimated,
                "macs": int(point.get("macs", 0)),
                "num_kernels": len(kernels),
                "kernel_trials": sum(int(k.get("trials", 0)) for k in kernels),
                "sample_json": json.dumps(point.get("sample", {}), sort_keys=True, separators=(",", ":")),
            }
        )
    table.sort(key=lambda r: (r["latency_ms"], -r["accuracy"]))
    return table


def _write_csv(path: Path, table: Sequence[Mapping[str, Any]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in table:
            writer.writerow({k: ("" if row[k] is None else row[k]) for k in CSV_COLUMNS})


# -- the plot -----------------------------------------------------------------------------------


def _baseline_points(source: Any) -> list[tuple[float, float]]:
    """(latency_ms, accuracy) of a baseline: a work dir, a pareto.json, or a list of points."""
    if isinstance(source, (str, os.PathLike)):
        data = load_pareto(source)
        if "targets" in data:
            raise WorkDirError(
                f"baseline {str(source)!r} is a search over targets {sorted(data['targets'])}: give one target's "
                f"work directory ({TARGETS_DIR}/NAME)"
            )
        return [(float(p["latency_ms"]), float(p["accuracy"])) for p in data["pareto"]]
    points = []
    for point in source:
        if isinstance(point, Mapping):
            points.append((float(point["latency_ms"]), float(point["accuracy"])))
        else:
            latency_ms, accuracy = point
            points.append((float(latency_ms), float(accuracy)))
    return points


def _staircase(points: Sequence[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """The attained front as a step line: best accuracy reachable within each latency."""
    ordered = sorted(points)
    return [p[0] for p in ordered], [p[1] for p in ordered]


def searched_name(data: Mapping[str, Any], run_info: Mapping[str, Any] | None = None) -> str:
    """What was searched, by name: the result's ``name``; for a result without one (an older
    ``pareto.json``), the built-in space, else the model file's name."""
    model = (run_info or {}).get("model")
    return data.get("name") or data.get("space") or (Path(model).name if model else "a user module")


def _draw(
    path: Path,
    data: Mapping[str, Any],
    table: Sequence[Mapping[str, Any]],
    baselines: Baselines | None,
    subject: str,
) -> None:
    # The object-oriented API with the Agg canvas: no pyplot, no global backend switch.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 4.8), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    others = [r for r in table if not r["on_front"]]
    if others:
        axes.scatter(
            [r["estimated_latency_ms"] for r in others],
            [r["accuracy"] for r in others],
            s=14, color="0.6", alpha=0.8, label="measured architectures (Σ tuned kernels)",
        )
    front = [(r["latency_ms"], r["accuracy"]) for r in table if r["on_front"]]
    if front:
        xs, ys = _staircase(front)
        axes.step(xs, ys, where="post", color="tab:blue", linewidth=1.5)
        label = f"front of {data.get('strategy', 'search')} ({_latency_kind(data)})"
        axes.scatter(xs, ys, s=30, color="tab:blue", zorder=3, label=label)
    markers = iter(("s", "^", "D", "v", "P", "X"))
    colors = iter(("tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink"))
    for name, source in (baselines or {}).items():
        points = _baseline_points(source)
        if not points:
            continue
        color = next(colors, "black")
        xs, ys = _staircase(points)
        axes.step(xs, ys, where="post", color=color, linewidth=1.0, linestyle="--")
        axes.scatter(xs, ys, s=30, marker=next(markers, "o"), color=color, zorder=3, label=str(name))
    axes.set_xlabel("tuned end-to-end latency (ms)")
    axes.set_ylabel("accuracy")
    budget = f"{data.get('trials_used', '?')}/{data.get('budget_trials', '?')} trials"
    axes.set_title(f"{subject}: {data.get('strategy', '?')}, {budget}", fontsize=10)
    axes.grid(True, alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="best", fontsize=8, framealpha=0.8)
    figure.tight_layout()
    figure.savefig(path, format="png")


# -- the Markdown summary -----------------------------------------------------------------------


def _describe(space: str | None, sample: Mapping[str, str]) -> str:
    """A short text of an architecture: NAS-Bench-201's ``arch_str``, else ``label=option``s."""
    if space == "nas-bench-201":
        from tvm_nacos.search_space import NasBench201Space

        try:
            return NasBench201Space().arch_str(sample)
        except ValueError:
            pass
    return ", ".join(f"{label}={option}" for label, option in sample.items())


def _duration(secs: float) -> str:
    secs = int(round(secs))
    return f"{secs // 60} min {secs % 60:02d} s" if secs >= 60 else f"{secs} s"


def front_table(data: Mapping[str, Any], *, max_rows: int | None = None) -> str:
    """The front as a Markdown table (fastest first; end-to-end latencies with their ± spread),
    readable as plain text too.

    Parameters
    ----------
    data : Mapping
        The contents of ``pareto.json``.
    max_rows : int, optional
        Show at most this many architectures (evenly spread along the front).
    """
    front = sorted(data["pareto"], key=lambda p: float(p["latency_ms"]))
    if max_rows is not None and len(front) > max_rows:
        # The fastest, the most accurate, and evenly spaced ones between.
        step = (len(front) - 1) / max(1, max_rows - 1)
        picks = sorted({round(i * step) for i in range(max_rows)})
        front = [front[i] for i in picks]
    lines = [
        "| arch_id | accuracy | latency_ms | estimated_latency_ms | MMACs | architecture |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for p in front:
        spread = p.get("latency_spread_ms")
        latency = f"{float(p['latency_ms']):.4f}" + ("" if spread is None else f" ± {float(spread):.4f}")
        lines.append(
            f"| {p['arch_id']} | {float(p['accuracy']):.4g} | {latency} "
            f"| {float(p.get('estimated_latency_ms', math.nan)):.4f} | {int(p.get('macs', 0)) / 1e6:.2f} "
            f"| `{_describe(data.get('space'), p.get('sample', {}))}` |"
        )
    return "\n".join(lines)


def _latency_kind(data: Mapping[str, Any]) -> str:
    """How the front's latencies were obtained, for labels."""
    return "tuned, end to end" if data.get("measured_end_to_end", True) else "tuned, sum of kernels"


def _markdown(
    work: WorkDir, data: Mapping[str, Any], table: Sequence[Mapping[str, Any]], run_info: Mapping[str, Any] | None
) -> str:
    lines = [
        "# tvm-nacos search report",
        "",
        "| | |",
        "|---|---|",
        f"| searched | `{searched_name(data, run_info)}` |",
    ]
    if data.get("space") and data["space"] != data.get("name"):
        lines.append(f"| built-in space | `{data['space']}` |")
    if run_info and run_info.get("model"):
        lines.append(f"| model file | `{run_info['model']}` |")
    lines.append(f"| strategy | {data.get('strategy', '?')} |")
    if run_info and run_info.get("accuracy"):
        lines.append(f"| accuracy estimator | {run_info['accuracy']} |")
    lines += [
        f"| target | `{data.get('target', '?')}` |",
        f"| seed | {data.get('seed', '?')} |",
        f"| budget | {data.get('trials_used', '?')} of {data.get('budget_trials', '?')} measurement trials used, "
        f"{data.get('failed_trials', 0)} failed"
        + (f"; a time budget of {_duration(float(data['time_budget_s']))} for measuring" if data.get("time_budget_s")
           else "") + " |",
        f"| search time | {_duration(float(data.get('search_secs', 0.0)))} |",
    ]
    if data.get("time_breakdown"):
        lines.append(f"| where the time went | {describe_breakdown(data['time_breakdown'])} |")
    lines += [
        f"| architectures with every kernel measured | {len(table)} |",
        f"| architectures on the front | {len(data['pareto'])} |",
    ]
    cost_model = data.get("cost_model")
    if cost_model:
        lines.append(
            f"| cost model, held-out | Spearman {cost_model['spearman']:.3f}, median relative error "
            f"{100 * cost_model['median_abs_rel_error']:.1f} % ({cost_model['num_samples']} measurements, "
            f"{cost_model.get('folds', 5)}-fold) |"
        )
    end_to_end = data.get("end_to_end_model")
    if end_to_end:
        # The terms are in ms per call, per GFLOP, per MB: shown in µs per call, MFLOP, MB.
        units = {"calls": (1e3, "µs per call"), "gflop": (1.0, "µs per MFLOP"), "megabytes": (1e3, "µs per MB")}
        added = "".join(
            f" + {units.get(name, (1.0, ''))[0] * value:.3g} {units.get(name, (1.0, name))[1]}"
            for name, value in end_to_end["terms"].items()
        )
        terms = f"{end_to_end['scale']:.3f} × kernel sum{added}, from {end_to_end['num_timings']} timings"
        held_out = end_to_end.get("held_out")
        if held_out:
            terms += (f"; on the front, each timing left out: median error {100 * held_out['median_abs_error']:.1f} %, "
                      f"max {100 * held_out['max_abs_error']:.1f} % (kernel sum alone: "
                      f"{100 * held_out['kernel_sum_median_abs_error']:.1f} %, "
                      f"{100 * held_out['kernel_sum_max_abs_error']:.1f} %)")
        lines.append(f"| end-to-end model | {terms} |")
        retimed = end_to_end.get("kernels_retimed")
        if retimed:
            lines.append(
                f"| kernels re-timed | {retimed['kernels']} kernels of the architectures near the front, "
                f"{retimed['rounds']} runs each in turns ({_duration(float(retimed['secs']))}): the database "
                f"read a median {retimed['median_ratio']:.2f}× their latency, {retimed['slow_in_database']} "
                f"of them more than {retimed.get('slow_threshold', 1.3)}× |"
            )
    if run_info and run_info.get("command"):
        command = str(run_info["command"]).replace("|", "\\|")  # a pipe would end the table cell
        lines.append(f"| command | `{command}` |")
    lines += [
        "",
        "## Accuracy–latency front",
        "",
        ("Latency of the front: the architecture compiled with its tuned kernels and timed end to end, "
         "the fastest of its samples in turns (± half their interquartile range); "
         if data.get("measured_end_to_end", True) else
         "Latency of the front: Σ calls × best tuned kernel latency (the search did not time whole networks); ")
        + "estimated: Σ calls × best tuned kernel latency. Accuracy is in the estimator's unit.",
        "",
        front_table(data) if data["pareto"] else "The front is empty: no architecture met the constraints.",
        "",
        f"![accuracy–latency front]({work.pareto_png.name})",
        "",
        f"Every measured architecture: [`{work.pareto_csv.name}`]({work.pareto_csv.name}); "
        f"the full result: [`{work.pareto_json.name}`]({work.pareto_json.name}).",
        "",
    ]
    return "\n".join(lines)


def write_report(
    work_dir: str | os.PathLike[str],
    *,
    baselines: Baselines | None = None,
) -> dict[str, Path]:
    """Write ``pareto.csv``, ``pareto.png`` and ``report.md`` from ``WORK_DIR/pareto.json``.

    Parameters
    ----------
    work_dir : path
        The work directory of a search (it holds ``pareto.json``).
    baselines : Mapping[str, path or sequence], optional
        Other fronts to draw, by legend name: the work directory (or ``pareto.json``) of another
        search, or points as ``{"latency_ms": ..., "accuracy": ...}`` mappings or
        ``(latency_ms, accuracy)`` pairs.

    Returns
    -------
    dict[str, Path]
        ``{"json": ..., "csv": ..., "png": ..., "md": ...}``.

    Raises
    ------
    WorkDirError
        ``pareto.json`` (or a baseline's) is missing or unreadable.
    """
    work = WorkDir.open(work_dir)
    data = work.read_result()
    run_info = work.read_run_info() or None
    if "targets" in data:  # a search over several targets: the fronts side by side
        from tvm_nacos.targets_report import write_targets_report

        return write_targets_report(work, data, run_info)
    table = rows(data)
    paths = work.report_files()
    _write_csv(paths["csv"], table)
    _draw(paths["png"], data, table, baselines, searched_name(data, run_info))
    paths["md"].write_text(_markdown(work, data, table, run_info))
    logger.info("report of %d architectures (%d on the front) in %s", len(table), len(data["pareto"]), work.path)
    return paths
