"""The work directory of a search: every path in it, and the reader and writer of every file.

:class:`WorkDir` is the one place that knows the layout::

    WORK_DIR/
      nacos.json             format marker (WORK_DIR_FORMAT, the version that wrote it)
      pareto.json            the result (SearchResult.to_json: front, evaluated, name, space)
      pareto.csv, pareto.png, report.md   its report (tvm_nacos.report)
      run.json               how the command line started the search (model file, accuracy, command)
      model.json             the searched module when it is not a built-in space (tvm.ir.save_json)
      search/                state of the latest search, rewritten atomically after every batch:
        state.json, cost_model.pkl, failures.jsonl
        supernet_training.pt the training of --accuracy supernet, saved after every epoch
      tuning/<kind>-<hash>/  the tuning database of one target (tvm_nacos.tuning.database),
        end_to_end.jsonl     every end-to-end timing of a network on it (cosearch.end_to_end),
        extraction/          and each architecture's kernels (tuning.extraction_cache)

A search over several targets (``search(..., targets=...)``) keeps each target's search in a
work directory of its own, ``targets/NAME/`` (the layout above); its ``pareto.json`` holds
every target's result under ``"targets"``, and its report puts the fronts side by side.

A directory written by a version with another format is refused with
:class:`~tvm_nacos.errors.WorkDirError` before anything in it is touched. ``pareto.json`` and
``model.json`` together say which module a search ran on, so ``tvm-nacos compile`` and
``tvm-nacos report`` work on the directory of any search, from the command line or from Python.

A model file is an IRModule with choice points saved with ``tvm.ir.save_json``:

.. code-block:: python

    supernet = tvm_nacos.from_torch(model, (x,))            # or after the Expose passes
    pathlib.Path("supernet.json").write_text(tvm.ir.save_json(supernet))

Nothing here imports TVM at import time; the readers of modules and targets import it when
called.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tvm_nacos.errors import WorkDirError

logger = logging.getLogger(__name__)

__all__ = [
    "WORK_DIR_FORMAT",
    "SUPPORTED_RESULT_SCHEMAS",
    "WorkDir",
    "atomic_write_text",
    "load_model_file",
    "read_json",
    "read_result_file",
    "target_json",
]

#: Bumped whenever the layout or the meaning of a file in the work directory changes.
WORK_DIR_FORMAT = 1
#: Schema versions of ``pareto.json`` that this version reads.
SUPPORTED_RESULT_SCHEMAS = (1,)

# The file names, each written here once.
MARKER = "nacos.json"
PARETO_JSON = "pareto.json"
PARETO_CSV = "pareto.csv"
PARETO_PNG = "pareto.png"
REPORT_MD = "report.md"
RUN_JSON = "run.json"
MODEL_JSON = "model.json"
STATE_DIR = "search"
STATE_JSON = "state.json"
COST_MODEL_PKL = "cost_model.pkl"
FAILURES_JSONL = "failures.jsonl"
SUPERNET_TRAINING = "supernet_training.pt"
TUNING_DIR = "tuning"
TARGETS_DIR = "targets"
END_TO_END_JSONL = "end_to_end.jsonl"

_HOW_TO_SAVE = "save a module with choice points as pathlib.Path(FILE).write_text(tvm.ir.save_json(mod))"


class WorkDir:
    """The work directory of a search: its paths and the formats of its files.

    Constructing one touches nothing; :meth:`prepare` (before writing) and :meth:`open` (before
    reading) check the format marker.

    Parameters
    ----------
    path : path or WorkDir
        The directory (it need not exist yet).

    Examples
    --------
    .. code-block:: python

        work = WorkDir.open("nacos-work")
        result = work.read_result()                 # pareto.json, schema checked
        mod, name = work.searched_module(result)    # what `tvm-nacos compile` rebuilds
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"WorkDir({str(self.path)!r})"

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def prepare(cls, path: str | os.PathLike[str]) -> WorkDir:
        """Create the directory if needed (with its format marker) and check that this version can use it.

        Raises
        ------
        WorkDirError
            ``path`` is a file, or the directory was written by a tvm-nacos with another
            work-directory format, or its marker is unreadable. Nothing is changed then.
        """
        from tvm_nacos import __version__

        work = cls(path)
        if work.check_format():
            return work
        work.path.mkdir(parents=True, exist_ok=True)
        marker = {"format_version": WORK_DIR_FORMAT, "created_by": __version__}
        atomic_write_text(work.marker, json.dumps(marker) + "\n")
        return work

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> WorkDir:
        """An existing work directory, to read: its format is checked where it has a marker; nothing is created.

        Raises
        ------
        WorkDirError
            As :meth:`prepare`.
        """
        work = cls(path)
        work.check_format()
        return work

    def check_format(self) -> bool:
        """Whether the directory has a marker of this format (``False``: no marker yet).

        Raises
        ------
        WorkDirError
            ``path`` is a file, the marker is unreadable, or it names another format.
        """
        from tvm_nacos import __version__

        if self.path.exists() and not self.path.is_dir():
            raise WorkDirError(f"work directory {str(self.path)!r} exists and is not a directory")
        if not self.marker.exists():
            return False
        try:
            info = json.loads(self.marker.read_text())
            found = int(info["format_version"])
        except (ValueError, KeyError, TypeError) as err:
            raise WorkDirError(
                f"{self.marker} is not a tvm-nacos work-directory marker ({err}); use another --work-dir"
            ) from err
        if found != WORK_DIR_FORMAT:
            raise WorkDirError(
                f"work directory {str(self.path)!r} was written by tvm-nacos {info.get('created_by', '?')} in format "
                f"{found}; tvm-nacos {__version__} reads format {WORK_DIR_FORMAT} only. Use a new --work-dir "
                "(the old one is left as it is)"
            )
        return True

    # -- paths ------------------------------------------------------------------------------

    @property
    def marker(self) -> Path:
        """``nacos.json``: the format marker."""
        return self.path / MARKER

    @property
    def pareto_json(self) -> Path:
        """``pareto.json``: the result of the search."""
        return self.path / PARETO_JSON

    @property
    def pareto_csv(self) -> Path:
        """``pareto.csv``: one row per measured architecture."""
        return self.path / PARETO_CSV

    @property
    def pareto_png(self) -> Path:
        """``pareto.png``: the accuracy–latency plot."""
        return self.path / PARETO_PNG

    @property
    def report_md(self) -> Path:
        """``report.md``: the summary."""
        return self.path / REPORT_MD

    @property
    def run_json(self) -> Path:
        """``run.json``: how the command line started the search."""
        return self.path / RUN_JSON

    @property
    def model_json(self) -> Path:
        """``model.json``: the searched module, when it is not a built-in space."""
        return self.path / MODEL_JSON

    @property
    def state_dir(self) -> Path:
        """``search/``: the state of the latest search."""
        return self.path / STATE_DIR

    @property
    def state_json(self) -> Path:
        """``search/state.json``: trials spent, random state, what a resume must match."""
        return self.state_dir / STATE_JSON

    @property
    def cost_model_pkl(self) -> Path:
        """``search/cost_model.pkl``: the shared cost model."""
        return self.state_dir / COST_MODEL_PKL

    @property
    def failures_jsonl(self) -> Path:
        """``search/failures.jsonl``: why candidates failed, one JSON object a line."""
        return self.state_dir / FAILURES_JSONL

    @property
    def supernet_training(self) -> Path:
        """``search/supernet_training.pt``: the checkpoint of the supernet trained for ``--accuracy supernet``."""
        return self.state_dir / SUPERNET_TRAINING

    @property
    def tuning_root(self) -> Path:
        """``tuning/``: the tuning databases, one per target."""
        return self.path / TUNING_DIR

    def tuning_dir(self, target: Any) -> Path:
        """``tuning/<kind>-<hash of the target>``: the tuning database of ``target`` (a ``tvm.target.Target``)."""
        digest = hashlib.sha256(target_json(target).encode()).hexdigest()[:10]
        return self.tuning_root / f"{target.kind.name}-{digest}"

    def end_to_end_jsonl(self, target: Any) -> Path:
        """``tuning/<kind>-<hash>/end_to_end.jsonl``: the networks timed end to end on ``target``,
        with their kernel sums (:class:`~tvm_nacos.cosearch.end_to_end.EndToEndModel`)."""
        return self.tuning_dir(target) / END_TO_END_JSONL

    def target_dir(self, name: str) -> WorkDir:
        """``targets/NAME``: the work directory of target ``name`` of a search over several."""
        return WorkDir(self.path / TARGETS_DIR / name)

    def for_target(self, name: str | None = None, result: Mapping[str, Any] | None = None) -> WorkDir:
        """The work directory holding one target's search: this one, or for a search over several
        targets, ``targets/NAME`` (``name`` may be left out when there is one target).

        Raises
        ------
        WorkDirError
            A search over several targets and no ``name`` (or an unknown one): the message lists
            the names; a ``name`` for a search over one target.
        """
        result = self.read_result() if result is None else result
        names = sorted(result.get("targets") or {})
        if not names:
            if name is not None:
                raise WorkDirError(f"{self.path} holds a search for one target ({result.get('target')}); "
                                   f"leave out the target name {name!r}")
            return self
        if name is None and len(names) == 1:
            name = names[0]
        if name not in names:
            raise WorkDirError(
                f"{self.path} holds a search for targets {names}; "
                + ("name one" if name is None else f"there is no target {name!r}")
                + f" (--target-name NAME, or the work directory {self.path / TARGETS_DIR}/NAME)"
            )
        return self.target_dir(name)

    def report_files(self) -> dict[str, Path]:
        """The result and its report: ``{"json", "csv", "png", "md"}``."""
        return {"json": self.pareto_json, "csv": self.pareto_csv, "png": self.pareto_png, "md": self.report_md}

    # -- pareto.json ------------------------------------------------------------------------

    def write_result(self, result_json: str) -> Path:
        """Write ``pareto.json`` (atomically) from :meth:`SearchResult.to_json
        <tvm_nacos.cosearch.search.SearchResult.to_json>`."""
        atomic_write_text(self.pareto_json, result_json.rstrip("\n") + "\n")
        return self.pareto_json

    def read_result(self) -> dict[str, Any]:
        """``pareto.json``, checked (see :func:`read_result_file`)."""
        return read_result_file(self.pareto_json)

    # -- run.json ---------------------------------------------------------------------------

    def write_run_info(self, info: Mapping[str, Any]) -> Path:
        """Write ``run.json`` (creating the directory)."""
        atomic_write_text(self.run_json, json.dumps(dict(info), indent=1, sort_keys=True) + "\n")
        return self.run_json

    def read_run_info(self) -> dict[str, Any]:
        """``run.json``, or ``{}`` when the search was not started by the command line."""
        return dict(read_json(self.run_json)) if self.run_json.is_file() else {}

    # -- model.json -------------------------------------------------------------------------

    def save_model(self, mod: Any) -> Path:
        """Keep the searched module as ``model.json`` (``tvm.ir.save_json``), atomically."""
        import tvm

        atomic_write_text(self.model_json, tvm.ir.save_json(mod))
        return self.model_json

    def load_model(self) -> Any:
        """The module of ``model.json`` (see :func:`load_model_file`)."""
        return load_model_file(self.model_json)

    def searched_module(self, result: Mapping[str, Any] | None = None) -> tuple[Any, str | None]:
        """The module the search ran on, rebuilt: ``(IRModule, built-in space name or None)``.

        A built-in space (``result["space"]`` and its ``space_options``, or ``run.json``) is
        imported again with the weights of the search (seed 0, as :func:`tvm_nacos.search`
        builds it); any other module is read from ``model.json``.

        Parameters
        ----------
        result : Mapping, optional
            The contents of ``pareto.json`` (read here if not given).

        Raises
        ------
        WorkDirError
            Neither is known (the message lists what was looked for).
        """
        result = self.read_result() if result is None else result
        run_info = self.read_run_info()
        name = result.get("space") or run_info.get("space")
        if name:
            from tvm_nacos.search_space import get

            options = result.get("space_options") or run_info.get("space_options") or {}
            logger.info("rebuilding the %s supernet%s", name, f" with {options}" if options else "")
            return get(str(name), **options).ir_module(), str(name)
        if self.model_json.is_file():
            return self.load_model(), None
        raise WorkDirError(
            f"cannot tell which module the search in {self.path} ran on: {PARETO_JSON} has no built-in 'space' "
            f"and there is no {MODEL_JSON} (tvm_nacos.search keeps one; was the directory copied without it?)"
        )

    # -- search/ ----------------------------------------------------------------------------

    def write_state(self, state: Mapping[str, Any]) -> Path:
        """Write ``search/state.json`` atomically."""
        atomic_write_text(self.state_json, json.dumps(dict(state), default=str) + "\n")
        return self.state_json

    def read_state(self) -> dict[str, Any] | None:
        """``search/state.json``, or ``None`` when there is none."""
        return read_json(self.state_json) if self.state_json.is_file() else None

    def append_failure(self, record: Mapping[str, Any]) -> None:
        """Append one failed candidate to ``search/failures.jsonl``."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.failures_jsonl, "a", encoding="utf-8") as f:
            f.write(json.dumps(dict(record)) + "\n")


# -- formats without a work directory ---------------------------------------------------------


def read_result_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a ``pareto.json``.

    Returns
    -------
    dict
        The parsed JSON (``pareto`` and ``evaluated`` lists of points, run metadata).

    Raises
    ------
    WorkDirError
        The file is missing (the message says how to make one), is not JSON, or has an unknown
        ``schema_version`` (the message lists the supported ones).
    """
    path = Path(path)
    if not path.is_file():
        raise WorkDirError(
            f"{path} does not exist: not the work directory of a finished search "
            "(run `tvm-nacos search --work-dir DIR` first)"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise WorkDirError(f"{path} is not valid JSON: {err}") from err
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version not in SUPPORTED_RESULT_SCHEMAS:
        raise WorkDirError(
            f"{path}: schema_version {version!r} is not supported; supported: {list(SUPPORTED_RESULT_SCHEMAS)}"
        )
    results = data.get("targets")
    if results is not None:  # a search over several targets: one result per target
        if not isinstance(results, dict) or not results or not all(isinstance(r, dict) for r in results.values()):
            raise WorkDirError(f"{path}: field 'targets' must map target names to results")
    for result in results.values() if results is not None else [data]:
        for key in ("pareto", "evaluated"):
            if not isinstance(result.get(key), list):
                raise WorkDirError(f"{path}: field {key!r} must be a list of points")
    return data


def load_model_file(path: str | os.PathLike[str]) -> Any:
    """Load an IRModule saved with ``tvm.ir.save_json``.

    Raises
    ------
    WorkDirError
        The file is missing or does not hold an IRModule (the message says how to make one).
    """
    import tvm

    path = Path(path)
    if not path.is_file():
        raise WorkDirError(f"model file {str(path)!r} does not exist")
    try:
        mod = tvm.ir.load_json(path.read_text())
    except Exception as err:  # TVM's parser raises its own error types
        raise WorkDirError(f"model file {str(path)!r} is not a TVM JSON file ({err}); {_HOW_TO_SAVE}") from err
    if not isinstance(mod, tvm.IRModule):
        raise WorkDirError(f"model file {str(path)!r} holds a {type(mod).__name__}, not an IRModule; {_HOW_TO_SAVE}")
    return mod


def target_json(target: Any) -> str:
    """A ``tvm.target.Target`` as canonical JSON: what names its tuning database."""
    return json.dumps(dict(target.export()), sort_keys=True, default=str)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old or the new file, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Load a JSON file, naming it in the error."""
    try:
        return json.loads(Path(path).read_text())
    except ValueError as err:
        raise WorkDirError(f"{path} is not valid JSON ({err}); delete it or use another --work-dir") from err
