"""The ``tvm-nacos`` command line: argument parsing over :mod:`tvm_nacos.interface`.

One module per subcommand (``search``, ``report``, ``compile``, ``spaces``, ``tasks``,
``example``), the same names as the interface modules: each registers its parser, calls one
function of its :mod:`tvm_nacos.interface` module and prints the result; :mod:`.search` also
renders the search's progress events. The interface (and TVM) is imported only when a
subcommand runs, so ``tvm-nacos spaces`` and ``--help`` stay fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from tvm_nacos import __version__
from tvm_nacos.cli import compile as compile_command
from tvm_nacos.cli import example, report, search, spaces, tasks

__all__ = ["build_parser", "main"]

#: The subcommands, in the order ``--help`` lists them.
SUBCOMMANDS = (search, report, compile_command, spaces, tasks, example)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``tvm-nacos`` and all its subcommands; each sets ``run`` to its function."""
    parser = argparse.ArgumentParser(
        prog="tvm-nacos",
        description="Neural architecture and compiler optimization co-search inside Apache TVM.",
        epilog="Run `tvm-nacos COMMAND --help` for the options and examples of each command.",
    )
    parser.add_argument("--version", action="version", version=f"tvm-nacos {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every phase")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for subcommand in SUBCOMMANDS:
        subcommand.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tvm-nacos`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from tvm_nacos.errors import NacosError

    try:
        return args.run(args)
    except (NacosError, ValueError) as err:
        print(f"tvm-nacos: error: {err}", file=sys.stderr)
        return 2
