"""The work directory of a search: its format marker and the files of a run in progress.

``WORK_DIR/nacos.json`` says which format the directory is in; a directory written by a
version with another format is refused with :class:`~tvm_nacos.errors.WorkDirError` before
anything in it is touched. ``WORK_DIR/search/`` holds the state of the latest search
(``state.json``, ``cost_model.pkl``), rewritten atomically after every measured batch so that
a killed run resumes where it stopped; ``WORK_DIR/tuning/`` holds the tuning databases
(:mod:`tvm_nacos.tuning.database`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tvm_nacos.errors import WorkDirError

__all__ = ["WORK_DIR_FORMAT", "atomic_write_text", "prepare_work_dir", "read_json", "search_state_dir"]

#: Bumped whenever the layout or the meaning of a file in the work directory changes.
WORK_DIR_FORMAT = 1
_MARKER = "nacos.json"


def prepare_work_dir(work_dir: str | os.PathLike) -> Path:
    """Create ``work_dir`` if needed and check that this version can use it.

    Raises
    ------
    WorkDirError
        The directory was written by a tvm-nacos with another work-directory format, or its
        marker file is unreadable. Nothing is changed in that case.
    """
    from tvm_nacos import __version__  # pylint: disable=import-outside-toplevel

    path = Path(work_dir)
    if path.exists() and not path.is_dir():
        raise WorkDirError(f"work directory {str(path)!r} exists and is not a directory")
    marker = path / _MARKER
    if marker.exists():
        try:
            info = json.loads(marker.read_text())
            found = int(info["format_version"])
        except (ValueError, KeyError, TypeError) as err:
            raise WorkDirError(f"{marker} is not a tvm-nacos work-directory marker ({err}); use another --work-dir") from err
        if found != WORK_DIR_FORMAT:
            raise WorkDirError(
                f"work directory {str(path)!r} was written by tvm-nacos {info.get('created_by', '?')} in format "
                f"{found}; tvm-nacos {__version__} reads format {WORK_DIR_FORMAT} only. Use a new --work-dir "
                "(the old one is left as it is)"
            )
        return path
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_text(marker, json.dumps({"format_version": WORK_DIR_FORMAT, "created_by": __version__}) + "\n")
    return path


def search_state_dir(work_dir: str | os.PathLike) -> Path:
    """``WORK_DIR/search``: state of the latest search."""
    return Path(work_dir) / "search"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old or the new file, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """Load a JSON file, naming it in the error."""
    try:
        return json.loads(Path(path).read_text())
    except ValueError as err:
        raise WorkDirError(f"{path} is not valid JSON ({err}); delete it or use another --work-dir") from err
