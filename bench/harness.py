"""The one harness every benchmark of ``bench/`` runs under.

A benchmark is a :class:`Benchmark`: its own arguments, a ``run`` function that measures and
returns a JSON-able result (printing its tables as it likes), a ``summarize`` function that
picks the few figures worth comparing, and named argument presets (``configs``) for the runs
that BENCHMARKS.md cites. The harness adds what every benchmark shares:

- arguments: ``--config``, ``--label``, ``--results-dir``, ``--output``, ``--save/--no-save``,
  ``--overwrite``, ``--log-level`` (and ``--resume [FILE]`` where the benchmark can resume);
- progress: :meth:`RunContext.progress` logs one line with the seconds elapsed;
- a provenance header: git commit and dirty flag of the code measured (the checkout the
  ``tvm_nacos`` package is imported from, so ``PYTHONPATH=/other/checkout`` is recorded as
  that checkout), date, versions, machine, load average and the exact command;
- the result file ``bench/results/<benchmark>/<commit>[-<label>].json`` (:func:`result_path`),
  written atomically, also after every partial result a long benchmark hands to
  :meth:`RunContext.save`.

A result file reads::

    {"benchmark": ..., "label": ..., "config_name": ...,
     "provenance": {"commit": ..., "dirty": ..., "date": ..., "command": ..., "versions": {...},
                    "machine": {...}, "finished": true, "wall_secs": ...},
     "config": {the benchmark's arguments}, "summary": {flat headline figures}, "result": ...}

``bench/run.py`` is the entry point (``python bench/run.py --list``); each script also runs on
its own (``python bench/<benchmark>.py``), through :func:`main`. ``bench/compare.py`` prints
two result files side by side.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import importlib.util
import json
import logging
import math
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger("bench")

#: Where result files go by default: ``bench/results/<benchmark>/``.
RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: What a field of a reconstructed or failed provenance holds when it is not known.
UNKNOWN = "unknown"
#: Digits of the commit in a result file's name (``git log --format=%h`` on this repository).
COMMIT_DIGITS = 7
#: Distributions whose versions a result records, by the key it records them under.
VERSIONED_PACKAGES = {
    "tvm": ("apache-tvm", "tvm"),
    "tvm_ffi": ("apache-tvm-ffi", "tvm-ffi"),
    "xgboost": ("xgboost",),
    "numpy": ("numpy",),
    "torch": ("torch",),
    "scipy": ("scipy",),
    "tvm_nacos": ("tvm-nacos",),
}
#: Packages of ours whose folders a result records once the benchmark has imported them: with an
#: editable install, ``PYTHONPATH=/other/checkout`` swaps ``tvm_nacos`` but not the packages that
#: ``pyproject.toml`` maps from other folders, so a run can mix two checkouts.
CODE_PACKAGES = ("tvm_nacos", "tvm_nacos.passes", "tvm_nacos.search_space")
#: Environment variables that change what a benchmark measures; recorded when set.
RECORDED_ENVIRONMENT = ("PYTHONPATH", "TVM_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: Options the harness owns; everything else in the parsed arguments is the benchmark's config.
_HARNESS_OPTIONS = ("config", "label", "results_dir", "output", "save", "overwrite", "log_level", "resume",
                    "resume_path")


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """One benchmark: what it measures, its arguments, and its named presets.

    Parameters
    ----------
    name : str
        The benchmark's name: its folder under ``bench/results/`` and its ``bench/run.py`` name.
    doc : str
        What it measures and why (the script's docstring); the first line is its one-line summary.
    add_arguments : Callable[[argparse.ArgumentParser], None]
        Adds the benchmark's own options.
    run : Callable[[argparse.Namespace, RunContext], Any]
        Measures; returns the JSON-able result. May print tables, call ``ctx.progress`` and hand
        partial results to ``ctx.save``.
    summarize : Callable[[Any], dict[str, Any]] | None
        The headline figures of a result, flat (``{"joint.hv": 12.25, ...}``): what
        ``bench/compare.py`` shows by default.
    configs : Mapping[str, Sequence[str]]
        Named argument presets (``--config NAME``); the name is the result's default label.
    resumable : bool
        Whether the benchmark takes ``--resume [FILE]`` (keeps the runs of an earlier result).
    save_by_default : bool
        Whether a result file is written unless ``--no-save`` (tools that only read other
        results and print, such as ``compare_tuning``, default to not saving).
    """

    name: str
    doc: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, RunContext], Any]
    summarize: Callable[[Any], dict[str, Any]] | None = None
    configs: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)
    resumable: bool = False
    save_by_default: bool = True

    @property
    def summary_line(self) -> str:
        """The first line of the docstring."""
        return self.doc.strip().splitlines()[0] if self.doc.strip() else ""


# --- provenance ------------------------------------------------------------------------------


def _git(folder: Path, *args: str) -> str | None:
    """Output of ``git -C folder args``, or None where git or the repository is missing."""
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=30,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.rstrip("\n") if done.returncode == 0 else None  # porcelain lines start with a space


def code_dir() -> Path:
    """The folder of the ``tvm_nacos`` package that a benchmark imports, found without importing it."""
    spec = importlib.util.find_spec("tvm_nacos")
    if spec is None or spec.origin is None:
        return Path(__file__).resolve().parent
    return Path(spec.origin).resolve().parent


def git_state(folder: Path) -> dict[str, Any]:
    """Commit (full and short), dirty flag and modified tracked files of the checkout holding ``folder``.

    Fields are :data:`UNKNOWN` where ``folder`` is not in a git checkout.
    """
    commit = _git(folder, "rev-parse", "HEAD")
    if not commit:
        return {"commit": UNKNOWN, "commit_short": UNKNOWN, "dirty": UNKNOWN, "dirty_paths": []}
    status = _git(folder, "status", "--porcelain", "--untracked-files=no") or ""
    paths = [line[3:] for line in status.splitlines() if line.strip()]
    return {"commit": commit, "commit_short": commit[:COMMIT_DIGITS], "dirty": bool(paths), "dirty_paths": paths[:50]}


def package_versions() -> dict[str, str]:
    """Versions of Python and of :data:`VERSIONED_PACKAGES` (``"not installed"`` where absent)."""
    versions = {"python": platform.python_version()}
    for key, distributions in VERSIONED_PACKAGES.items():
        versions[key] = "not installed"
        for distribution in distributions:
            try:
                versions[key] = importlib.metadata.version(distribution)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return versions


def _proc_field(path: str, field: str) -> str | None:
    """The value of the first ``field: value`` line of a ``/proc`` file, or None."""
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                key, sep, value = line.partition(":")
                if sep and key.strip() == field:
                    return value.strip()
    except OSError:
        return None
    return None


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, platform, host name and the load average when the run starts."""
    memory_kib = _proc_field("/proc/meminfo", "MemTotal")
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count()
    return {
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or UNKNOWN,
        "cores": cores,
        "cpu_count": os.cpu_count(),
        "memory_bytes": int(memory_kib.split()[0]) * 1024 if memory_kib else UNKNOWN,
        "platform": platform.platform(),
        "hostname": platform.node(),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else UNKNOWN,
    }


def loaded_code_dirs() -> dict[str, str]:
    """Folders of the :data:`CODE_PACKAGES` imported so far, by package."""
    dirs = {}
    for name in CODE_PACKAGES:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            dirs[name] = str(Path(module.__file__).resolve().parent)
    return dirs


def checkouts(dirs: Mapping[str, str]) -> set[str]:
    """The git checkouts (top-level folders) that ``dirs`` lie in; a folder outside any counts as itself."""
    return {_git(Path(folder), "rev-parse", "--show-toplevel") or folder for folder in dirs.values()}


def command_line(argv: Sequence[str]) -> str:
    """The command as typed: ``python`` and the script path relative to the working directory."""
    return shlex.join(["python", *argv])


def collect_provenance(argv: Sequence[str], *, folder: Path | None = None) -> dict[str, Any]:
    """The provenance header of a run started with ``argv`` (``sys.argv``) now.

    Parameters
    ----------
    argv : Sequence[str]
        The script and its arguments, as ``sys.argv`` holds them.
    folder : Path, optional
        A folder of the checkout whose code is measured; default: the ``tvm_nacos`` package's.
    """
    folder = folder or code_dir()
    return {
        **git_state(folder),
        "code_dir": str(folder),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command_line(argv),
        "cwd": os.getcwd(),
        "versions": package_versions(),
        "machine": machine_info(),
        "environment": {key: os.environ[key] for key in RECORDED_ENVIRONMENT if key in os.environ},
    }


# --- result files ----------------------------------------------------------------------------


def check_label(label: str) -> str:
    """``label`` if it can be part of a file name (letters, digits, ``.``, ``_``, ``-``); else ValueError."""
    if not _LABEL.match(label):
        raise ValueError(f"label {label!r}: use letters, digits, '.', '_' and '-' only, "
                         "starting with a letter or digit")
    return label


def result_name(commit: str, label: str | None = None) -> str:
    """``<commit>[-<label>].json``, the commit cut to :data:`COMMIT_DIGITS` digits."""
    stem = commit[:COMMIT_DIGITS] if commit != UNKNOWN else "nocommit"
    return f"{stem}-{check_label(label)}.json" if label else f"{stem}.json"


def result_path(results_dir: Path | str, benchmark: str, commit: str, label: str | None = None) -> Path:
    """``<results_dir>/<benchmark>/<commit>[-<label>].json``."""
    return Path(results_dir) / check_label(benchmark) / result_name(commit, label)


def json_safe(value: Any) -> Any:
    """``value`` with what JSON cannot hold made plain: non-finite floats → None, tuples and
    sets → lists, paths → strings, numpy scalars and arrays → Python numbers and lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalar or array
        return json_safe(value.tolist())
    return value


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` to ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(json_safe(data), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def load_result(path: Path | str) -> dict[str, Any]:
    """A result file written by the harness; ValueError if ``path`` is not one."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict) or not {"benchmark", "provenance", "result"} <= set(data):
        raise ValueError(f"{path}: not a bench result file (needs 'benchmark', 'provenance' and 'result')")
    return data


# --- a run ---------------------------------------------------------------------------------


class RunContext:
    """What a running benchmark gets from the harness: progress, partial saves, its file paths.

    Parameters
    ----------
    benchmark : Benchmark
        The benchmark being run.
    args : argparse.Namespace
        All parsed arguments.
    provenance : dict
        The header :func:`collect_provenance` made at the start.
    path : Path | None
        The result file, or None when the run is not saved.
    previous : dict | None
        The result file ``--resume`` named (whole file), or None.
    """

    def __init__(self, benchmark: Benchmark, args: argparse.Namespace, provenance: dict[str, Any],
                 path: Path | None, previous: dict[str, Any] | None = None) -> None:
        self.benchmark = benchmark
        self.args = args
        self.provenance = provenance
        self.path = path
        self.previous = previous
        self.start = time.perf_counter()
        self.log = logging.getLogger(f"bench.{benchmark.name}")

    @property
    def previous_result(self) -> Any:
        """The ``result`` of the file ``--resume`` named, or None."""
        return None if self.previous is None else self.previous["result"]

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.start

    def progress(self, message: str, *args: Any) -> None:
        """Log one progress line (INFO, %-style ``args``), prefixed with the seconds elapsed."""
        self.log.info("[%7.1f s] " + message, self.elapsed(), *args)

    def artifact_path(self, suffix: str) -> Path | None:
        """A file beside the result (``.png`` for a plot), or None when the run is not saved."""
        return None if self.path is None else self.path.with_suffix(suffix)

    def document(self, result: Any, *, finished: bool) -> dict[str, Any]:
        """The whole result file for ``result``."""
        config = {k: v for k, v in vars(self.args).items() if k not in _HARNESS_OPTIONS}
        provenance = {**self.provenance, "code_dirs": loaded_code_dirs(), "finished": finished,
                      "wall_secs": round(self.elapsed(), 1)}
        if self.previous is not None:
            provenance["resumed_from"] = {"path": str(self.args.resume_path),
                                          "commit": self.previous["provenance"].get("commit", UNKNOWN)}
        summary = None
        if self.benchmark.summarize is not None and result is not None:
            try:
                summary = self.benchmark.summarize(result)
            except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError) as err:  # partial results
                self.log.debug("no summary yet: %s", err)
        return {"benchmark": self.benchmark.name, "label": self.args.label, "config_name": self.args.config,
                "provenance": provenance, "config": config, "summary": summary, "result": result}

    def save(self, result: Any, *, finished: bool = False) -> None:
        """Write ``result`` (partial unless ``finished``) to the result file, if the run is saved."""
        if self.path is not None:
            write_json(self.path, self.document(result, finished=finished))


def add_common_arguments(parser: argparse.ArgumentParser, benchmark: Benchmark) -> None:
    """The options every benchmark shares."""
    group = parser.add_argument_group("harness options (shared by every benchmark)")
    if benchmark.configs:
        group.add_argument("--config", choices=sorted(benchmark.configs), default=None,
                           help="a named preset of this benchmark's options (later options override it); "
                           + "; ".join(f"{k}: {' '.join(v) or '(defaults)'}" for k, v in benchmark.configs.items()))
    else:
        parser.set_defaults(config=None)
    group.add_argument("--label", default=None, help="suffix of the result file, <commit>-<label>.json "
                       "(default: the --config name)")
    group.add_argument("--results-dir", type=Path, default=RESULTS_DIR,
                       help=f"results root; the file goes to <dir>/{benchmark.name}/ (default: bench/results)")
    group.add_argument("--output", type=Path, default=None, help="write the result file here instead")
    group.add_argument("--save", action=argparse.BooleanOptionalAction, default=benchmark.save_by_default,
                       help="write the result file (default: %(default)s)")
    group.add_argument("--overwrite", action="store_true", help="replace an existing result file")
    group.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                       help="level of the library's log (tvm_nacos; INFO shows each joint round); "
                       "the harness's progress lines are always shown")
    if benchmark.resumable:
        group.add_argument("--resume", nargs="?", const=True, default=None, metavar="FILE",
                           help="keep the runs of an earlier result file (default: this run's own file) "
                           "and do the others")
    else:
        parser.set_defaults(resume=None)


def build_parser(benchmark: Benchmark, prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``benchmark``: its own options, then the harness's."""
    parser = argparse.ArgumentParser(prog=prog, description=benchmark.doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    benchmark.add_arguments(parser)
    add_common_arguments(parser, benchmark)
    return parser


def expand_config(benchmark: Benchmark, argv: Sequence[str]) -> list[str]:
    """``argv`` with the arguments of its ``--config NAME`` put first, so later options override them.

    Raises
    ------
    ValueError
        If ``NAME`` is not one of the benchmark's configs.
    """
    argv = list(argv)
    name = None
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            name = argv[i + 1]
        elif arg.startswith("--config="):
            name = arg.split("=", 1)[1]
    if name is None:
        return argv
    if name not in benchmark.configs:
        raise ValueError(f"{benchmark.name} has no config {name!r}; valid: {sorted(benchmark.configs) or 'none'}")
    return [*benchmark.configs[name], *argv]


def configure_logging(level: str) -> None:
    """The library's log at ``level``, the harness's progress (logger ``bench``) always at INFO."""
    logging.basicConfig(level=getattr(logging, level), format="%(asctime)s %(name)s %(message)s", force=True)
    logger.setLevel(logging.DEBUG if level == "DEBUG" else logging.INFO)


def main(benchmark: Benchmark, argv: Sequence[str] | None = None, *, prog: str | None = None,
         command: Sequence[str] | None = None) -> int:
    """Parse the arguments of ``benchmark``, run it, and write its result file with provenance.

    Parameters
    ----------
    benchmark : Benchmark
        What to run.
    argv : Sequence[str], optional
        Its arguments (default: ``sys.argv[1:]``).
    prog : str, optional
        The program name of ``--help``.
    command : Sequence[str], optional
        The command recorded in the provenance (default: ``sys.argv``).

    Returns
    -------
    int
        The exit status.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(benchmark, prog)
    try:
        expanded = expand_config(benchmark, argv)
    except ValueError as err:
        parser.error(str(err))
    args = parser.parse_args(expanded)
    if args.label is None:
        args.label = args.config
    try:
        if args.label is not None:
            check_label(args.label)
    except ValueError as err:
        parser.error(str(err))
    configure_logging(args.log_level)

    provenance = collect_provenance(list(command) if command is not None else sys.argv)
    path = None
    if args.save:
        path = args.output or result_path(args.results_dir, benchmark.name, provenance["commit"], args.label)
    previous = None
    args.resume_path = None
    if args.resume is not None:
        args.resume_path = path if args.resume is True else Path(args.resume)
        if args.resume_path is None:
            parser.error("--resume without FILE resumes this run's own result file; it needs --save")
        if args.resume_path.exists():
            previous = load_result(args.resume_path)
            logger.info("resuming from %s (commit %s)", args.resume_path, previous["provenance"].get("commit"))
        elif args.resume is not True:
            parser.error(f"--resume {args.resume}: no such file")
    if path is not None and path.exists() and not args.overwrite and args.resume_path != path:
        parser.error(f"{path} exists (a result of this commit); pass --label, --overwrite or --resume")
    if provenance["dirty"] is True:
        logger.warning("the checkout has uncommitted changes (%d files): the result is named by commit %s but "
                       "measures modified code; provenance.dirty_paths lists them",
                       len(provenance["dirty_paths"]), provenance["commit_short"])
    ctx = RunContext(benchmark, args, provenance, path, previous)
    ctx.progress("%s at %s%s: %s", benchmark.name, provenance["commit_short"],
                 " (dirty)" if provenance["dirty"] is True else "", provenance["command"])
    result = benchmark.run(args, ctx)
    ctx.save(result, finished=True)
    dirs = loaded_code_dirs()
    if len(checkouts(dirs)) > 1:
        logger.warning("the code measured came from more than one checkout: %s (an editable install maps "
                       "tvm_nacos.passes and tvm_nacos.search_space to its own checkout whatever PYTHONPATH says)",
                       dirs)
    if path is not None:
        ctx.progress("wrote %s", path)
    return 0
