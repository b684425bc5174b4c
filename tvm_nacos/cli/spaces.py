"""``tvm-nacos spaces``: the built-in spaces as a table (imports neither TVM nor PyTorch)."""

from __future__ import annotations

import argparse
from typing import Any

from tvm_nacos.cli.options import add_subparser

__all__ = ["add_parser", "run"]

EPILOG = """examples:
  tvm-nacos spaces
"""


def add_parser(commands: Any) -> None:
    """Register ``spaces`` with the subcommands' parser."""
    parser = add_subparser(
        commands, "spaces", "list the built-in search spaces with their sizes",
        "List the built-in search spaces: architectures, choice points, input shape.",
        EPILOG,
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print one line per built-in space."""
    from tvm_nacos.interface.spaces import list_spaces

    summaries = list_spaces()
    print(f"{'space':<15} {'architectures':>20} {'choice points':>14}  {'input':<16} description")
    for s in summaries:
        shape = "x".join(str(d) for d in s.input_shape)
        print(f"{s.name:<15} {s.size:>20,} {s.num_choice_points:>14}  {shape:<16} {s.description}")
    return 0
