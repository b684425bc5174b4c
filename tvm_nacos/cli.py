"""The ``tvm-nacos`` command line: a thin layer over :mod:`tvm_nacos.api`.

Subcommands: ``search``, ``report``, ``compile``, ``spaces``, ``tasks`` and ``example``. Each
parses its arguments, calls one function of :mod:`tvm_nacos.api` and prints; the API modules
(and TVM) are imported only when a subcommand runs, so ``tvm-nacos spaces`` and ``--help`` stay
fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from collections.abc import Sequence
from typing import Any

from tvm_nacos import __version__
from tvm_nacos.cosearch.strategies import strategy_names

#: Default ``--budget`` of ``tvm-nacos search``, in measurement trials. With the other defaults
#: (nas-bench-201, table accuracy, joint strategy, host CPU) it is the Quick start's main job,
#: which must finish within 10 minutes on two cores, supernet import and end-to-end measurement
#: of the front included: re-measure with ``time tvm-nacos search --work-dir /tmp/qs`` whenever
#: the strategy changes.
DEFAULT_BUDGET = 200
DEFAULT_WORK_DIR = "nacos-work"

EXAMPLE_EPILOG = """examples:
  tvm-nacos example
  tvm-nacos example --sample '{"block1.op": "dwsep3x3", "block2.depth": "skip"}'
  tvm-nacos example --target '{"kind": "llvm", "mcpu": "znver4", "num-cores": 2}'
"""

SEARCH_EPILOG = f"""accuracy estimators (--accuracy; the first is the default):
  nas-bench-201         table | synflow | naswot | grad_norm | supernet
  mobilenet-v2, resnet  synflow | naswot | grad_norm
  --model FILE          macs | params   (size stand-ins: log10 of MACs or weights, not accuracies)
  any                   MODULE:NAME     (an estimator with evaluate(samples), or a function)

outputs, in the work directory:
  pareto.json  the front and every measured architecture (versioned schema, units in the names)
  pareto.csv   one row per measured architecture, on_front flag
  pareto.png   accuracy against tuned end-to-end latency, the front as a step line
  report.md    what ran, the budget used, the front as a table
  tuning/      the tuning database, reused by later searches on the same target

examples:
  tvm-nacos search                                   # nas-bench-201, table accuracy, host CPU, {DEFAULT_BUDGET} trials
  tvm-nacos search --budget 1000 --strategy joint --work-dir runs/nb201
  tvm-nacos search --min-accuracy 90 --max-latency-ms 2.5
  tvm-nacos search --space resnet --accuracy synflow --budget 400
  tvm-nacos search --space mobilenet-v2 --space-option resolution=32 --accuracy synflow --budget 500
  tvm-nacos search --model supernet.json --accuracy mypkg.scores:evaluate
  tvm-nacos search --work-dir runs/nb201 --budget 1000 --resume   # continue after an interruption
  tvm-nacos search --target '{{"kind": "llvm", "mcpu": "znver4", "num-cores": 2}}'

A model file is an IRModule with choice points saved with tvm.ir.save_json, e.g.
  pathlib.Path("supernet.json").write_text(tvm.ir.save_json(tvm_nacos.from_torch(model, (x,))))
"""

REPORT_EPILOG = """examples:
  tvm-nacos report --work-dir nacos-work
  tvm-nacos report --work-dir runs/joint --baseline two-stage=runs/two-stage --baseline random=runs/random
"""

COMPILE_EPILOG = """The weights are constants inside the library: main takes only the network's inputs.
A manifest (sample, target, input shapes) is written beside the library with the suffix .json.
Run it with TVM's runtime alone:
  lib = tvm.runtime.load_module("fastest.so"); vm = tvm.relax.VirtualMachine(lib, tvm.cpu())
  out = vm["main"](tvm.runtime.tensor(x))

examples:
  tvm-nacos compile --work-dir nacos-work --output fastest.so          # the fastest of the front
  tvm-nacos compile --work-dir nacos-work --arch 3f9c2a1b7d4e --output arch.so
  tvm-nacos compile --work-dir nacos-work --output arch.so \\
      --sample '{"edge.1<-0": "nor_conv_3x3", "edge.2<-0": "nor_conv_3x3", "edge.2<-1": "skip_connect",
                 "edge.3<-0": "nor_conv_1x1", "edge.3<-1": "skip_connect", "edge.3<-2": "nor_conv_3x3"}'
"""

SPACES_EPILOG = """examples:
  tvm-nacos spaces
"""

TASKS_EPILOG = """Each kernel is one MetaSchedule tuning task; a kernel that several architectures share
is tuned once for all of them. The sharing ratio is kernel occurrences over unique kernels,
over the architecture and the others together (1.0: nothing shared).

examples:
  tvm-nacos tasks                                    # a random nas-bench-201 architecture
  tvm-nacos tasks --space nas-bench-201 --others 16
  tvm-nacos tasks --model supernet.json --sample '{"block1.op": "conv5x5", "block2.depth": "skip"}'
"""


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", metavar="JSON", help="TVM target as JSON; the host CPU by default")


def _add_space_or_model(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--space", metavar="NAME", help="a built-in space (see `tvm-nacos spaces`); nas-bench-201 by default")
    group.add_argument("--model", metavar="FILE", help="an IRModule with choice points saved with tvm.ir.save_json")
    parser.add_argument(
        "--space-option", action="append", default=[], metavar="KEY=VALUE", dest="space_options",
        help="an option of the built-in space, e.g. resolution=32 for mobilenet-v2 (repeatable)",
    )


def _subparser(commands: Any, name: str, help_text: str, description: str, epilog: str) -> argparse.ArgumentParser:
    return commands.add_parser(
        name, help=help_text, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tvm-nacos",
        description="Neural architecture and compiler optimization co-search inside Apache TVM.",
        epilog="Run `tvm-nacos COMMAND --help` for the options and examples of each command.",
    )
    parser.add_argument("--version", action="version", version=f"tvm-nacos {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every phase")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    search = _subparser(
        commands, "search", "search architectures and schedules together; write the front and a report",
        "Search a built-in space or a model of your own: architecture moves and MetaSchedule "
        "measurements in one loop, within a budget of measurement trials. Writes the accuracy–latency "
        "front of tuned architectures and a report (csv, png, Markdown) to the work directory.",
        SEARCH_EPILOG,
    )
    _add_space_or_model(search)
    _add_target(search)
    search.add_argument("--budget", type=int, default=DEFAULT_BUDGET, metavar="N",
                        help=f"measurement trials (schedule candidates built and run); default {DEFAULT_BUDGET}")
    search.add_argument("--accuracy", metavar="NAME", help="accuracy estimator (see below); table for nas-bench-201")
    search.add_argument("--strategy", choices=strategy_names(), default="joint",
                        help="joint (NACOS, default), or a baseline at the same budget")
    search.add_argument("--max-latency-ms", type=float, metavar="MS", help="keep architectures whose tuned end-to-end latency is at most MS")
    search.add_argument("--max-macs", type=int, metavar="N", help="keep architectures with at most N multiply-accumulates")
    search.add_argument("--min-accuracy", type=float, metavar="A", help="keep architectures with at least this accuracy")
    search.add_argument("--work-dir", default=DEFAULT_WORK_DIR, metavar="DIR",
                        help=f"results and tuning database; default ./{DEFAULT_WORK_DIR}")
    search.add_argument("--seed", type=int, default=0, help="every random choice derives from it; default 0")
    search.add_argument("--resume", action="store_true", help="continue the interrupted search in --work-dir")
    search.add_argument("-q", "--quiet", action="store_true", help="no live progress on stderr")

    report = _subparser(
        commands, "report", "write pareto.csv, pareto.png and report.md again from a work directory",
        "Regenerate the report of a finished search from its pareto.json, optionally with the fronts "
        "of other searches drawn as baselines, and print its summary.",
        REPORT_EPILOG,
    )
    report.add_argument("--work-dir", default=DEFAULT_WORK_DIR, metavar="DIR", help=f"default ./{DEFAULT_WORK_DIR}")
    report.add_argument("--baseline", action="append", default=[], metavar="NAME=DIR",
                        help="draw the front of the search in DIR as NAME (repeatable)")

    compile_ = _subparser(
        commands, "compile", "build one architecture with its tuned kernels; export a shared library",
        "Rebuild one architecture of a finished search (the fastest of the front by default) with the "
        "tuned schedules of the work directory, and export it as a shared library loadable with "
        "TVM's runtime, with a JSON manifest beside it.",
        COMPILE_EPILOG,
    )
    compile_.add_argument("--work-dir", default=DEFAULT_WORK_DIR, metavar="DIR", help=f"default ./{DEFAULT_WORK_DIR}")
    which = compile_.add_mutually_exclusive_group()
    which.add_argument("--arch", metavar="ID", help="an architecture of the search by id (pareto.csv lists them)")
    which.add_argument("--sample", metavar="JSON", help="any architecture of the space as {label: option}")
    compile_.add_argument("--output", required=True, metavar="PATH", help="the shared library to write (.so)")

    _subparser(
        commands, "spaces", "list the built-in search spaces with their sizes",
        "List the built-in search spaces: architectures, choice points, input shape.",
        SPACES_EPILOG,
    )

    tasks = _subparser(
        commands, "tasks", "the kernels (tuning tasks) of one architecture and what they share",
        "Lower one architecture to its fused kernels, the tuning tasks of MetaSchedule, with calls per "
        "inference and FLOPs, and count how many of N random other architectures share each one.",
        TASKS_EPILOG,
    )
    _add_space_or_model(tasks)
    tasks.add_argument("--sample", metavar="JSON", help="the architecture as {label: option}; random by default")
    tasks.add_argument("--others", type=int, default=8, metavar="N", help="other random architectures; default 8")
    _add_target(tasks)
    tasks.add_argument("--seed", type=int, default=0, help="seed of the random architectures; default 0")

    example = _subparser(
        commands, "example", "build the example supernet, list its space, specialize, compile and run one architecture",
        "Build the example supernet (PyTorch → Relax choice points), list its search space, "
        "specialize one architecture, compile it and run it, checking it against PyTorch.",
        EXAMPLE_EPILOG,
    )
    example.add_argument("--sample", help="architecture as JSON {label: option}; random by default")
    _add_target(example)
    example.add_argument("--seed", type=int, default=0, help="seed of weights, input and random architecture")
    return parser


def _parse_sample(text: str | None, option: str = "--sample") -> dict[str, str] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{option} must be a JSON object {{label: option}}: {err}") from err
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"{option} must be a JSON object of strings {{label: option}}, got {text!r}")
    return value


def _parse_space_options(items: list[str]) -> dict[str, Any]:
    """``["resolution=32", "width_mult=0.75"]`` → ``{"resolution": 32, "width_mult": 0.75}``.

    A value is read as an int, else a float, else kept as text; the space checks the names and
    values (its error lists the valid options).
    """
    options: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip() or not text.strip():
            raise ValueError(f"--space-option takes KEY=VALUE, for example resolution=32; got {item!r}")
        value: Any = text.strip()
        for convert in (int, float):
            try:
                value = convert(value)
                break
            except ValueError:
                continue
        options[key.strip()] = value
    return options


def _print_files(files: dict[str, Any]) -> None:
    labels = {"json": "result", "csv": "table", "png": "plot", "md": "report"}
    for key in ("json", "csv", "png", "md"):
        if key in files:
            print(f"  {labels[key]:<7}{files[key]}")


# -- subcommands --------------------------------------------------------------------------------


def _run_search(args: argparse.Namespace) -> int:
    from tvm_nacos.api import run_search  # pylint: disable=import-outside-toplevel
    from tvm_nacos.cli_progress import ProgressPrinter, format_duration  # pylint: disable=import-outside-toplevel
    from tvm_nacos.cosearch.objectives import Constraints  # pylint: disable=import-outside-toplevel
    from tvm_nacos.cosearch.timing import describe_breakdown  # pylint: disable=import-outside-toplevel
    from tvm_nacos.report import front_table, load_pareto  # pylint: disable=import-outside-toplevel

    constraints = Constraints(max_latency_ms=args.max_latency_ms, max_macs=args.max_macs, min_accuracy=args.min_accuracy)
    subject = args.model or args.space or "nas-bench-201"
    if args.space_options:
        subject += f" ({', '.join(args.space_options)})"
    first = "" if args.model else "; building its supernet comes first"
    print(f"tvm-nacos: searching {subject} ({args.strategy}, {args.budget} trials) into {args.work_dir}{first}",
          file=sys.stderr)
    printer = None if args.quiet else ProgressPrinter(sys.stderr)
    command = " ".join(shlex.quote(a) for a in ["tvm-nacos", *args.argv])
    try:
        run = run_search(
            args.space, model=args.model, target=args.target, budget=args.budget, accuracy=args.accuracy,
            strategy=args.strategy, constraints=constraints, work_dir=args.work_dir, seed=args.seed,
            resume=args.resume, progress=printer, command=command, space_options=_parse_space_options(args.space_options),
        )
    except KeyboardInterrupt:
        if printer is not None:
            printer.close()  # end the progress line before the message
        print(f"tvm-nacos: interrupted; continue with the same command and --resume (work dir {args.work_dir})",
              file=sys.stderr)
        return 130
    finally:
        if printer is not None:
            printer.close()
    result = run.result
    data = load_pareto(run.work_dir)
    print(
        f"search done: {result.strategy}, {result.trials_used}/{result.budget} trials ({result.failed_trials} failed) "
        f"in {format_duration(result.search_secs)}; accuracy: {run.accuracy}; {len(result.evaluated)} architectures "
        f"measured, {len(result.pareto)} on the front"
    )
    if result.time_breakdown:
        print(f"time: {describe_breakdown(result.time_breakdown)}")
    if result.pareto:
        print("front, fastest first (latency: tuned, end to end):")
        print(front_table(data, max_rows=8))
    else:
        print("the front is empty: no architecture met the constraints")
    print(f"results in {run.work_dir}:")
    _print_files(run.files)
    if result.pareto:
        print(f"next: tvm-nacos compile --work-dir {shlex.quote(str(run.work_dir))} --output fastest.so")
    return 0


def _run_report(args: argparse.Namespace) -> int:
    from tvm_nacos.api import regenerate_report  # pylint: disable=import-outside-toplevel
    from tvm_nacos.report import front_table, load_pareto  # pylint: disable=import-outside-toplevel

    baselines = {}
    for spec in args.baseline:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--baseline takes NAME=DIR, got {spec!r}")
        baselines[name] = path
    files = regenerate_report(args.work_dir, baselines=baselines or None)
    data = load_pareto(args.work_dir)
    print(
        f"{data.get('space') or 'user model'}: {data.get('strategy')}, {data.get('trials_used')}/"
        f"{data.get('budget_trials')} trials, {len(data['evaluated'])} architectures measured, "
        f"{len(data['pareto'])} on the front"
    )
    if data["pareto"]:
        print(front_table(data, max_rows=8))
    print(f"report in {args.work_dir}:")
    _print_files(files)
    return 0


def _run_compile(args: argparse.Namespace) -> int:
    from tvm_nacos.api import export_architecture  # pylint: disable=import-outside-toplevel

    exported = export_architecture(
        args.work_dir, output=args.output, arch_id=args.arch, sample=_parse_sample(args.sample)
    )
    print(f"architecture {exported.sample.id}: {exported.sample.to_json()}")
    print(f"target: {exported.target}")
    print(f"{exported.tuned_kernels} of {exported.num_kernels} kernels with tuned schedules; "
          f"compiled in {exported.compile_secs:.1f} s")
    shapes = ", ".join(f"{i['name']}: {i.get('shape')} {i.get('dtype', '')}".strip() for i in exported.inputs)
    print(f"inputs: {shapes} (weights are inside the library)")
    print(f"library:  {exported.library}")
    print(f"manifest: {exported.manifest}")
    return 0


def _run_spaces(args: argparse.Namespace) -> int:  # pylint: disable=unused-argument
    from tvm_nacos.api import list_spaces  # pylint: disable=import-outside-toplevel

    summaries = list_spaces()
    print(f"{'space':<15} {'architectures':>20} {'choice points':>14}  {'input':<16} description")
    for s in summaries:
        shape = "x".join(str(d) for d in s.input_shape)
        print(f"{s.name:<15} {s.size:>20,} {s.num_choice_points:>14}  {shape:<16} {s.description}")
    return 0


def _run_tasks(args: argparse.Namespace) -> int:
    from tvm_nacos.api import architecture_tasks  # pylint: disable=import-outside-toplevel

    summary = architecture_tasks(
        args.space, model=args.model, sample=_parse_sample(args.sample), others=args.others,
        target=args.target, seed=args.seed, space_options=_parse_space_options(args.space_options),
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


COMMANDS = {
    "search": _run_search,
    "report": _run_report,
    "compile": _run_compile,
    "spaces": _run_spaces,
    "tasks": _run_tasks,
    "example": _run_example,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tvm-nacos`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _build_parser().parse_args(argv)
    args.argv = argv
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from tvm_nacos.errors import NacosError  # pylint: disable=import-outside-toplevel

    try:
        return COMMANDS[args.command](args)
    except (NacosError, ValueError) as err:
        print(f"tvm-nacos: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
