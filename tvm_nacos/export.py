"""Compile one architecture of a finished search with its tuned kernels and export it.

The recipe is the search's own (:meth:`SearchSession.compile
<tvm_nacos.cosearch.session.SearchSession.compile>`): specialize and lower the architecture with
:func:`~tvm_nacos.tuning.tasks.lower_for_tuning`, apply the work directory's tuning database
with :func:`~tvm_nacos.tuning.database.apply_tuned_schedules` (the database, plus schedules
transferred between kernels of one anchor block), and build
with ``tvm.compile``. The result is written as

- ``OUTPUT`` (``.so``): the Relax executable, ``executable.export_library(OUTPUT)``. **The
  weights are inside it**: tvm-nacos modules hold weights as constants, folded into the lowered
  kernels' arguments (batch norm already folded into the convolutions), so there is no separate
  parameter file to load; the only inputs at run time are the network's inputs;
- ``OUTPUT`` with the suffix ``.json``: a manifest (architecture, target, input and output
  shapes, how many kernels had tuned schedules).

Load and run it with TVM's runtime alone:

.. code-block:: python

    lib = tvm.runtime.load_module("arch.so")
    vm = tvm.relax.VirtualMachine(lib, tvm.cpu())
    out = vm["main"](tvm.runtime.tensor(x))
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tvm_nacos.errors import WorkDirError
from tvm_nacos.search_space import ArchSample
from tvm_nacos.workdir import WorkDir

logger = logging.getLogger(__name__)

__all__ = ["MANIFEST_FORMAT", "ExportedArchitecture", "export_architecture", "pick_architecture"]

#: ``format`` field of the manifest, and its version.
MANIFEST_FORMAT = "tvm-nacos/compiled-architecture"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class ExportedArchitecture:
    """What :func:`export_architecture` wrote.

    Attributes
    ----------
    library : Path
        The shared library (Relax executable with its weights).
    manifest : Path
        The JSON manifest beside it.
    sample : ArchSample
        The architecture.
    target : str
        The target it was compiled for (JSON).
    inputs : list of dict
        ``{"name", "shape", "dtype"}`` of each input of ``main``.
    tuned_kernels, num_kernels : int
        Kernels that got a tuned schedule (their own record or an anchor sibling's), of all kernels.
    compile_secs : float
    finish_trials : int
        Candidates the finishing tune measured (0 without one, or when the database had them all).
    finish_secs : float
        Wall time of the finishing tune.
    """

    library: Path
    manifest: Path
    sample: ArchSample
    target: str
    inputs: list[dict[str, Any]] = field(default_factory=list)
    tuned_kernels: int = 0
    num_kernels: int = 0
    compile_secs: float = 0.0
    finish_trials: int = 0
    finish_secs: float = 0.0


def pick_architecture(
    result: Mapping[str, Any],
    *,
    arch_id: str | None = None,
    sample: Mapping[str, str] | None = None,
) -> tuple[ArchSample, Mapping[str, Any] | None]:
    """The architecture to compile and its point in ``pareto.json`` (if it has one).

    By default the fastest architecture of the front; ``arch_id`` picks one of the front or of
    the evaluated architectures; ``sample`` any architecture (it is checked against the space
    later).

    Raises
    ------
    WorkDirError
        The front is empty, or ``arch_id`` is unknown (the message lists the front's ids).
    ValueError
        Both ``arch_id`` and ``sample`` are given.
    """
    if arch_id is not None and sample is not None:
        raise ValueError("give an architecture id or a sample, not both")
    points = {str(p["arch_id"]): p for p in [*result.get("evaluated", []), *result.get("pareto", [])]}
    if sample is not None:
        chosen = ArchSample(sample)
        return chosen, points.get(chosen.id)
    if arch_id is not None:
        if arch_id not in points:
            front = [str(p["arch_id"]) for p in result.get("pareto", [])]
            raise WorkDirError(
                f"no architecture {arch_id!r} in this search; the front has {front} "
                f"(pareto.csv lists all {len(points)} measured ones)"
            )
        return ArchSample(points[arch_id]["sample"]), points[arch_id]
    front = result.get("pareto", [])
    if not front:
        raise WorkDirError("the front of this search is empty: pass an architecture with --sample")
    fastest = min(front, key=lambda p: float(p["latency_ms"]))
    return ArchSample(fastest["sample"]), fastest


def _tensor_info(ty: Any) -> Any:
    """``{"shape", "dtype"}`` of a Relax tensor type (a list of them for a tuple)."""
    from tvm import relax

    from tvm_nacos._compat import TensorType

    if isinstance(ty, TensorType):
        return {"shape": [int(d) for d in ty.shape.values], "dtype": str(ty.dtype)}
    if isinstance(ty, relax.TupleType):
        return [_tensor_info(f) for f in ty.fields]
    return {"type": str(ty)}


def export_architecture(
    work_dir: str | os.PathLike[str],
    *,
    output: str | os.PathLike[str],
    arch_id: str | None = None,
    sample: Mapping[str, str] | None = None,
    target_name: str | None = None,
    finish_trials_per_kernel: int = 0,
    runner: str | None = None,
) -> ExportedArchitecture:
    """Rebuild one architecture of a search with its tuned kernels; export library and manifest.

    Parameters
    ----------
    work_dir : path or WorkDir
        The work directory of a finished search (``pareto.json``, the tuning database, and the
        module: a built-in space by name, or ``model.json``; :meth:`WorkDir.searched_module
        <tvm_nacos.workdir.WorkDir.searched_module>`).
    output : path
        The shared library to write (``.so``); the manifest goes beside it with ``.json``.
    arch_id : str, optional
        An architecture of the search by id.
    sample : Mapping[str, str], optional
        Any architecture of the space. By default: the fastest of the front.
    target_name : str, optional
        For a search over several targets, the target to compile for (its directory
        ``targets/NAME``; :meth:`WorkDir.for_target <tvm_nacos.workdir.WorkDir.for_target>`).
    finish_trials_per_kernel : int
        First a finishing tune (:func:`~tvm_nacos.tuning.tune.finish_architecture`): every
        kernel of the architecture topped up to this many measured candidates, appended to
        the work directory's tuning database. 0 (the default): compile with what the search
        measured.
    runner : str, optional
        Where the finishing tune measures: ``"local"`` (the default) or
        ``"rpc://HOST:PORT/KEY"``, the device the search measured on.

    Returns
    -------
    ExportedArchitecture

    Raises
    ------
    WorkDirError
        No finished search in ``work_dir``, no tuning database for its target, or an unknown
        ``arch_id``.
    InvalidSampleError
        ``sample`` is not an architecture of the space (the message names the valid options).
    TargetError
        A finishing tune on this machine for a target it has no device for (give ``runner``).
    """
    import tvm

    from tvm_nacos.analysis import search_space
    from tvm_nacos.target import as_target
    from tvm_nacos.tuning.compile import compile_architecture
    from tvm_nacos.tuning.database import open_database
    from tvm_nacos.tuning.intrin import register_tensor_intrinsics

    library = Path(output)
    manifest_path = library.with_suffix(".json")
    if manifest_path == library:
        raise ValueError(f"output {str(library)!r} is where the manifest goes; name the library *.so")
    work = WorkDir.open(work_dir).for_target(target_name)
    result = work.read_result()
    chosen, point = pick_architecture(result, arch_id=arch_id, sample=sample)
    target = as_target(result["target"])
    if not work.tuning_dir(target).is_dir():
        raise WorkDirError(f"{work_dir} has no tuning database for target {result['target']}")
    mod, space_name = work.searched_module(result)
    chosen = search_space(mod).canonicalize(chosen)

    finish_trials, finish_secs = 0, 0.0
    if finish_trials_per_kernel:
        finish_trials, finish_secs = _finish(mod, chosen, target, work, finish_trials_per_kernel, runner)
    start = time.perf_counter()
    register_tensor_intrinsics(target)  # tuned schedules may tensorize
    compiled = compile_architecture(mod, target, sample=chosen, database=open_database(work, target))
    executable, tuned_kernels, num_kernels = compiled.executable, compiled.tuned_kernels, compiled.num_kernels
    compile_secs = time.perf_counter() - start

    library.parent.mkdir(parents=True, exist_ok=True)
    executable.export_library(str(library))
    main = compiled.lowered["main"]
    inputs = [{"name": p.name, **_tensor_info(p.ty)} for p in main.params]
    manifest = {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "library": library.name,
        "entry": "main",
        "params": "embedded: the weights are constants inside the library; main takes only the inputs",
        "arch_id": chosen.id,
        "sample": chosen.to_dict(),
        "space": space_name,
        "space_options": result.get("space_options") or {},
        "target": json.loads(str(target)),
        "inputs": inputs,
        "output": _tensor_info(main.ret_ty),
        "tuned_kernels": tuned_kernels,
        "num_kernels": num_kernels,
        "finishing_tune": (
            {"trials_per_kernel": finish_trials_per_kernel, "new_trials": finish_trials, "secs": round(finish_secs, 1)}
            if finish_trials_per_kernel
            else None
        ),
        "accuracy": None if point is None else point.get("accuracy"),
        "latency_ms": None if point is None else point.get("latency_ms"),
        "tvm_version": tvm.__version__,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    logger.info(
        "compiled %s (%d of %d kernels tuned) in %.1f s -> %s", chosen.id, tuned_kernels, num_kernels, compile_secs, library
    )
    return ExportedArchitecture(
        library=library,
        manifest=manifest_path,
        sample=chosen,
        target=str(target),
        inputs=inputs,
        tuned_kernels=tuned_kernels,
        num_kernels=num_kernels,
        compile_secs=compile_secs,
        finish_trials=finish_trials,
        finish_secs=finish_secs,
    )


def _finish(
    mod: Any, sample: ArchSample, target: Any, work: WorkDir, trials_per_kernel: int, runner: str | None
) -> tuple[int, float]:
    """The finishing tune of :func:`export_architecture`: (candidates measured, seconds)."""
    from tvm_nacos.target import TargetError, device_for
    from tvm_nacos.tuning.runner import is_remote
    from tvm_nacos.tuning.tune import finish_architecture

    if isinstance(trials_per_kernel, bool) or not isinstance(trials_per_kernel, int) or trials_per_kernel < 0:
        raise ValueError(f"finish_trials_per_kernel must be an integer >= 0, got {trials_per_kernel!r}")
    if not is_remote(runner) and not device_for(target).exist:
        raise TargetError(
            f"the finishing tune measures on this machine, which has no device for target {target}; "
            "give the runner the search measured on (runner='rpc://HOST:PORT/KEY')"
        )
    logger.info("finishing tune of %s: every kernel to %d measured candidates", sample.id, trials_per_kernel)
    start = time.perf_counter()
    measured = finish_architecture(mod, sample, target=target, work_dir=work, trials_per_kernel=trials_per_kernel,
                                   runner=runner, cost_model=search_cost_model(work))
    return measured, time.perf_counter() - start


def search_cost_model(work: WorkDir) -> Any:
    """The cost model a search of ``work`` saved (trained on every kernel it measured), or
    MetaSchedule's ``"xgb"`` where it saved none."""
    if not work.cost_model_pkl.exists():
        return "xgb"
    from tvm_nacos.cosearch.cost_model import LatencyCostModel

    model = LatencyCostModel()
    model.load(str(work.cost_model_pkl))
    return model
