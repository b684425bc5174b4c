"""The resumable state of a search: written after every measured batch, read on resume.

``state.json`` holds what identifies the run (its settings) and where it stands (trials
spent, random state, the strategy's own state, schedule transfers); ``cost_model.pkl`` the
shared cost model; ``failures.jsonl`` the reason of every failed candidate (MetaSchedule's
records have no error field). The tuning records themselves are in the tuning database,
appended as they arrive.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from tvm_nacos.errors import WorkDirError
from tvm_nacos.workdir import WorkDir

logger = logging.getLogger(__name__)

__all__ = ["STATE_FORMAT", "CheckpointStore"]

#: Version of ``state.json``.
STATE_FORMAT = 1


class CheckpointStore:
    """The resumable state of a search in its work directory (:attr:`WorkDir.state_dir
    <tvm_nacos.workdir.WorkDir.state_dir>`).

    Parameters
    ----------
    work : WorkDir
    """

    def __init__(self, work: WorkDir) -> None:
        self.work = work

    def save(self, state: Mapping[str, Any], cost_model: Any) -> None:
        """Write ``state`` and the cost model (if trained), each atomically."""
        if cost_model.is_trained:
            path = self.work.cost_model_pkl
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            cost_model.save(str(tmp))
            os.replace(tmp, path)
        self.work.write_state({"format": STATE_FORMAT, **state})

    def load(self, run_info: Mapping[str, Any], cost_model: Any) -> dict[str, Any] | None:
        """The saved state of the run ``run_info`` describes (and the cost model loaded into
        ``cost_model``), or ``None`` when nothing was saved.

        Raises
        ------
        WorkDirError
            The state is of another format, or was saved by a run with other settings (the
            message names the settings that differ).
        """
        saved = self.work.read_state()
        if saved is None:
            return None
        if saved.get("format") != STATE_FORMAT:
            raise WorkDirError(
                f"{self.work.state_json} has state format {saved.get('format')!r}; this version reads {STATE_FORMAT}"
            )
        differences = sorted(k for k in set(saved["run"]) | set(run_info) if saved["run"].get(k) != run_info.get(k))
        if differences:
            shown = {k: (saved["run"].get(k), run_info.get(k)) for k in differences if k != "space"}
            raise WorkDirError(
                f"cannot resume the run in {self.work.path}: it differs in {', '.join(differences)} "
                f"(saved vs asked: {shown}); run without resume to start a new search in this directory "
                "(its tuning records are reused), or pass the same settings"
            )
        if self.work.cost_model_pkl.exists():
            cost_model.load(str(self.work.cost_model_pkl))
        return saved

    def append_failure(self, task_name: str, trial: int, reason: str) -> None:
        """Add one failed candidate's reason to ``failures.jsonl``."""
        self.work.append_failure({"task": task_name, "trial": trial, "reason": reason})
