"""How well the shared XGBoost cost model predicted measurements it was not trained on.

Every ``tvm_nacos.search`` run writes ``pareto.json`` into its work directory, with the cost
model's 5-fold held-out figures over all the run's measurements (``result.cost_model``): the
Spearman rank correlation of predicted and measured kernel latency, and the median of
|predicted − measured| / measured. This script collects them from finished work directories
(for example those that ``bench/strategy_comparison.py`` left under its ``--work-root``) and
prints one row per run and the mean per (space, strategy, budget). It measures nothing.

Usage::

    python bench/run.py cost_model_accuracy /tmp/nbc8 /tmp/mbn8
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from harness import Benchmark, RunContext, main


def collect(roots: list[str]) -> list[dict]:
    """One record per ``pareto.json`` found in ``roots`` (a work directory or a folder of them)."""
    from tvm_nacos.report import load_pareto
    from tvm_nacos.workdir import PARETO_JSON

    records = []
    for root in roots:
        paths = [Path(root) / PARETO_JSON] if (Path(root) / PARETO_JSON).is_file() else sorted(
            Path(root).glob(f"*/{PARETO_JSON}"))
        if not paths:
            raise SystemExit(f"no {PARETO_JSON} in {root} or its sub-folders: "
                             "is it a finished search's work directory?")
        for path in paths:
            data = load_pareto(path)
            figures = data.get("cost_model")
            records.append({
                "work_dir": str(path.parent),
                "space": data.get("space"),
                "strategy": data.get("strategy"),
                "seed": data.get("seed"),
                "budget": data.get("budget_trials"),
                "trials_used": data.get("trials_used"),
                "spearman": figures["spearman"] if figures else None,
                "median_abs_rel_error": figures["median_abs_rel_error"] if figures else None,
                "num_samples": figures["num_samples"] if figures else None,
            })
    return records


def summarize_records(records: list[dict]) -> list[dict]:
    """Mean and range of the figures per (space, strategy, budget)."""
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        if record["spearman"] is not None:
            groups.setdefault((record["space"], record["strategy"], record["budget"]), []).append(record)
    rows = []
    for (space, strategy, budget), mine in groups.items():
        rho = [r["spearman"] for r in mine]
        err = [r["median_abs_rel_error"] for r in mine]
        rows.append({"space": space, "strategy": strategy, "budget": budget, "runs": len(mine),
                     "spearman_mean": statistics.mean(rho), "spearman_min": min(rho), "spearman_max": max(rho),
                     "median_abs_rel_error_mean": statistics.mean(err), "median_abs_rel_error_min": min(err),
                     "median_abs_rel_error_max": max(err)})
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The work directories."""
    parser.add_argument("roots", nargs="+", help="work directories, or folders holding them")


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """Collect the figures of every work directory; print one row per run and the means."""
    records = collect(args.roots)
    ctx.progress("%d work directories", len(records))
    print("| space | strategy | budget | seed | held-out Spearman | median rel. error | measurements |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in sorted(records, key=lambda r: (str(r["space"]), str(r["strategy"]), r["budget"] or 0, r["seed"] or 0)):
        rho = "—" if r["spearman"] is None else f"{r['spearman']:.3f}"
        err = "—" if r["median_abs_rel_error"] is None else f"{100 * r['median_abs_rel_error']:.1f} %"
        print(f"| {r['space']} | {r['strategy']} | {r['budget']} | {r['seed']} | {rho} | {err} | {r['num_samples']} |")
    rows = summarize_records(records)
    print("\n| space | strategy | budget | runs | Spearman, mean (min–max) | median rel. error, mean (min–max) |")
    print("|---|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['space']} | {row['strategy']} | {row['budget']} | {row['runs']} | "
              f"{row['spearman_mean']:.3f} ({row['spearman_min']:.3f}–{row['spearman_max']:.3f}) | "
              f"{100 * row['median_abs_rel_error_mean']:.1f} % ({100 * row['median_abs_rel_error_min']:.1f}–"
              f"{100 * row['median_abs_rel_error_max']:.1f} %) |")
    return {"runs": records, "summary": rows}


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Per (space, strategy, budget): mean held-out Spearman and mean median relative error."""
    out: dict[str, Any] = {}
    for row in result["summary"]:
        key = f"{row['space']}/{row['strategy']}/{row['budget']}"
        out[f"{key}.spearman_mean"] = row["spearman_mean"]
        out[f"{key}.median_abs_rel_error_mean"] = row["median_abs_rel_error_mean"]
    return out


BENCHMARK = Benchmark(name="cost_model_accuracy", doc=__doc__, add_arguments=add_arguments, run=run,
                      summarize=summarize)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
