"""``tvm-nacos compile``: its arguments and what it prints."""

from __future__ import annotations

import argparse
from typing import Any

from tvm_nacos.cli.options import add_subparser, add_work_dir, parse_sample

__all__ = ["add_parser", "run"]

EPILOG = """The weights are constants inside the library: main takes only the network's inputs.
A manifest (sample, target, input shapes) is written beside the library with the suffix .json.
Run it with TVM's runtime alone:
  lib = tvm.runtime.load_module("fastest.so"); vm = tvm.relax.VirtualMachine(lib, tvm.cpu())
  out = vm["main"](tvm.runtime.tensor(x))

examples:
  tvm-nacos compile --work-dir nacos-work --output fastest.so          # the fastest of the front
  tvm-nacos compile --work-dir nacos-work --arch 3f9c2a1b7d4e --output arch.so
  tvm-nacos compile --work-dir nacos-work --target-name board --output board.so   # one target of --targets
  tvm-nacos compile --work-dir nacos-work --output fastest.so --finish-trials-per-kernel 32
      # a finishing tune first: each kernel of the architecture tuned to 32 candidates
  tvm-nacos compile --work-dir nacos-work --output arch.so \\
      --sample '{"edge.1<-0": "nor_conv_3x3", "edge.2<-0": "nor_conv_3x3", "edge.2<-1": "skip_connect",
                 "edge.3<-0": "nor_conv_1x1", "edge.3<-1": "skip_connect", "edge.3<-2": "nor_conv_3x3"}'
"""


def add_parser(commands: Any) -> None:
    """Register ``compile`` with the subcommands' parser."""
    parser = add_subparser(
        commands, "compile", "build one architecture with its tuned kernels; export a shared library",
        "Rebuild one architecture of a finished search (the fastest of the front by default) with the "
        "tuned schedules of the work directory, and export it as a shared library loadable with "
        "TVM's runtime, with a JSON manifest beside it.",
        EPILOG,
    )
    add_work_dir(parser)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--arch", metavar="ID", help="an architecture of the search by id (pareto.csv lists them)")
    which.add_argument("--sample", metavar="JSON", help="any architecture of the space as {label: option}")
    parser.add_argument("--output", required=True, metavar="PATH", help="the shared library to write (.so)")
    parser.add_argument("--target-name", metavar="NAME",
                        help="for a search over several targets (--targets): the target to compile for")
    parser.add_argument("--finish-trials-per-kernel", type=int, default=0, metavar="N",
                        help="first tune every kernel of the architecture up to N measured candidates, appended "
                             "to the work directory's database (resumable; default 0: what the search measured)")
    parser.add_argument("--runner", metavar="RUNNER",
                        help="where the finishing tune measures: local (default) or rpc://HOST:PORT/KEY")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Compile and export; print the architecture, the kernels tuned and the files."""
    from tvm_nacos.interface.compile import export_architecture

    exported = export_architecture(
        args.work_dir, output=args.output, arch_id=args.arch, sample=parse_sample(args.sample),
        target_name=args.target_name, finish_trials_per_kernel=args.finish_trials_per_kernel, runner=args.runner,
    )
    if args.finish_trials_per_kernel:
        print(f"finishing tune: {exported.finish_trials} new trials ({args.finish_trials_per_kernel} per kernel) "
              f"in {exported.finish_secs:.1f} s")
    print(f"architecture {exported.sample.id}: {exported.sample.to_json()}")
    print(f"target: {exported.target}")
    print(f"{exported.tuned_kernels} of {exported.num_kernels} kernels with tuned schedules; "
          f"compiled in {exported.compile_secs:.1f} s")
    shapes = ", ".join(f"{i['name']}: {i.get('shape')} {i.get('dtype', '')}".strip() for i in exported.inputs)
    print(f"inputs: {shapes} (weights are inside the library)")
    print(f"library:  {exported.library}")
    print(f"manifest: {exported.manifest}")
    return 0
