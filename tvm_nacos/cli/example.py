"""``tvm-nacos example``: its arguments and what it prints."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tvm_nacos.cli.options import add_subparser, add_target

__all__ = ["add_parser", "run"]

EPILOG = """examples:
  tvm-nacos example
  tvm-nacos example --sample '{"block1.op": "dwsep3x3", "block2.depth": "skip"}'
  tvm-nacos example --target '{"kind": "llvm", "mcpu": "znver4", "num-cores": 2}'
"""


def add_parser(commands: Any) -> None:
    """Register ``example`` with the subcommands' parser."""
    parser = add_subparser(
        commands, "example", "build the example supernet, list its space, specialize, compile and run one architecture",
        "Build the example supernet (PyTorch → Relax choice points), list its search space, "
        "specialize one architecture, compile it and run it, checking it against PyTorch.",
        EPILOG,
    )
    parser.add_argument("--sample", help="architecture as JSON {label: option}; random by default")
    add_target(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, input and random architecture")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the space, the architecture, and how it compiled and ran."""
    from tvm_nacos.interface.example import run_example
    from tvm_nacos.search_space import ArchSample

    sample = None
    if args.sample is not None:
        try:
            sample = ArchSample(json.loads(args.sample))
        except (json.JSONDecodeError, TypeError) as err:
            raise SystemExit(f"tvm-nacos: --sample must be a JSON object {{label: option}}: {err}") from err
    example = run_example(sample=sample, target=args.target, seed=args.seed)
    print(f"search space: {len(example.space)} choice points, {example.space.size} architectures")
    for choice in example.space:
        condition = ""
        if choice.condition is not None:
            condition = f"   (only when {choice.condition.label} is {' or '.join(choice.condition.options)})"
        print(f"  {choice.label:<16} {' | '.join(choice.options)}{condition}")
    print(f"architecture {example.sample.id}: {example.sample.to_json()}")
    print(f"target: {example.target}")
    print(f"compiled in {example.compile_secs:.2f} s; output shape {example.output_shape}")
    print(f"max |TVM - PyTorch| = {example.max_abs_error:.2e}")
    print(f"untuned latency: {example.untuned_latency_ms:.3f} ms (median of 5)")
    return 0
