"""``tvm-nacos search``: its arguments, its live progress on stderr, and its summary.

The library never prints: :func:`tvm_nacos.search` hands a
:class:`~tvm_nacos.cosearch.progress.SearchProgress` to its ``progress`` callback after every
measured batch, and this command passes a :class:`ProgressPrinter`, which renders it. On a
terminal the line is rewritten in place; otherwise (a log file, CI) it prints one line per event,
at most one every ``min_interval_secs``, and the last one on :meth:`ProgressPrinter.close`.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import time
from typing import Any, TextIO

from tvm_nacos.cli.options import (
    DEFAULT_WORK_DIR,
    add_space_or_model,
    add_subparser,
    add_target,
    add_work_dir,
    parse_duration,
    parse_space_options,
    print_files,
)
from tvm_nacos.cosearch.strategies import strategy_names

__all__ = [
    "DEFAULT_BUDGET",
    "ProgressPrinter",
    "add_parser",
    "format_duration",
    "format_progress",
    "parse_targets",
    "run",
]

#: Default ``--budget`` of ``tvm-nacos search``, in measurement trials. With the other defaults
#: (nas-bench-201, table accuracy, joint strategy, host CPU) it is the Quick start's main job,
#: which must finish within 10 minutes on two cores, supernet import and end-to-end measurement
#: of the front included: re-measure with ``time tvm-nacos search --work-dir /tmp/qs`` whenever
#: the strategy changes.
DEFAULT_BUDGET = 200

EPILOG = f"""accuracy estimators (--accuracy; the first is the default):
  nas-bench-201         table | synflow | naswot | grad_norm | supernet
  mobilenet-v2, resnet  synflow | naswot | grad_norm | supernet
  vit                   supernet | synflow | grad_norm
  supernet trains the space's weight-sharing supernet first (vit: a small variant, ~20 s;
  mobilenet-v2 and resnet: the searched network, minutes); --data FILE trains it, or feeds
  the zero-cost proxies, on your images instead of scikit-learn's digits
  --model FILE          macs | params   (size stand-ins: log10 of MACs or weights, not accuracies)
                        | inherited     (accuracy of each architecture run by TVM on --data)
                        | naswot        (NASWOT computed by TVM on the module; --data or digits)
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
  tvm-nacos search --budget 100000 --time-budget 15m          # as many trials as 15 minutes allow
  tvm-nacos search --space resnet --accuracy synflow --budget 400
  tvm-nacos search --space vit --budget 500               # trains the ViT supernet first (~20 s)
  tvm-nacos search --space resnet --accuracy supernet --data train.npz --val-data val.npz
  tvm-nacos search --space mobilenet-v2 --space-option resolution=32 --accuracy synflow --budget 500
  tvm-nacos search --model supernet.json --accuracy mypkg.scores:evaluate
  tvm-nacos search --model exposed.json --accuracy inherited --data train.npz --val-data val.npz
  tvm-nacos search --work-dir runs/nb201 --budget 1000 --resume   # continue after an interruption
  tvm-nacos search --target '{{"kind": "llvm", "mcpu": "znver4", "num-cores": 2}}'
  tvm-nacos search --runner rpc://10.0.0.5:9190/board --target board.json   # every device under the key
  tvm-nacos search --targets '{{"x86": "host", "board": {{"target": {{"kind": "llvm", "mtriple": "aarch64-linux-gnu",
      "num-cores": 4}}, "runner": "rpc://10.0.0.5:9190/board"}}}}'     # one search, a front per target

devices behind TVM's RPC tracker (README: "Search on your device farm"):
  python -m tvm.exec.rpc_tracker --host 0.0.0.0 --port 9190             # on this host
  python -m tvm.exec.rpc_server --tracker HOST:9190 --key board         # on each device

A model file is an IRModule with choice points saved with tvm.ir.save_json, e.g.
  pathlib.Path("supernet.json").write_text(tvm.ir.save_json(tvm_nacos.from_torch(model, (x,))))
"""


def add_parser(commands: Any) -> None:
    """Register ``search`` with the subcommands' parser."""
    parser = add_subparser(
        commands, "search", "search architectures and schedules together; write the front and a report",
        "Search a built-in space or a model of your own: architecture moves and MetaSchedule "
        "measurements in one loop, within a budget of measurement trials. Writes the accuracy–latency "
        "front of tuned architectures and a report (csv, png, Markdown) to the work directory.",
        EPILOG,
    )
    add_space_or_model(parser)
    add_target(parser)
    parser.add_argument("--budget", type=int, default=DEFAULT_BUDGET, metavar="N",
                        help=f"measurement trials (schedule candidates built and run); default {DEFAULT_BUDGET}")
    parser.add_argument("--time-budget", metavar="DURATION",
                        help="stop measuring after this long (90s, 15m, 1.5h), or at --budget trials if sooner; "
                             "the front's end-to-end timing follows")
    parser.add_argument("--accuracy", metavar="NAME", help="accuracy estimator (see below); table for nas-bench-201")
    parser.add_argument("--data", metavar="FILE",
                        help="your images for the accuracy estimator: an .npz with 'images' (N, C, H, W) and "
                             "'labels' (N,); feeds supernet and the zero-cost proxies (default: digits), and "
                             "inherited for --model")
    parser.add_argument("--val-data", metavar="FILE",
                        help="your validation images (same format); default: a stratified quarter of --data")
    parser.add_argument("--strategy", choices=strategy_names(), default="joint",
                        help="joint (NACOS, default), or a baseline at the same budget")
    parser.add_argument("--max-latency-ms", type=float, metavar="MS",
                        help="keep architectures whose tuned end-to-end latency is at most MS")
    parser.add_argument("--max-macs", type=int, metavar="N",
                        help="keep architectures with at most N multiply-accumulates")
    parser.add_argument("--min-accuracy", type=float, metavar="A",
                        help="keep architectures with at least this accuracy")
    parser.add_argument("--runner", metavar="URL", default="local",
                        help="where candidates run: local (this machine, default) or rpc://HOST:PORT/KEY, the "
                             "devices registered under KEY with TVM's RPC tracker at HOST:PORT")
    parser.add_argument("--devices", type=int, metavar="N",
                        help="devices to keep busy (default: every device under the key when the search starts)")
    parser.add_argument("--no-build-ahead", action="store_true",
                        help="build and run one batch after the other (default: a batch builds while the next is "
                             "proposed; it still runs with the builder idle)")
    parser.add_argument("--targets", metavar="JSON|FILE",
                        help="several targets in one search: {name: target, or {\"target\": ..., \"runner\": URL, "
                             "\"devices\": N}} as JSON or a .json file (instead of --target/--runner/--devices); "
                             "one exploration of the architectures, a front per target in targets/NAME")
    add_work_dir(parser, f"results and tuning database; default ./{DEFAULT_WORK_DIR}")
    parser.add_argument("--seed", type=int, default=0, help="every random choice derives from it; default 0")
    parser.add_argument("--schedule-option", action="append", default=[], metavar="KEY=VALUE",
                        dest="schedule_options",
                        help="a setting of each kernel's evolutionary schedule search, e.g. population_size=64 "
                             "(default 16, one round; repeatable; see tvm_nacos.tuning.schedule_options)")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted search in --work-dir")
    parser.add_argument("-q", "--quiet", action="store_true", help="no live progress on stderr")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Search, with live progress on stderr; print the summary and the front."""
    from tvm_nacos.cosearch.objectives import Constraints
    from tvm_nacos.cosearch.timing import describe_breakdown
    from tvm_nacos.interface.search import run_search
    from tvm_nacos.interface.spaces import DEFAULT_SPACE
    from tvm_nacos.report import front_table, load_pareto

    constraints = Constraints(
        max_latency_ms=args.max_latency_ms, max_macs=args.max_macs, min_accuracy=args.min_accuracy
    )
    schedule = parse_space_options(args.schedule_options, "--schedule-option", "population_size=16")
    time_budget = parse_duration(args.time_budget)
    data = None
    if args.val_data and not args.data:
        raise ValueError("--val-data needs --data (the training images)")
    if args.data:  # bad data fails before anything is built or written
        from tvm_nacos.accuracy.image_data import ImageData

        data = ImageData.from_npz(args.data, args.val_data)
    targets = None
    if args.targets is not None:  # fails before anything is built or written
        if args.target is not None or args.runner != "local" or args.devices is not None:
            raise ValueError("--targets gives each target its own target, runner and devices: "
                             "do not also pass --target, --runner or --devices")
        from tvm_nacos.cosearch.targets import resolve_targets

        targets = parse_targets(args.targets)
        resolve_targets(targets)
    if args.runner != "local" or args.devices is not None:  # fails before anything is built or written
        from tvm_nacos.tuning.runner import RPCEndpoint, resolve_devices

        if args.runner != "local":
            RPCEndpoint.parse(args.runner)
        resolve_devices(args.runner, args.devices)
    subject = args.model or args.space or DEFAULT_SPACE
    if args.space_options:
        subject += f" ({', '.join(args.space_options)})"
    first = "" if args.model else "; building its supernet comes first"
    where = "" if args.runner == "local" else f", measured on {args.runner}"
    if targets is not None:
        where = f" per target, for {', '.join(targets)}"
    print(f"tvm-nacos: searching {subject} ({args.strategy}, {args.budget} trials{where}) into {args.work_dir}{first}",
          file=sys.stderr)
    printer = None if args.quiet else ProgressPrinter(sys.stderr)
    command = " ".join(shlex.quote(a) for a in ["tvm-nacos", *args.argv])
    try:
        search_run = run_search(
            args.space, model=args.model, target=args.target, budget=args.budget, accuracy=args.accuracy,
            strategy=args.strategy, constraints=constraints, work_dir=args.work_dir, seed=args.seed,
            resume=args.resume, progress=printer, command=command,
            space_options=parse_space_options(args.space_options), data=data,
            **({"runner": args.runner} if args.runner != "local" else {}),
            **({"targets": targets} if targets is not None else {}),
            **({"devices": args.devices} if args.devices is not None else {}),
            **({"build_ahead": False} if args.no_build_ahead else {}),
            **({"schedule_options": schedule} if schedule else {}),
            **({"time_budget_s": time_budget} if time_budget is not None else {}),
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
    if targets is not None:
        return _print_targets(search_run)
    result = search_run.result
    data = load_pareto(search_run.work_dir)
    print(
        f"search done: {result.strategy}, {result.trials_used}/{result.budget} trials ({result.failed_trials} failed) "
        f"in {format_duration(result.search_secs)}; accuracy: {search_run.accuracy}; "
        f"{len(result.evaluated)} architectures measured, {len(result.pareto)} on the front"
    )
    if result.time_breakdown:
        print(f"time: {describe_breakdown(result.time_breakdown)}")
    if result.pareto:
        print("front, fastest first (latency: tuned, end to end):")
        print(front_table(data, max_rows=8))
    else:
        print("the front is empty: no architecture met the constraints")
    print(f"results in {search_run.work_dir}:")
    print_files(search_run.files)
    if result.pareto:
        print(f"next: tvm-nacos compile --work-dir {shlex.quote(str(search_run.work_dir))} --output fastest.so")
    return 0


def parse_targets(text: str) -> dict[str, Any]:
    """``--targets``: a JSON object, or the path of a ``.json`` file holding one.

    Raises
    ------
    ValueError
        Neither (the message shows the form).
    """
    import json
    from pathlib import Path

    form = '{"x86": "host", "board": {"target": {...}, "runner": "rpc://HOST:PORT/KEY"}}'
    source = Path(text).read_text() if text.endswith(".json") and Path(text).is_file() else text
    try:
        targets = json.loads(source)
    except ValueError as err:
        raise ValueError(f"--targets takes a JSON object such as {form} or a .json file holding one: {err}") from None
    if not isinstance(targets, dict):
        raise ValueError(f"--targets takes a JSON object such as {form}, not {type(targets).__name__}")
    return targets


def _print_targets(search_run: Any) -> int:
    """The summary of a search over several targets: each target's budget and front."""
    from tvm_nacos.cosearch.timing import describe_breakdown
    from tvm_nacos.report import front_table, load_pareto

    result = search_run.result
    data = load_pareto(search_run.work_dir)["targets"]
    print(f"search done: {result.strategy} over {len(result)} targets, {result.num_architectures} architectures "
          f"explored, in {format_duration(result.search_secs)}; accuracy: {search_run.accuracy}")
    print(f"time: {describe_breakdown(result.time_breakdown)}")
    for name, target_result in result.results.items():
        print(f"[{name}] {target_result.target}: {target_result.trials_used}/{target_result.budget} trials "
              f"({target_result.failed_trials} failed), {len(target_result.evaluated)} architectures measured, "
              f"{len(target_result.pareto)} on the front")
        if target_result.pareto:
            print(front_table(data[name], max_rows=6))
    print(f"results in {search_run.work_dir}:")
    print_files(search_run.files)
    first = next(iter(result.results))
    print(f"next: tvm-nacos compile --work-dir {shlex.quote(str(search_run.work_dir))} --target-name {first} "
          "--output fastest.so")
    return 0


# -- live progress ----------------------------------------------------------------------------


def format_duration(secs: float | None) -> str:
    """``m:ss`` (or ``h:mm:ss``); ``?`` for an unknown duration."""
    if secs is None:
        return "?"
    secs = int(round(max(secs, 0.0)))
    hours, rest = divmod(secs, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _spread(points: tuple[Any, ...], count: int) -> list[Any]:
    """At most ``count`` points: the first, the last, and evenly spaced ones between."""
    if len(points) <= count:
        return list(points)
    step = (len(points) - 1) / max(1, count - 1)
    return [points[i] for i in sorted({round(i * step) for i in range(count)})]


def format_progress(event: Any, *, max_front: int = 4) -> str:
    """One line: trials, failures, architectures, the measured front (best latency per accuracy),
    the expected one (with the kernels each point still lacks), time.

    Parameters
    ----------
    event : SearchProgress or TrainingProgress
        A progress event of :func:`tvm_nacos.search`, or of the supernet's training before it.
    max_front : int
        Points of each front to show (spread from the fastest to the most accurate).
    """
    if hasattr(event, "epochs"):  # a TrainingProgress: the supernet trains before the search
        return (f"training {event.what}: epoch {event.epoch}/{event.epochs}, loss {event.loss:.4f} | "
                f"{format_duration(event.elapsed_secs)} elapsed, {format_duration(event.eta_secs)} left")
    in_flight = getattr(event, "trials_in_flight", 0)
    parts = [
        f"trials {event.trials_used}/{event.budget}" + (f" ({in_flight} in flight)" if in_flight else ""),
        f"{event.failed_trials} failed",
        f"{event.num_measured_architectures}/{event.num_architectures} archs measured, {event.num_tasks} kernels",
    ]
    if event.front:
        shown = ", ".join(f"{p.accuracy:.4g}: {p.latency_ms:.3g} ms" for p in _spread(event.front, max_front))
        parts.append(f"front (accuracy: latency) {shown}")
    estimated = getattr(event, "estimated_front", ())
    if estimated:
        shown = ", ".join(
            f"{p.accuracy:.4g}: {p.latency_ms:.3g} ms" + (f" ({p.missing_kernels} to measure)" if p.missing_kernels else "")
            for p in _spread(estimated, max_front)
        )
        parts.append(f"expected front {shown}")
    parts.append(f"{format_duration(event.elapsed_secs)} elapsed, {format_duration(event.eta_secs)} left")
    target = getattr(event, "target", "")
    return (f"[{target}] " if target else "") + " | ".join(parts)


class ProgressPrinter:
    """A ``progress`` callback that prints :func:`format_progress` lines to a stream.

    Parameters
    ----------
    stream : file, optional
        ``sys.stderr`` by default.
    min_interval_secs : float, optional
        Off a terminal, skip events that come sooner than this after the last printed one
        (the event that spends the budget, and the last one, at :meth:`close`, are always
        printed). Default: 0 on a terminal, 5 otherwise.
    """

    def __init__(self, stream: TextIO | None = None, *, min_interval_secs: float | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty())
        self.min_interval_secs = (0.0 if self.tty else 5.0) if min_interval_secs is None else min_interval_secs
        self._last_print: float | None = None
        self._skipped: Any = None
        self._open_line = False
        self.events = 0

    def __call__(self, event: Any) -> None:
        self.events += 1
        now = time.monotonic()
        last = getattr(event, "trials_used", 0) >= getattr(event, "budget", 1)
        if not last and self._last_print is not None and now - self._last_print < self.min_interval_secs:
            self._skipped = event
            return
        self._last_print = now
        self._skipped = None
        self._write(format_progress(event))

    def _write(self, line: str) -> None:
        if self.tty:
            width = shutil.get_terminal_size((120, 20)).columns
            self.stream.write("\r" + line[: max(width - 1, 20)] + "\x1b[K")
            self._open_line = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Print the last event if it was skipped; end the line being rewritten (on a terminal)."""
        if self._skipped is not None:
            self._write(format_progress(self._skipped))
            self._skipped = None
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False
