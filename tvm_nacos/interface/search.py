"""``tvm-nacos search``: search a built-in space or a model file, with an accuracy estimator by
name, and write the result and its report to the work directory.

- :func:`run_search`: the search, its ``run.json`` (how it was started) and its report;
- :func:`accuracy_choices`, :func:`resolve_accuracy`: the estimators ``--accuracy`` takes.

The search itself is :func:`tvm_nacos.search`, which keeps the searched module in the work
directory (:class:`~tvm_nacos.workdir.WorkDir`). TVM and PyTorch are imported inside the
functions that need them.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tvm_nacos.interface.spaces import DEFAULT_SPACE, resolve_space

logger = logging.getLogger(__name__)

__all__ = ["SearchRun", "accuracy_choices", "resolve_accuracy", "run_search"]

_ZERO_COST = ("synflow", "naswot", "grad_norm")
#: The training recipe of ``--accuracy supernet`` per space (the estimator's defaults otherwise):
#: the ViT supernet needs more epochs and a larger step than the NAS-Bench-201 cell on the digits
#: (``bench/supernet_rho.py --config vit`` measures this recipe).
SUPERNET_RECIPES: dict[str, dict[str, Any]] = {"vit": {"epochs": 40, "learning_rate": 0.1}}


def accuracy_choices(space: str | None) -> list[str]:
    """The accuracy estimators ``--accuracy`` takes by name for a built-in space (``None``: a model file).

    The first is the default. Any space also takes ``MODULE:NAME``, an estimator or function
    importable from Python.
    """
    if space == "nas-bench-201":
        return ["table", *_ZERO_COST, "supernet"]
    if space == "vit":
        # A transformer has no ReLU to read NASWOT's codes from.
        return ["supernet", "synflow", "grad_norm"]
    if space is not None:
        return [*_ZERO_COST, "supernet"]
    return ["macs", "params", "inherited", "naswot"]


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


def resolve_accuracy(
    name: str | None,
    *,
    space: str | None = None,
    module: Any = None,
    builtin: Any = None,
    data: Any = None,
    training_checkpoint: str | os.PathLike[str] | None = None,
    training_progress: Callable[[Any], None] | None = None,
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
    data : ImageData, optional
        Your images (:class:`~tvm_nacos.accuracy.ImageData`): for ``supernet`` and the zero-cost
        proxies instead of the digits (``supernet`` then trains the searched network itself,
        the space with its options, not the small variant it trains on the digits); and for
        ``inherited``, a model file's architectures run by TVM on the validation images
        (:class:`~tvm_nacos.accuracy.InheritedAccuracy`); ``naswot`` of a model file is computed
        by TVM on its module (:class:`~tvm_nacos.accuracy.RelaxNaswot`), on a mini-batch of these
        images or of the digits.
    training_checkpoint : path, optional
        Where ``supernet`` saves its training after every epoch, and continues it from.
    training_progress : callable, optional
        Receives ``supernet``'s :class:`~tvm_nacos.accuracy.TrainingProgress` after every epoch.

    Raises
    ------
    ValueError
        ``name`` is not valid for the space (the message lists the valid ones), or ``data`` is
        given to an estimator that does not take it.
    """
    choices = accuracy_choices(space)
    name = name or choices[0]
    if ":" in name:
        return _import_estimator(name), name
    if name not in choices:
        where = f"space {space!r}" if space else "a model file"
        extra = "" if space == "nas-bench-201" else " (table is NAS-Bench-201's only)"
        raise ValueError(
            f"accuracy {name!r} is not available for {where}; valid: {choices}{extra}, "
            "or MODULE:NAME for an estimator of your own"
        )
    if data is not None and name not in (*_ZERO_COST, "supernet", "inherited"):
        raise ValueError(
            f"accuracy {name!r} does not take data; data feeds 'supernet' and the zero-cost proxies "
            f"({', '.join(_ZERO_COST)}) of a built-in space, and 'inherited' of a model file"
        )
    if name == "inherited":
        if data is None:
            raise ValueError(
                "accuracy 'inherited' scores each architecture on your validation images: give them "
                "(--data FILE [--val-data FILE], .npz with 'images' and 'labels')"
            )
        from tvm_nacos.accuracy.inherited import InheritedAccuracy

        return InheritedAccuracy(module, data), name
    if name == "naswot" and space is None:
        from tvm_nacos.accuracy.relax_naswot import RelaxNaswot

        return RelaxNaswot(module, data), name
    if name == "table":
        from tvm_nacos.accuracy import TableAccuracy

        return TableAccuracy(), name
    if name in _ZERO_COST:
        from tvm_nacos.accuracy import ZeroCostProxy

        return ZeroCostProxy.create(name, space=builtin if builtin is not None else space, data=data), name
    if name == "supernet":
        from tvm_nacos.accuracy import SupernetAccuracy
        from tvm_nacos.search_space import get

        # accuracy_choices offers "supernet" for built-in spaces only: space is a name here.
        recipe = {**SUPERNET_RECIPES.get(str(space), {}), "checkpoint": training_checkpoint,
                  "progress": training_progress}
        if data is None:
            return SupernetAccuracy(str(space), **recipe), name
        searched = builtin if builtin is not None else get(str(space))
        if searched.name == "nas-bench-201":
            return SupernetAccuracy(searched, data=data, resolution=data.image_shape[-1], **recipe), name
        return SupernetAccuracy(searched, data=data, **recipe), name
    from tvm_nacos.accuracy.capacity import CapacityProxy

    return CapacityProxy(module, measure=name), name


@dataclass
class SearchRun:
    """What :func:`run_search` did.

    Attributes
    ----------
    result : SearchResult or MultiTargetResult
        The search's result (front, evaluated architectures, budget spent); one per target for
        a search over several (``targets=``).
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
    name: str | None = None,
    data: Any = None,
    **search_options: Any,
) -> SearchRun:
    """Search a built-in space or a model file; write the result and its report to ``work_dir``.

    Parameters
    ----------
    space : str, optional
        A built-in space (:func:`tvm_nacos.search_space.names`);
        :data:`~tvm_nacos.interface.spaces.DEFAULT_SPACE` when neither ``space`` nor ``model``
        is given.
    model : path, optional
        An IRModule with choice points saved with ``tvm.ir.save_json``; the search keeps it in
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
    work_dir : path or WorkDir
    seed : int
    resume : bool
        Continue the interrupted search in ``work_dir``.
    progress : callable, optional
        Receives a :class:`~tvm_nacos.cosearch.progress.SearchProgress` after every measured batch
        (and, while ``--accuracy supernet`` trains, a :class:`~tvm_nacos.accuracy.TrainingProgress`
        after every epoch; the training is saved in the work directory, and ``resume`` continues it).
    command : str, optional
        The command line, recorded in ``run.json`` and the report.
    space_options : Mapping, optional
        Options of the built-in space (``{"resolution": 32}`` for ``mobilenet-v2``; see
        :func:`tvm_nacos.search_space.get`), recorded with the result.
    name : str, optional
        What is searched, by name, in ``pareto.json`` and the report: the space's name, or the
        model file's name without its suffix, by default.
    data : ImageData, optional
        Your images for the accuracy estimator (see :func:`resolve_accuracy`).
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
    from tvm_nacos.cosearch.budget import check_time_budget
    from tvm_nacos.cosearch.search import search
    from tvm_nacos.errors import SearchConfigError
    from tvm_nacos.target import as_target
    from tvm_nacos.tuning.schedule_options import check_schedule_options
    from tvm_nacos.workdir import WorkDir, load_model_file

    if "targets" in search_options:  # bad targets fail before any network or estimator is built
        from tvm_nacos.cosearch.targets import resolve_targets

        resolve_targets(search_options["targets"])
    else:
        target = as_target(target)  # a bad target fails before any network or estimator is built
    try:  # and bad schedule options before anything is written
        check_schedule_options(search_options.get("schedule_options"))
    except ValueError as err:
        raise SearchConfigError(str(err)) from None
    check_time_budget(search_options.get("time_budget_s"))
    builtin = resolve_space(space, model, space_options)  # bad names and options fail now
    if builtin is not None:
        space, subject = space or DEFAULT_SPACE, builtin
    else:
        subject = load_model_file(model)
    if isinstance(accuracy, str) or accuracy is None:
        estimator, accuracy_name = resolve_accuracy(
            accuracy, space=space, module=None if builtin is not None else subject, builtin=builtin, data=data,
            training_checkpoint=WorkDir(work_dir).supernet_training, training_progress=progress,
        )
    else:
        estimator, accuracy_name = accuracy, getattr(accuracy, "name", type(accuracy).__name__)
    work = WorkDir.prepare(work_dir)  # refuses a directory of another format before anything is written
    if not resume and work.supernet_training.is_file():
        work.supernet_training.unlink()  # a new search trains afresh; --resume continues an interrupted training
    work.write_run_info(
        {
            "space": space, "space_options": dict(space_options or {}), "model": None if model is None else str(model),
            "accuracy": accuracy_name, "command": command,
        }
    )
    result = search(
        subject, target=target, accuracy=estimator, budget=budget, strategy=strategy, constraints=constraints,
        work_dir=work.path, seed=seed, resume=resume, progress=progress,
        name=name or (space if builtin is not None else Path(model).stem), **search_options,
    )
    return SearchRun(result=result, work_dir=work.path, files=work.report_files(), accuracy=accuracy_name)
