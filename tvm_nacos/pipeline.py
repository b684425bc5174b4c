"""A Relax pipeline that compiles a supernet as one architecture of a search, with its tuned kernels.

For a compiler engineer with a pipeline of their own: ``tvm-nacos compile`` and
``SearchResult.compile`` build a searched architecture end to end; here the same steps are
passes, to compose with ``tvm.compile`` like MetaSchedule's ``MetaScheduleApplyDatabase``:

.. code-block:: python

    # MetaSchedule: a fused module and a database of tuning records
    with target, database:
        mod = relax.transform.MetaScheduleApplyDatabase()(fused)
    ex = tvm.compile(mod, target=target)

    # tvm-nacos: the supernet the search ran on, and its work directory
    pipeline = tvm_nacos.pipeline.architecture_pipeline("nacos-work", max_latency_ms=2.0, prefer="most-accurate")
    ex = tvm.compile(supernet, target=target, relax_pipeline=pipeline)

:func:`architecture_pipeline` is, in order,

1. :class:`~tvm_nacos.passes.SelectArchitecture` (:func:`select_architecture` reads the
   front from a work directory): pick an architecture of the front by a rule and specialize
   the supernet to it;
2. :class:`LowerForTuning`: fold batch norm and fuse, as the search extracted its tasks
   (:func:`~tvm_nacos.tuning.tasks.lower_for_tuning`), so the kernels have the database's keys;
3. :class:`ApplyTunedSchedules`: ``MetaScheduleApplyDatabase``, plus the best schedule of a
   measured kernel with the same anchor block where a kernel has no record of its own, as the
   search measured it (:func:`~tvm_nacos.tuning.database.apply_tuned_schedules`);
4. ``relax.pipeline.default_build_pipeline()``: what ``tvm.compile`` runs by default.

The executable is the one ``tvm-nacos compile`` exports for the same pick.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tvm
from tvm import relax

from tvm_nacos._compat import tirx
from tvm_nacos.errors import SearchConfigError, WorkDirError
from tvm_nacos.passes.select_architecture import Preference, SelectArchitecture
from tvm_nacos.report import load_pareto
from tvm_nacos.target import as_target
from tvm_nacos.tuning.database import IS_SCHEDULED_ATTR, apply_tuned_schedules, database_dir, open_database
from tvm_nacos.tuning.intrin import register_tensor_intrinsics
from tvm_nacos.tuning.tasks import lower_for_tuning
from tvm_nacos.workdir import WorkDir, target_json

logger = logging.getLogger(__name__)

__all__ = [
    "ApplyTunedSchedules",
    "ArchitecturePipeline",
    "LowerForTuning",
    "architecture_pipeline",
    "scheduled_kernels",
    "select_architecture",
]


def _current_target(expected: tvm.target.Target | None) -> tvm.target.Target:
    """The target in scope (``tvm.compile`` enters it), checked against ``expected``."""
    target = tvm.target.Target.current(allow_none=True)
    if target is None:
        if expected is None:
            raise SearchConfigError("no target in scope: run this pass under `with target:` or through tvm.compile")
        return expected
    if expected is not None and target_json(target) != target_json(expected):
        raise SearchConfigError(
            f"the target in scope, {target_json(target)}, is not the one the kernels were tuned for, "
            f"{target_json(expected)}; compile for that target"
        )
    return target


def scheduled_kernels(mod: tvm.IRModule) -> list[str]:
    """Names of the PrimFuncs of ``mod`` that carry a tuned schedule (``tirx.is_scheduled``), sorted."""
    return sorted(
        gv.name_hint
        for gv, func in mod.functions_items()
        if isinstance(func, tirx.PrimFunc) and func.attrs is not None and func.attrs.get(IS_SCHEDULED_ATTR, False)
    )


@tvm.transform.module_pass(opt_level=0, name="LowerForTuning")
class LowerForTuning:
    """Fold batch norm and fuse a specialized network, as the search extracted its tasks.

    :func:`~tvm_nacos.tuning.tasks.lower_for_tuning` as a pass, for the target in scope: the
    fused kernels have the keys of the tuning database. (Running Relax's zero pipeline again on
    its output would change every key.)
    """

    def transform_module(self, mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        return lower_for_tuning(mod, _current_target(None))


@tvm.transform.module_pass(opt_level=0, name="ApplyTunedSchedules")
class ApplyTunedSchedules:
    """Give every fused kernel the best tuned schedule the search found for it.

    ``relax.transform.MetaScheduleApplyDatabase`` for the kernels with records of their own;
    a kernel without (a fused variant the search measured through a schedule transferred from
    a kernel with the same anchor block) gets that schedule re-applied, as the search measured
    it. Kernels with neither keep TVM's default schedule.

    Parameters
    ----------
    database : ms.database.Database
        The tuning database (a work directory's: :func:`tvm_nacos.tuning.database.open_database`).
    target : tvm.target.Target, optional
        The target the records were tuned for; the pass refuses another one in scope.

    Attributes
    ----------
    last_scheduled : list of str
        The kernels that got a tuned schedule the last time the pass ran.
    """

    def __init__(self, database: Any, *, target: tvm.target.Target | None = None) -> None:
        self.database = database
        self.target = target
        self.last_scheduled: list[str] = []

    def transform_module(self, mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        target = _current_target(self.target)
        register_tensor_intrinsics(target)  # tuned schedules may tensorize
        tuned = apply_tuned_schedules(mod, self.database, target)
        self.last_scheduled = scheduled_kernels(tuned)
        logger.info("tuned schedules for %d kernels: %s", len(self.last_scheduled), ", ".join(self.last_scheduled))
        return tuned


@tvm.transform.module_pass(opt_level=0, name="NacosArchitecturePipeline")
class ArchitecturePipeline:
    """What :func:`architecture_pipeline` returns: its four steps as one pass, and what they did.

    Attributes
    ----------
    select : SelectArchitecture
        The first step; ``sample`` and ``point`` are the architecture it picked.
    apply : ApplyTunedSchedules
        The third step; ``last_scheduled`` lists the kernels that got tuned schedules.
    passes : tvm.transform.Sequential
        The four steps.
    """

    def __init__(self, select: Any, apply: Any) -> None:
        self.select = select
        self.apply = apply
        self.sample = select.sample
        self.point = select.point
        self.passes = tvm.transform.Sequential(
            [select, LowerForTuning(), apply, relax.pipeline.default_build_pipeline()], name="NacosArchitectureSteps"
        )

    def transform_module(self, mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        return self.passes(mod)


def _one_target(work_dir: str | os.PathLike[str]) -> Path:
    """``work_dir``, or its one target's directory (a search over several targets names none:
    the error lists them; give ``WORK_DIR/targets/NAME``)."""
    path = Path(work_dir)
    return WorkDir.open(path).for_target().path if path.is_dir() else path


def select_architecture(
    work_dir: str | os.PathLike[str],
    *,
    arch_id: str | None = None,
    min_accuracy: float | None = None,
    max_latency_ms: float | None = None,
    prefer: Preference = "fastest",
) -> Any:
    """:class:`~tvm_nacos.passes.SelectArchitecture` for the front of the search in ``work_dir``.

    Raises
    ------
    WorkDirError
        ``work_dir`` holds no finished search (no readable ``pareto.json``), or an unknown
        ``arch_id``.
    SearchConfigError
        A rule that picks nothing (the message says what the front offers).
    """
    return SelectArchitecture(
        load_pareto(_one_target(work_dir)), arch_id=arch_id, min_accuracy=min_accuracy, max_latency_ms=max_latency_ms, prefer=prefer
    )


def architecture_pipeline(
    work_dir: str | os.PathLike[str],
    *,
    arch_id: str | None = None,
    min_accuracy: float | None = None,
    max_latency_ms: float | None = None,
    prefer: Preference = "fastest",
    database: Any = None,
    result: Mapping[str, Any] | None = None,
) -> Any:
    """The Relax pipeline that compiles a supernet as an architecture of a search, tuned.

    Give it to ``tvm.compile(supernet, target=..., relax_pipeline=...)``, with the module the
    search ran on (choice points and all) and the target it tuned for.

    Parameters
    ----------
    work_dir : path
        The work directory of a finished search (``pareto.json`` and its tuning database).
    arch_id, min_accuracy, max_latency_ms, prefer
        Which architecture (:func:`~tvm_nacos.passes.select_architecture.select_point`): by id,
        or the fastest / most accurate of the front's architectures that meet the constraints.
        By default the fastest of the front, as ``tvm-nacos compile``.
    database : ms.database.Database, optional
        The tuning records to apply; by default the work directory's for the search's target.
    result : Mapping, optional
        The parsed ``pareto.json``, if already read.

    Returns
    -------
    ArchitecturePipeline
        A ``tvm.transform.Pass``: :class:`SelectArchitecture`, :class:`LowerForTuning`,
        :class:`ApplyTunedSchedules`, ``default_build_pipeline()``. The pick is made here
        (``pipeline.sample``); after a compile, ``pipeline.apply.last_scheduled`` lists the
        kernels that got tuned schedules.

    Raises
    ------
    SearchConfigError, WorkDirError
        No finished search or tuning database in ``work_dir``, or a rule that picks nothing
        (the message says what the front offers).

    Examples
    --------
    .. code-block:: python

        supernet = tvm.ir.load_json(open("nacos-work/model.json").read())  # or the built-in space's
        pipeline = architecture_pipeline("nacos-work", min_accuracy=0.9)    # fastest with >= 0.9
        ex = tvm.compile(supernet, target=target, relax_pipeline=pipeline)
        vm = relax.VirtualMachine(ex, tvm.cpu())
    """
    if result is None:
        work_dir = _one_target(work_dir)
        result = load_pareto(work_dir)
    select = SelectArchitecture(
        result, arch_id=arch_id, min_accuracy=min_accuracy, max_latency_ms=max_latency_ms, prefer=prefer
    )
    target = as_target(result["target"])
    if database is None:
        if not database_dir(work_dir, target).is_dir():
            raise WorkDirError(f"{work_dir} has no tuning database for target {target_json(target)}")
        database = open_database(work_dir, target)
    logger.info("architecture %s: %s", select.sample.id, select.sample.to_json())
    return ArchitecturePipeline(select, ApplyTunedSchedules(database, target=target))
