"""The resumable state of a search: written after every measured batch, read on resume.

``state.json`` holds what identifies the run (its settings) and where it stands (trials
spent, random state, the strategy's own state, schedule transfers); ``cost_model.pkl`` the
shared cost model; ``failures.jsonl`` the reason of every failed candidate (MetaSchedule's
records have no error field). The tuning records themselves are in the tuning database,
appended as they arrive.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tvm_nacos.errors import WorkDirError
from tvm_nacos.workdir import atomic_write_text, read_json

logger = logging.getLogger(__name__)

__all__ = ["STATE_FORMAT", "CheckpointStore"]

#: Version of ``state.json``.
STATE_FORMAT = 1


class CheckpointStore:
    """The files of a search's resumable state in one folder (``WORK_DIR/search``).

    Parameters
    ----------
    state_dir : path
        The folder; created on the first write.
    """

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.state_dir = Path(state_dir)
        self.state_file = self.state_dir / "state.json"
        self.cost_model_file = self.state_dir / "cost_model.pkl"
        self.failures_file = self.state_dir / "failures.jsonl"

    def save(self, state: Mapping[str, Any], cost_model: Any) -> None:
        """Write ``state`` and the cost model (if trained), each atomically."""
        if cost_model.is_trained:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.cost_model_file.with_name(self.cost_model_file.name + ".tmp")
            cost_model.save(str(tmp))
            os.replace(tmp, self.cost_model_file)
        atomic_write_text(self.state_file, json.dumps({"format": STATE_FORMAT, **state}, default=str) + "\n")

    def load(self, run_info: Mapping[str, Any], cost_model: Any) -> dict[str, Any] | None:
        """The saved state of the run ``run_info`` describes (and the cost model loaded into
        ``cost_model``), or ``None`` when nothing was saved.

        Raises
        ------
        WorkDirError
            The state is of another format, or was saved by a run with other settings (the
            message names the settings that differ).
        """
        if not self.state_file.exists():
            return None
        saved = read_json(self.state_file)
        if saved.get("format") != STATE_FORMAT:
            raise WorkDirError(
                f"{self.state_file} has state format {saved.get('format')!r}; this version reads {STATE_FORMAT}"
            )
        differences = sorted(k for k in set(saved["run"]) | set(run_info) if saved["run"].get(k) != run_info.get(k))
        if differences:
            shown = {k: (saved["run"].get(k), run_info.get(k)) for k in differences if k != "space"}
            raise WorkDirError(
                f"cannot resume the run in {self.state_dir.parent}: it differs in {', '.join(differences)} "
                f"(saved vs asked: {shown}); run without resume to start a new search in this directory "
                "(its tuning records are reused), or pass the same settings"
            )
        if self.cost_model_file.exists():
            cost_model.load(str(self.cost_model_file))
        return saved

    def append_failure(self, task_name: str, trial: int, reason: str) -> None:
        """Add one failed candidate's reason to ``failures.jsonl``."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.failures_file, "a", encoding="utf-8") as f:
            f.write(json.dumps({"task": task_name, "trial": trial, "reason": reason}) + "\n")
