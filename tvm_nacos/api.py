"""The Python API behind the ``tvm-nacos`` command line.

One function per subcommand; the command line only parses arguments, calls these, and prints.

- :func:`run_example`: ``tvm-nacos example``;
- :func:`run_search`: ``tvm-nacos search`` (a built-in space or a model file, an accuracy
  estimator by name, the report in the work directory);
- :func:`regenerate_report`: ``tvm-nacos report``;
- :func:`export_architecture`: ``tvm-nacos compile`` (:mod:`tvm_nacos.export`);
- :func:`list_spaces`: ``tvm-nacos spaces`` (needs neither TVM nor PyTorch);
- :func:`architecture_tasks`: ``tvm-nacos tasks``.

TVM and PyTorch are imported inside the functions that need them.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tvm_nacos.export import ExportedArchitecture, export_architecture
from tvm_nacos.search_space import ArchSample, SearchSpace

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_SPACE",
    "ExampleRun",
    "ExportedArchitecture",
    "SearchRun",
    "SpaceSummary",
    "TaskRow",
    "TaskSummary",
    "accuracy_choices",
    "architecture_tasks",
    "export_architecture",
    "list_spaces",
    "regenerate_report",
    "resolve_accuracy",
    "run_example",
    "run_search",
]

#: The space ``tvm-nacos search`` searches when given neither a space nor a model.
DEFAULT_SPACE = "nas-bench-201"


@dataclass(frozen=True)
class ExampleRun:
    """What :func:`run_example` did: the space, the architecture, and how it ran.

    Attributes
    ----------
    space : SearchSpace
        The space of the example supernet.
    sample : ArchSample
        The architecture that was specialized, compiled and run.
    target : str
        The target it was compiled for (JSON).
    output_shape : tuple of int
        Shape of the output of the compiled architecture.
    max_abs_error : float
        Largest difference from the PyTorch reference of the same architecture.
    untuned_latency_ms : float
        Median latency of the compiled architecture, untuned (no MetaSchedule yet).
    compile_secs : float
        Time to specialize and compile.
    """

    space: SearchSpace
    sample: ArchSample
    target: str
    output_shape: tuple[int, ...]
    max_abs_error: float
    untuned_latency_ms: float
    compile_secs: float


def run_example(
    *,
    sample: ArchSample | Mapping[str, str] | None = None,
    target: Any = None,
    seed: int = 0,
) -> ExampleRun:
    """Build the example supernet, specialize one architecture, compile it and run it.

    Parameters
    ----------
    sample : ArchSample or Mapping[str, str], optional
        The architecture; a random one of the space (from ``seed``) by default.
    target : Target, dict or JSON str, optional
        The host CPU by default.
    seed : int
        Seed of the weights, the input and the random architecture.

    Returns
    -------
    ExampleRun
    """
    import numpy as np  # pylint: disable=import-outside-toplevel
    import torch  # pylint: disable=import-outside-toplevel
    import tvm  # pylint: disable=import-outside-toplevel
    from tvm import relax  # pylint: disable=import-outside-toplevel

    from tvm_nacos.analysis import search_space  # pylint: disable=import-outside-toplevel
    from tvm_nacos.examples import example_input, example_supernet  # pylint: disable=import-outside-toplevel
    from tvm_nacos.frontend.torch import apply_sample, from_torch  # pylint: disable=import-outside-toplevel
    from tvm_nacos.passes import CheckChoicePoints, SpecializeArch  # pylint: disable=import-outside-toplevel
    from tvm_nacos.target import as_target  # pylint: disable=import-outside-toplevel

    tvm_target = as_target(target)
    x = example_input(seed)
    logger.info("importing the example supernet from PyTorch")
    supernet = from_torch(example_supernet(seed=seed), (x,))
    space = search_space(supernet)
    logger.info("space: %d choice points, %d architectures", len(space), space.size)
    if sample is None:
        sample = space.sample(np.random.default_rng(seed))
    sample = space.canonicalize(sample if isinstance(sample, ArchSample) else ArchSample(sample))

    start = time.perf_counter()
    specialized = tvm.transform.Sequential([CheckChoicePoints(), SpecializeArch(sample)])(supernet)
    executable = tvm.compile(specialized, target=tvm_target, relax_pipeline=relax.get_default_pipeline(tvm_target))
    compile_secs = time.perf_counter() - start
    logger.info("specialized and compiled %s in %.2f s", sample.id, compile_secs)

    vm = relax.VirtualMachine(executable, tvm.cpu())
    x_tvm = tvm.runtime.tensor(x.numpy())
    output = vm["main"](x_tvm).numpy()
    with torch.no_grad():
        reference = apply_sample(example_supernet(seed=seed), sample)(x).numpy()
    timer = vm.time_evaluator("main", tvm.cpu(), number=10, repeat=5)
    latency_ms = float(np.median(timer(x_tvm).results)) * 1e3
    return ExampleRun(
        space=space,
        sample=sample,
        target=str(tvm_target),
        output_shape=tuple(output.shape),
        max_abs_error=float(np.abs(output - reference).max()),
        untuned_latency_ms=latency_ms,
        compile_secs=compile_secs,
    )


# -- tvm-nacos search ---------------------------------------------------------------------------

_ZERO_COST = ("synflow", "naswot", "grad_norm")


def accuracy_choices(space: str | None) -> list[str]:
    """The accuracy estimators ``--accuracy`` takes by name for a built-in space (``None``: a model file).

    The first is the default. Any space also takes ``MODULE:NAME``, an estimator or function
    importable from Python.
    """
    if space == "nas-bench-201":
        return ["table", *_ZERO_COST, "supernet"]
    if space is not None:
        return list(_ZERO_COST)
    return ["macs", "params"]


def _import_estimator(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    try:
        value = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot import accuracy estimator {spec!r}: {err}") from err
    if inspect.isclass(value):
        value = value()
    if not (hasattr(value, "evaluate") or callable(value)):
        raise ValueError(f"{spec!r} is neither an estimator with evaluate(samples) nor a function of samples")
    return value


def _builtin_space(space: str | None, model: Any, space_options: Mapping[str, Any] | None) -> Any:
    """The built-in space a call names (``DEFAULT_SPACE`` if none) with its options, or ``None``
    when it names a model file.

    Raises
    ------
    ValueError
        Both a space and a model file; space options with a model file; an unknown space or
        option (the message lists the valid ones).
    """
    from tvm_nacos import search_space as spaces  # pylint: disable=import-outside-toplevel

    if space is not None and model is not None:
        raise ValueError("give a built-in space or a model file, not both")
    if model is not None:
        if space_options:
            raise ValueError(f"space options {dict(space_options)} apply to a built-in space, not to a model file")
        return None
    try:
        return spaces.get(space or DEFAULT_SPACE, **dict(space_options or {}))
    except TypeError as err:  # an option the space does not have: the message lists the valid ones
        raise ValueError(str(err)) from err


def resolve_accuracy(
    name: str | None, *, space: str | None = None, module: Any = None, builtin: Any = None
) -> tuple[Any, str]:
    """An accuracy estimator by name: ``(estimator, its name)``.

    Parameters
    ----------
    name : str, optional
        One of :func:`accuracy_choices` for the space, or ``MODULE:NAME`` (an estimator object,
        a class to instantiate without arguments, or a function ``samples -> list[float]``);
        ``None`` for the first choice.
    space : str, optional
        The built-in space searched; ``None`` when a model file is searched.
    module : tvm.IRModule, optional
        The model file's module (needed by ``macs`` and ``params``).
    builtin : BuiltinSpace, optional
        The space object with its options (``resolution``...), for the zero-cost proxies, which
        run its networks; by default the space ``space`` names with its default options.

    Raises
    ------
    ValueError
        ``name`` is not valid for the space (the message lists the valid ones).
    """
    choices = accuracy_choices(space)
    name = name or choices[0]
    if ":" in name:
        return _import_estimator(name), name
    if name not in choices:
        where = f"space {space!r}" if space else "a model file"
        extra = "" if space == "nas-bench-201" else " (table and supernet are NAS-Bench-201's only)"
        raise ValueError(
            f"accuracy {name!r} is not available for {where}; valid: {choices}{extra}, "
            "or MODULE:NAME for an estimator of your own"
        )
    if name == "table":
        from tvm_nacos.accuracy import TableAccuracy  # pylint: disable=import-outside-toplevel

        return TableAccuracy(), name
    if name in _ZERO_COST:
        from tvm_nacos.accuracy import ZeroCostProxy  # pylint: disable=import-outside-toplevel

        return ZeroCostProxy.create(name, space=builtin if builtin is not None else space), name
    if name == "supernet":
        from tvm_nacos.accuracy import SupernetAccuracy  # pylint: disable=import-outside-toplevel

        return SupernetAccuracy(), name
    from tvm_nacos.accuracy.capacity import CapacityProxy  # pylint: disable=import-outside-toplevel

    return CapacityProxy(module, measure=name), name


@dataclass
class SearchRun:
    """What :func:`run_search` did.

    Attributes
    ----------
    result : SearchResult
        The search's result (front, evaluated architectures, budget spent).
    work_dir : Path
    files : dict[str, Path]
        ``json``, ``csv``, ``png`` and ``md``: the result and its report.
    accuracy : str
        The accuracy estimator, by name.
    """

    result: Any
    work_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    accuracy: str = ""


def _search_keywords(search: Callable[..., Any], **optional: Any) -> dict[str, Any]:
    """The optional keywords that this version of ``search`` takes (with a value to pass)."""
    parameters = inspect.signature(search).parameters
    unsupported = [k for k, v in optional.items() if v and k not in parameters]
    if unsupported:
        raise ValueError(f"this version of tvm_nacos.search does not support {', '.join(unsupported)}")
    return {k: v for k, v in optional.items() if k in parameters and v is not None}


def _ensure_results(work_dir: Path, result: Any, space: str | None, since: float) -> dict[str, Path]:
    """``pareto.json`` and the report, written here where ``search`` did not write them."""
    import json  # pylint: disable=import-outside-toplevel

    from tvm_nacos.report import PARETO_CSV, PARETO_JSON, PARETO_PNG, REPORT_MD, write_report  # pylint: disable=import-outside-toplevel

    pareto = work_dir / PARETO_JSON
    if not pareto.is_file() or pareto.stat().st_mtime < since:
        data = json.loads(result.to_json())
        data.setdefault("space", space)
        pareto.write_text(json.dumps(data, indent=1) + "\n")
    files = {"json": pareto, "csv": work_dir / PARETO_CSV, "png": work_dir / PARETO_PNG, "md": work_dir / REPORT_MD}
    current = all(f.is_file() and f.stat().st_mtime >= pareto.stat().st_mtime for f in files.values())
    return files if current else write_report(work_dir)


def run_search(
    space: str | None = None,
    *,
    model: str | os.PathLike[str] | None = None,
    target: Any = None,
    budget: int,
    accuracy: Any = None,
    strategy: str = "joint",
    constraints: Any = None,
    work_dir: str | os.PathLike[str],
    seed: int = 0,
    resume: bool = False,
    progress: Callable[[Any], None] | None = None,
    command: str | None = None,
    space_options: Mapping[str, Any] | None = None,
    **search_options: Any,
) -> SearchRun:
    """Search a built-in space or a model file; write the result and its report to ``work_dir``.

    Parameters
    ----------
    space : str, optional
        A built-in space (:func:`tvm_nacos.search_space.names`); :data:`DEFAULT_SPACE` when
        neither ``space`` nor ``model`` is given.
    model : path, optional
        An IRModule with choice points saved with ``tvm.ir.save_json``; copied into
        ``work_dir`` as ``model.json`` so that the architectures can be compiled later.
    target : Target, dict or JSON str, optional
        The host CPU by default.
    budget : int
        Measurement trials.
    accuracy : str or estimator, optional
        A name of :func:`accuracy_choices`, ``MODULE:NAME``, or an estimator object.
    strategy : str
        ``"joint"``, ``"two-stage"``, ``"random"`` or ``"exhaustive"``.
    constraints : Constraints, optional
    work_dir : path
    seed : int
    resume : bool
        Continue the interrupted search in ``work_dir``.
    progress : callable, optional
        Receives a :class:`~tvm_nacos.cosearch.progress.SearchProgress` after every measured batch.
    command : str, optional
        The command line, recorded in ``run.json`` and the report.
    space_options : Mapping, optional
        Options of the built-in space (``{"resolution": 32}`` for ``mobilenet-v2``; see
        :func:`tvm_nacos.search_space.get`), recorded with the result.
    **search_options
        Passed on to :func:`tvm_nacos.search` (``builder``, ``runner``, ``strategy_options``,
        ``measure_end_to_end``...).

    Returns
    -------
    SearchRun

    Raises
    ------
    ValueError
        Both or a bad space, a bad space option, a bad accuracy name, a bad budget or strategy
        (messages list the valid values); :class:`~tvm_nacos.errors.WorkDirError` for an
        unreadable model file.
    """
    from tvm_nacos.cosearch.search import search  # pylint: disable=import-outside-toplevel
    from tvm_nacos.run_files import copy_model, load_model_file, write_run_info  # pylint: disable=import-outside-toplevel
    from tvm_nacos.workdir import prepare_work_dir  # pylint: disable=import-outside-toplevel

    work = Path(work_dir)
    builtin = _builtin_space(space, model, space_options)  # bad names and options fail now
    if builtin is not None:
        space, subject = space or DEFAULT_SPACE, builtin
    else:
        subject = load_model_file(model)
    if isinstance(accuracy, str) or accuracy is None:
        estimator, accuracy_name = resolve_accuracy(
            accuracy, space=space, module=None if builtin is not None else subject, builtin=builtin
        )
    else:
        estimator, accuracy_name = accuracy, getattr(accuracy, "name", type(accuracy).__name__)
    keywords = _search_keywords(search, resume=resume, progress=progress)
    prepare_work_dir(work)  # refuses a directory of another format before anything is written
    if model is not None:
        copy_model(model, work)
    write_run_info(
        work,
        {
            "space": space, "space_options": dict(space_options or {}), "model": None if model is None else str(model),
            "accuracy": accuracy_name, "command": command,
        },
    )
    started = time.time()
    result = search(
        subject, target=target, accuracy=estimator, budget=budget, strategy=strategy, constraints=constraints,
        work_dir=work, seed=seed, **keywords, **search_options,
    )
    files = _ensure_results(work, result, space, started)
    return SearchRun(result=result, work_dir=work, files=files, accuracy=accuracy_name)


# -- tvm-nacos report ---------------------------------------------------------------------------


def regenerate_report(work_dir: str | os.PathLike[str], *, baselines: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write the report of ``work_dir`` again from its ``pareto.json`` (see :func:`tvm_nacos.report.write_report`)."""
    from tvm_nacos.report import write_report  # pylint: disable=import-outside-toplevel

    return write_report(work_dir, baselines=baselines)


# -- tvm-nacos spaces ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SpaceSummary:
    """One built-in space: name, size, choice points, input shape, what it is."""

    name: str
    size: int
    num_choice_points: int
    input_shape: tuple[int, ...]
    description: str


def list_spaces() -> list[SpaceSummary]:
    """The built-in spaces (pure Python: imports neither TVM nor PyTorch)."""
    from tvm_nacos import search_space as spaces  # pylint: disable=import-outside-toplevel

    summaries = []
    for name in spaces.names():
        builtin = spaces.get(name)
        doc = (type(builtin).__doc__ or "").strip().splitlines()
        summaries.append(
            SpaceSummary(
                name=name,
                size=builtin.space.size,
                num_choice_points=len(builtin.space),
                input_shape=tuple(builtin.input_shape),
                description=doc[0].removesuffix(".").replace(" (see the module docstring)", "") if doc else "",
            )
        )
    return summaries


# -- tvm-nacos tasks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskRow:
    """One fused kernel of an architecture.

    Attributes
    ----------
    key : str
        The task's key in the pool (structural hash).
    name : str
    calls : int
        Calls per inference.
    mflop : float
        Millions of floating-point operations of one call.
    shared_with : int
        How many of the other architectures call the same kernel.
    """

    key: str
    name: str
    calls: int
    mflop: float
    shared_with: int


@dataclass(frozen=True)
class TaskSummary:
    """The tasks of one architecture and what it shares with others.

    Attributes
    ----------
    sample : ArchSample
    rows : list of TaskRow
        Its kernels, most FLOPs (calls × FLOPs) first.
    num_others : int
        Other architectures compared with.
    num_tasks : int
        Unique kernels of all the architectures together.
    sharing_ratio : float
        Kernel occurrences over unique kernels, all architectures together (1.0: nothing shared).
    lower_secs : float
        Time to lower and extract every architecture.
    """

    sample: ArchSample
    rows: list[TaskRow]
    num_others: int
    num_tasks: int
    sharing_ratio: float
    lower_secs: float


def architecture_tasks(
    space: str | None = None,
    *,
    model: str | os.PathLike[str] | None = None,
    sample: ArchSample | Mapping[str, str] | None = None,
    others: int = 8,
    target: Any = None,
    seed: int = 0,
    space_options: Mapping[str, Any] | None = None,
) -> TaskSummary:
    """The fused kernels (tuning tasks) of one architecture, and how many others share each.

    Parameters
    ----------
    space : str, optional
        A built-in space (:data:`DEFAULT_SPACE` if neither it nor ``model`` is given).
    model : path, optional
        A module with choice points saved with ``tvm.ir.save_json``.
    sample : ArchSample or Mapping, optional
        The architecture; a random one (from ``seed``) by default.
    others : int
        Random other architectures to compare with (fewer if the space is smaller).
    target : Target, dict or JSON str, optional
        The host CPU by default.
    seed : int
    space_options : Mapping, optional
        Options of the built-in space (``{"resolution": 32}``...).

    Returns
    -------
    TaskSummary
    """
    import numpy as np  # pylint: disable=import-outside-toplevel

    from tvm_nacos.analysis import search_space  # pylint: disable=import-outside-toplevel
    from tvm_nacos.run_files import load_model_file  # pylint: disable=import-outside-toplevel
    from tvm_nacos.target import as_target  # pylint: disable=import-outside-toplevel
    from tvm_nacos.tuning.tasks import TaskPool  # pylint: disable=import-outside-toplevel

    if isinstance(others, bool) or not isinstance(others, int) or others < 0:
        raise ValueError(f"others must be a number of architectures >= 0, got {others!r}")
    builtin = _builtin_space(space, model, space_options)
    if builtin is not None:
        if sample is not None:
            builtin.space.canonicalize(sample)  # a bad sample fails before the import
        mod = builtin.ir_module()
    else:
        mod = load_model_file(model)
    arch_space = search_space(mod)
    rng = np.random.default_rng(seed)
    chosen = arch_space.canonicalize(sample) if sample is not None else arch_space.sample(rng)
    wanted = min(others, arch_space.size - 1)
    other_samples: dict[str, ArchSample] = {}
    for _ in range(50 * wanted):  # bounded: a small space may repeat samples often
        if len(other_samples) >= wanted:
            break
        candidate = arch_space.sample(rng)
        if candidate.id != chosen.id:
            other_samples.setdefault(candidate.id, candidate)

    start = time.perf_counter()
    pool = TaskPool(as_target(target))
    arch = pool.add_architecture(mod, chosen)
    for other in other_samples.values():
        pool.add_architecture(mod, other)
    rows = [
        TaskRow(
            key=key,
            name=pool[key].name,
            calls=calls,
            mflop=pool[key].flop / 1e6,
            shared_with=sum(1 for arch_id in pool[key].architectures if arch_id != chosen.id),
        )
        for key, calls in arch.weights.items()
    ]
    rows.sort(key=lambda r: -r.calls * r.mflop)
    return TaskSummary(
        sample=chosen,
        rows=rows,
        num_others=len(other_samples),
        num_tasks=len(pool),
        sharing_ratio=pool.sharing_ratio(),
        lower_secs=time.perf_counter() - start,
    )
