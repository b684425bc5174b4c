"""``tvm-nacos tasks``: its arguments and the table of kernels it prints."""

from __future__ import annotations

import argparse
from typing import Any

from tvm_nacos.cli.options import add_space_or_model, add_subparser, add_target, parse_sample, parse_space_options

__all__ = ["add_parser", "run"]

EPILOG = """Each kernel is one MetaSchedule tuning task; a kernel that several architectures share
is tuned once for all of them. The sharing ratio is kernel occurrences over unique kernels,
over the architecture and the others together (1.0: nothing shared).

examples:
  tvm-nacos tasks                                    # a random nas-bench-201 architecture
  tvm-nacos tasks --space nas-bench-201 --others 16
  tvm-nacos tasks --model supernet.json --sample '{"block1.op": "conv5x5", "block2.depth": "skip"}'
"""


def add_parser(commands: Any) -> None:
    """Register ``tasks`` with the subcommands' parser."""
    parser = add_subparser(
        commands, "tasks", "the kernels (tuning tasks) of one architecture and what they share",
        "Lower one architecture to its fused kernels, the tuning tasks of MetaSchedule, with calls per "
        "inference and FLOPs, and count how many of N random other architectures share each one.",
        EPILOG,
    )
    add_space_or_model(parser)
    parser.add_argument("--sample", metavar="JSON", help="the architecture as {label: option}; random by default")
    parser.add_argument("--others", type=int, default=8, metavar="N", help="other random architectures; default 8")
    add_target(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random architectures; default 0")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the kernels of one architecture, and what the others share."""
    from tvm_nacos.interface.tasks import architecture_tasks

    summary = architecture_tasks(
        args.space, model=args.model, sample=parse_sample(args.sample), others=args.others,
        target=args.target, seed=args.seed, space_options=parse_space_options(args.space_options),
    )
    print(f"architecture {summary.sample.id}: {summary.sample.to_json()}")
    name_width = max([len(r.name) for r in summary.rows] + [6])
    print(f"{'kernel':<{name_width}} {'calls':>5} {'MFLOP/call':>11} {'shared with':>12}")
    for r in summary.rows:
        print(f"{r.name:<{name_width}} {r.calls:>5} {r.mflop:>11.3f} {r.shared_with:>7} of {summary.num_others}")
    shared = sum(1 for r in summary.rows if r.shared_with > 0)
    print(
        f"{len(summary.rows)} kernels, {shared} shared with at least one of {summary.num_others} other architectures; "
        f"together {summary.num_tasks} unique kernels, sharing ratio {summary.sharing_ratio:.2f} "
        f"(lowered in {summary.lower_secs:.1f} s)"
    )
    return 0
