"""The files of a work directory that the command line reads and writes, and the searched module.

- ``pareto.json``: the result (:meth:`SearchResult.to_json
  <tvm_nacos.cosearch.search.SearchResult.to_json>`, with the built-in ``space`` or ``null``);
- ``pareto.csv``, ``pareto.png``, ``report.md``: its report (:mod:`tvm_nacos.report`);
- ``run.json``: how the command line started the search (space or model file, accuracy
  estimator, the command);
- ``model.json``: the searched module when it is not a built-in space (``tvm.ir.save_json``),
  so that ``tvm-nacos compile`` can rebuild it;
- ``tuning/<kind>-<hash>/``: the tuning database of one target (:mod:`tvm_nacos.tuning.database`);
- ``nacos.json``, ``search/``: the format marker and the state of a resumable search
  (:mod:`tvm_nacos.workdir`).

A model file is an IRModule with choice points saved with ``tvm.ir.save_json``:

.. code-block:: python

    supernet = tvm_nacos.from_torch(model, (x,))            # or after the Expose passes
    pathlib.Path("supernet.json").write_text(tvm.ir.save_json(supernet))
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tvm_nacos.errors import WorkDirError

logger = logging.getLogger(__name__)

__all__ = [
    "MODEL_JSON",
    "RUN_JSON",
    "copy_model",
    "load_model_file",
    "read_run_info",
    "supernet_of",
    "write_run_info",
]

RUN_JSON = "run.json"
MODEL_JSON = "model.json"


def write_run_info(work_dir: str | os.PathLike[str], info: Mapping[str, Any]) -> Path:
    """Write ``WORK_DIR/run.json`` (creating the directory)."""
    path = Path(work_dir) / RUN_JSON
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(info), indent=1, sort_keys=True) + "\n")
    return path


def read_run_info(work_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``WORK_DIR/run.json``, or ``{}`` when the search was not started by the command line."""
    path = Path(work_dir) / RUN_JSON
    return json.loads(path.read_text()) if path.is_file() else {}


def load_model_file(path: str | os.PathLike[str]) -> Any:
    """Load an IRModule saved with ``tvm.ir.save_json``.

    Raises
    ------
    WorkDirError
        The file is missing or does not hold an IRModule (the message says how to make one).
    """
    import tvm  # pylint: disable=import-outside-toplevel

    path = Path(path)
    if not path.is_file():
        raise WorkDirError(f"model file {str(path)!r} does not exist")
    how = "save a module with choice points as pathlib.Path(FILE).write_text(tvm.ir.save_json(mod))"
    try:
        mod = tvm.ir.load_json(path.read_text())
    except Exception as err:  # TVM's parser raises its own error types
        raise WorkDirError(f"model file {str(path)!r} is not a TVM JSON file ({err}); {how}") from err
    if not isinstance(mod, tvm.IRModule):
        raise WorkDirError(f"model file {str(path)!r} holds a {type(mod).__name__}, not an IRModule; {how}")
    return mod


def copy_model(path: str | os.PathLike[str], work_dir: str | os.PathLike[str]) -> Path:
    """Copy a model file into the work directory as ``model.json``; returns the copy."""
    target = Path(work_dir) / MODEL_JSON
    target.parent.mkdir(parents=True, exist_ok=True)
    if Path(path).resolve() != target.resolve():
        shutil.copyfile(path, target)
    return target


def supernet_of(work_dir: str | os.PathLike[str], result: Mapping[str, Any]) -> tuple[Any, str | None]:
    """The module a search of ``work_dir`` ran on, rebuilt: ``(IRModule, built-in space name or None)``.

    A built-in space (``result["space"]`` and its ``space_options``, or ``run.json``) is imported
    again with the weights of the search (seed 0, as :func:`tvm_nacos.search` builds it); a model
    is read from ``model.json``.

    Raises
    ------
    WorkDirError
        Neither is known (the message lists what was looked for).
    """
    work = Path(work_dir)
    run_info = read_run_info(work)
    name = result.get("space") or run_info.get("space")
    if name:
        from tvm_nacos.search_space import get  # pylint: disable=import-outside-toplevel

        options = result.get("space_options") or run_info.get("space_options") or {}
        logger.info("rebuilding the %s supernet%s", name, f" with {options}" if options else "")
        return get(str(name), **options).ir_module(), str(name)
    if (work / MODEL_JSON).is_file():
        return load_model_file(work / MODEL_JSON), None
    raise WorkDirError(
        f"cannot tell which module the search in {work} ran on: pareto.json has no built-in 'space' "
        f"and there is no {MODEL_JSON} (searches started by `tvm-nacos search` keep one)"
    )
