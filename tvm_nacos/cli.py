"""The ``tvm-nacos`` command line: a thin layer over :mod:`tvm_nacos.api`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from tvm_nacos import __version__

EXAMPLE_EPILOG = """examples:
  tvm-nacos example
  tvm-nacos example --sample '{"block1.op": "dwsep3x3", "block2.depth": "skip"}'
  tvm-nacos example --target '{"kind": "llvm", "mcpu": "znver4", "num-cores": 2}'
"""


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tvm-nacos",
        description="Neural architecture and compiler optimization co-search inside Apache TVM.",
    )
    parser.add_argument("--version", action="version", version=f"tvm-nacos {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every phase")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    example = commands.add_parser(
        "example",
        help="build the example supernet, list its space, specialize, compile and run one architecture",
        description="Build the example supernet (PyTorch → Relax choice points), list its search space, "
        "specialize one architecture, compile it and run it, checking it against PyTorch.",
        epilog=EXAMPLE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    example.add_argument("--sample", help="architecture as JSON {label: option}; random by default")
    example.add_argument("--target", help="TVM target as JSON; the host CPU by default")
    example.add_argument("--seed", type=int, default=0, help="seed of weights, input and random architecture")
    return parser


def _run_example(args: argparse.Namespace) -> int:
    from tvm_nacos.api import run_example  # pylint: disable=import-outside-toplevel
    from tvm_nacos.search_space import ArchSample  # pylint: disable=import-outside-toplevel

    sample = None
    if args.sample is not None:
        try:
            sample = ArchSample(json.loads(args.sample))
        except (json.JSONDecodeError, TypeError) as err:
            raise SystemExit(f"tvm-nacos: --sample must be a JSON object {{label: option}}: {err}") from err
    run = run_example(sample=sample, target=args.target, seed=args.seed)
    print(f"search space: {len(run.space)} choice points, {run.space.size} architectures")
    for choice in run.space:
        condition = ""
        if choice.condition is not None:
            condition = f"   (only when {choice.condition.label} is {' or '.join(choice.condition.options)})"
        print(f"  {choice.label:<16} {' | '.join(choice.options)}{condition}")
    print(f"architecture {run.sample.id}: {run.sample.to_json()}")
    print(f"target: {run.target}")
    print(f"compiled in {run.compile_secs:.2f} s; output shape {run.output_shape}")
    print(f"max |TVM - PyTorch| = {run.max_abs_error:.2e}")
    print(f"untuned latency: {run.untuned_latency_ms:.3f} ms (median of 5)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tvm-nacos`` console script."""
    args = _build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from tvm_nacos.errors import NacosError  # pylint: disable=import-outside-toplevel

    try:
        return {"example": _run_example}[args.command](args)
    except (NacosError, ValueError) as err:
        print(f"tvm-nacos: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
