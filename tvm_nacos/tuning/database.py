"""The tuning database of a work directory: MetaSchedule's JSON format, one per target.

Its folder, ``WORK_DIR/tuning/<kind>-<hash>/`` (:meth:`WorkDir.tuning_dir
<tvm_nacos.workdir.WorkDir.tuning_dir>`), holds ``database_workload.json`` and
``database_tuning_record.json`` (JSON lines, appended as results arrive, so a killed session
loses nothing it measured) and ``target.json`` (which target the records are for). A later
session, or another architecture with the same kernels, reads the records instead of measuring
again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import tvm

from tvm_nacos._compat import IS_SCHEDULED_ATTR, meta_schedule, tirx
from tvm_nacos.tuning.tasks import MODULE_EQUALITY
from tvm_nacos.workdir import WorkDir, target_json

ms = meta_schedule()

logger = logging.getLogger(__name__)

WORKLOAD_FILE = "database_workload.json"
RECORD_FILE = "database_tuning_record.json"

#: MetaSchedule records a failed candidate with this run time.
FAILED_RUN_SECS = 1e9

__all__ = [
    "TuningLedger",
    "best_run_secs",
    "count_records",
    "mean_run_secs",
    "database_dir",
    "num_records",
    "open_database",
    "repair_json_lines",
    "anchor_database_of",
    "apply_tuned_schedules",
    "transfer_schedule",
]


def database_dir(work_dir: str | os.PathLike, target: tvm.target.Target) -> Path:
    """``WORK_DIR/tuning/<kind>-<hash of the target>``: :meth:`tvm_nacos.workdir.WorkDir.tuning_dir`."""
    return WorkDir(work_dir).tuning_dir(target)


def open_database(work_dir: str | os.PathLike, target: tvm.target.Target) -> Any:
    """Open (creating it if needed) the JSON tuning database of ``target`` in ``work_dir``."""
    path = database_dir(work_dir, target)
    path.mkdir(parents=True, exist_ok=True)
    repair_json_lines(path / WORKLOAD_FILE, only_last=True)
    repair_json_lines(path / RECORD_FILE)
    target_file = path / "target.json"
    if not target_file.exists():
        target_file.write_text(target_json(target) + "\n")
    return ms.database.JSONDatabase(work_dir=str(path), module_equality=MODULE_EQUALITY)


def repair_json_lines(path: Path, *, only_last: bool = False) -> int:
    """Set aside the lines of a JSON-lines database file that do not parse; returns how many.

    A process killed while appending leaves a truncated last line, which MetaSchedule's loader
    would reject, losing the whole file. Each bad line is moved to ``<file>.corrupt`` (kept, not
    deleted) with a warning naming the file and line; the file is rewritten atomically and ends
    with a newline, so the next append starts a line of its own.

    Parameters
    ----------
    path : Path
        The file; nothing happens if it does not exist.
    only_last : bool
        Only the last line may be repaired. For the workload file: records refer to workloads
        by line number, so dropping any other line would attach records to the wrong kernel.

    Raises
    ------
    WorkDirError
        ``only_last`` and a line before the last one is corrupt.
    """
    from tvm_nacos.errors import WorkDirError

    if not path.exists():
        return 0
    raw = path.read_bytes()
    if not raw:
        return 0
    lines = raw.decode("utf-8", errors="replace").split("\n")
    ends_with_newline = lines[-1] == ""
    if ends_with_newline:
        lines.pop()
    good, bad = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            json.loads(line)
        except ValueError as err:
            if only_last and number != len(lines):
                raise WorkDirError(
                    f"{path}, line {number}: corrupt ({err}); records refer to workloads by line, so it cannot "
                    "be skipped safely. Restore the file or use another --work-dir"
                ) from err
            logger.warning("%s, line %d: corrupt (%s); set aside in %s.corrupt", path, number, err, path.name)
            bad.append(line)
            continue
        good.append(line)
    if not bad and ends_with_newline:
        return 0
    if bad:
        with open(path.with_name(path.name + ".corrupt"), "a", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in bad)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in good), encoding="utf-8")
    os.replace(tmp, path)
    return len(bad)


def count_records(work_dir: str | os.PathLike, target: tvm.target.Target) -> int:
    """Tuning records in the database of ``target`` (lines of its record file)."""
    path = database_dir(work_dir, target) / RECORD_FILE
    if not path.exists():
        return 0
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def mean_run_secs(run_secs: Iterable[Any] | None) -> float:
    """Mean of a record's or a runner result's run seconds; :data:`FAILED_RUN_SECS` when empty."""
    secs = [float(s) for s in run_secs or []]
    return float(np.mean(secs)) if secs else FAILED_RUN_SECS


def num_records(database: Any, mod: tvm.IRModule, limit: int = 1 << 20) -> int:
    """How many measured candidates of the kernel ``mod`` the database holds (up to ``limit``)."""
    if not database.has_workload(mod):
        return 0
    return len(database.get_top_k(database.commit_workload(mod), limit))


def best_run_secs(database: Any, mod: tvm.IRModule) -> float | None:
    """Mean run time of the best measured candidate of ``mod``, or ``None`` if there is none."""
    if not database.has_workload(mod):
        return None
    top = database.get_top_k(database.commit_workload(mod), 1)
    if not top or top[0].run_secs is None:
        return None
    mean = mean_run_secs(top[0].run_secs)
    return None if mean >= FAILED_RUN_SECS else mean


class TuningLedger:
    """Which kernels were tuned to completion, and with how many trials.

    MetaSchedule stops a kernel early when its design space is exhausted (a reshape has one
    candidate), so counting records cannot tell "done" from "interrupted". The ledger, a JSON
    file beside the database, is written after each completed tuning round: a kernel whose
    recorded budget is at least the one asked for is not tuned again.
    """

    FILE_NAME = "completed_kernels.json"

    def __init__(self, work_dir: str | os.PathLike, target: tvm.target.Target) -> None:
        self.path = database_dir(work_dir, target) / self.FILE_NAME
        self._budgets: dict[str, int] = {}
        if self.path.exists():
            self._budgets = {str(k): int(v) for k, v in json.loads(self.path.read_text()).items()}

    def completed(self, key: str, trials: int) -> bool:
        """Whether ``key`` was tuned with at least ``trials`` trials."""
        return self._budgets.get(key, 0) >= trials

    def mark_completed(self, keys: list[str], trials: int) -> None:
        """Record that ``keys`` finished a round of ``trials`` trials (written at once, atomically)."""
        for key in keys:
            self._budgets[key] = max(self._budgets.get(key, 0), trials)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._budgets, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, self.path)


def anchor_database_of(database: Any) -> Any:
    """An ``anchor-block`` database holding the best valid record of every workload of
    ``database`` that has an anchor block (a convolution or matmul)."""
    from tvm_nacos._compat import find_anchor_block, structural_hash

    best: dict[int, tuple[float, Any]] = {}
    for record in database.get_all_tuning_records():
        mean = mean_run_secs(record.run_secs)
        if mean >= FAILED_RUN_SECS:
            continue
        key = int(structural_hash(record.workload.mod))
        if key not in best or mean < best[key][0]:
            best[key] = (mean, record)
    anchor_database = ms.database.MemoryDatabase(module_equality="anchor-block")
    for _, record in best.values():
        if find_anchor_block(record.workload.mod) is not None:
            anchor_database.commit_tuning_record(
                ms.database.TuningRecord(
                    record.trace, anchor_database.commit_workload(record.workload.mod), record.run_secs,
                    record.target, record.args_info,
                )
            )
    return anchor_database


def transfer_schedule(mod: tvm.IRModule, anchor_database: Any, target: tvm.target.Target) -> Any:
    """``mod`` scheduled with the best schedule of a kernel with its anchor block, or ``None``.

    The record comes from ``anchor_database`` (``anchor-block`` equality); its trace is re-applied
    to ``mod`` by MetaSchedule's ``ScheduleUsingAnchorTrace`` (``Database.query_schedule`` would
    replay it on the record's own kernel instead, dropping ``mod``'s epilogue). ``None`` where
    no such kernel was measured or the trace does not transfer.
    """
    from tvm_nacos._compat import find_anchor_block, tir_schedule_class

    if find_anchor_block(mod) is None or not anchor_database.has_workload(mod):
        return None
    record = anchor_database.query_tuning_record(mod, target, workload_name="main")
    if record is None:
        return None
    sch = tir_schedule_class()(mod)
    try:
        ms.trace_apply.schedule_using_anchor_trace(sch, record.trace, target)
    except Exception as err:
        message = str(err).strip().splitlines()
        logger.debug("no schedule transfer: %s", message[-1] if message else type(err).__name__)
        return None
    return sch


def apply_tuned_schedules(
    fused: tvm.IRModule, database: Any, target: tvm.target.Target, anchor_database: Any = None
) -> tvm.IRModule:
    """Schedule the kernels of ``fused`` with the database, and the rest by schedule transfer.

    A kernel with records of its own gets its best one (``MetaScheduleApplyDatabase``). A kernel
    without (a fused variant the search measured only through a transferred schedule, see
    :meth:`tvm_nacos.cosearch.session.TaskTuner.transfer_candidate`) gets the best schedule of a
    kernel with the same anchor block, re-applied by MetaSchedule's anchor-trace transfer; where
    that transfer does not apply, the kernel stays unscheduled (and is logged).

    Parameters
    ----------
    fused : tvm.IRModule
        A module from :func:`tvm_nacos.tuning.tasks.lower_for_tuning`.
    database : ms.database.Database
        The tuning database (structural equality).
    target : tvm.target.Target
    anchor_database : ms.database.Database, optional
        The ``anchor-block`` database to transfer from; by default :func:`anchor_database_of`.

    Returns
    -------
    tvm.IRModule
        ``fused`` with scheduled kernels, ready for ``tvm.compile``.
    """
    from tvm import relax

    with target, database:
        tuned = relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(fused)
    unscheduled = [
        (gv, func) for gv, func in tuned.functions_items()
        if isinstance(func, tirx.PrimFunc) and not (func.attrs and func.attrs.get(IS_SCHEDULED_ATTR, False))
    ]
    if not unscheduled:
        return tuned
    anchor_database = anchor_database if anchor_database is not None else anchor_database_of(database)
    for gv, func in unscheduled:
        sch = transfer_schedule(tvm.IRModule({"main": func}), anchor_database, target)
        if sch is None:
            logger.info("kernel %s stays unscheduled: no tuned schedule of its own or of its anchor block", gv.name_hint)
            continue
        scheduled = sch.mod["main"].with_attr(IS_SCHEDULED_ATTR, True)
        symbol = func.attrs.get("global_symbol") if func.attrs is not None else None
        # The schedule names its function "main"; keep the kernel's own symbol (or none).
        scheduled = scheduled.with_attr("global_symbol", symbol) if symbol is not None else scheduled.without_attr("global_symbol")
        tuned[gv] = scheduled
    return tuned
