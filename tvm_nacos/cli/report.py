"""``tvm-nacos report``: its arguments and its summary."""

from __future__ import annotations

import argparse
from typing import Any

from tvm_nacos.cli.options import add_subparser, add_work_dir, print_files

__all__ = ["add_parser", "run"]

EPILOG = """examples:
  tvm-nacos report --work-dir nacos-work
  tvm-nacos report --work-dir runs/joint --baseline two-stage=runs/two-stage --baseline random=runs/random
"""


def add_parser(commands: Any) -> None:
    """Register ``report`` with the subcommands' parser."""
    parser = add_subparser(
        commands, "report", "write pareto.csv, pareto.png and report.md again from a work directory",
        "Regenerate the report of a finished search from its pareto.json, optionally with the fronts "
        "of other searches drawn as baselines, and print its summary.",
        EPILOG,
    )
    add_work_dir(parser)
    parser.add_argument("--baseline", action="append", default=[], metavar="NAME=DIR",
                        help="draw the front of the search in DIR as NAME (repeatable)")
    parser.set_defaults(run=run)


def parse_baselines(items: list[str]) -> dict[str, str]:
    """``["two-stage=runs/two-stage"]`` → ``{"two-stage": "runs/two-stage"}``.

    Raises
    ------
    ValueError
        An item is not ``NAME=DIR``.
    """
    baselines = {}
    for spec in items:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--baseline takes NAME=DIR, got {spec!r}")
        baselines[name] = path
    return baselines


def run(args: argparse.Namespace) -> int:
    """Write the report again; print what was searched, the budget and the front."""
    from tvm_nacos.interface.report import regenerate_report
    from tvm_nacos.report import front_table

    report = regenerate_report(args.work_dir, baselines=parse_baselines(args.baseline) or None)
    # A search over several targets: one summary and front per target.
    results = report.result.get("targets") or {"": report.result}
    for target, data in results.items():
        print(
            f"{report.name}{f' [{target}]' if target else ''}: {data.get('strategy')}, {data.get('trials_used')}/"
            f"{data.get('budget_trials')} trials, {len(data['evaluated'])} architectures measured, "
            f"{len(data['pareto'])} on the front"
        )
        if data["pareto"]:
            print(front_table(data, max_rows=8))
    print(f"report in {args.work_dir}:")
    print_files(report.files)
    return 0
