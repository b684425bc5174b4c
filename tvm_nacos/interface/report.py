"""``tvm-nacos report``: the report of a finished search, written again from its ``pareto.json``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ReportRun", "regenerate_report"]


@dataclass(frozen=True)
class ReportRun:
    """What :func:`regenerate_report` wrote.

    Attributes
    ----------
    result : dict
        The contents of ``pareto.json``.
    name : str
        What the search searched, by name (:func:`tvm_nacos.report.searched_name`).
    files : dict[str, Path]
        ``json``, ``csv``, ``png`` and ``md``: the result and its report.
    """

    result: dict[str, Any]
    name: str
    files: dict[str, Path] = field(default_factory=dict)


def regenerate_report(
    work_dir: str | os.PathLike[str], *, baselines: Mapping[str, Any] | None = None
) -> ReportRun:
    """Write the report of ``work_dir`` again from its ``pareto.json`` (see :func:`tvm_nacos.report.write_report`).

    Parameters
    ----------
    work_dir : path or WorkDir
        The work directory of a finished search, from the command line or from Python.
    baselines : Mapping[str, path or sequence], optional
        Other fronts to draw, by legend name (work directories, or points).

    Raises
    ------
    WorkDirError
        ``pareto.json`` (or a baseline's) is missing or unreadable.
    """
    from tvm_nacos.report import searched_name, write_report
    from tvm_nacos.workdir import WorkDir

    work = WorkDir.open(work_dir)
    files = write_report(work, baselines=baselines)
    result = work.read_result()
    return ReportRun(result=result, name=searched_name(result, work.read_run_info()), files=files)
