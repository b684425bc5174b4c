"""Output check: every measured candidate must compute what its unscheduled kernel computes.

A schedule is a rewrite that must not change results, but a bug in a schedule primitive, a
postprocessor or code generation can produce a fast kernel that is wrong, and tuning would
happily pick it. With the check on, the builder and the runner work as a pair:

- :class:`~tvm_nacos.tuning.builder.PersistentBuilder` (``check_outputs=True``) knows the
  tasks' unscheduled kernels (:meth:`~tvm_nacos.tuning.builder.PersistentBuilder.add_reference`).
  Once per task it compiles the unscheduled kernel with the plain TIR pipeline, runs it on
  seeded random inputs and keeps inputs and outputs in a ``.npz`` file (:class:`ReferenceStore`).
  Beside each candidate's artifact it writes ``<artifact>.check.json``, naming those files.
- The checking local runner (:class:`~tvm_nacos.tuning.runner.CheckingLocalRunner`, from
  ``make_runner("local", measure=MeasureConfig(check_outputs=True))``) runs the candidate on the
  same inputs before timing it; outputs further from the reference than the tolerance make the
  candidate an error, ``"output mismatch: max abs error X > tol Y ..."``, and it is not timed.

A candidate is matched to its reference by its argument signature (shapes and dtypes), since
MetaSchedule hands the builder only the scheduled module. Two tasks can share a signature; the
candidate then passes if it matches either, so a correct candidate is never rejected.

A schedule whose weights are laid out anew (``RewriteLayout``) is timed without the layout
rewrite (the compiled network rewrites the constants once, ahead of time); its check runs a second
build that keeps the rewrite, so that it takes the reference's inputs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tvm

from tvm_nacos._compat import meta_schedule

ms = meta_schedule()

logger = logging.getLogger(__name__)

__all__ = [
    "CHECK_FILE_SUFFIX",
    "OutputMismatch",
    "ReferenceStore",
    "compare_outputs",
    "entry_function",
    "read_check_file",
    "run_output_check",
    "signature",
    "write_check_file",
]

#: ``<artifact><suffix>`` holds what the runner needs to check that artifact.
CHECK_FILE_SUFFIX = ".check.json"
#: Inputs of every reference come from this seed: kernels with the same signature share them.
INPUT_SEED = 20240531

Signature = tuple[tuple[tuple[int, ...], str], ...]


class OutputMismatch(RuntimeError):
    """A candidate's outputs differ from its unscheduled kernel's (raised in a runner worker)."""


def entry_function(mod: tvm.IRModule) -> tuple[str, Any]:
    """(name, PrimFunc) of a kernel module: ``main``, or its only function."""
    items = [(gv.name_hint, func) for gv, func in mod.functions_items()]
    for name, func in items:
        if name == "main":
            return name, func
    if len(items) != 1:
        raise ValueError(f"a kernel module has one function or a 'main'; this one has {[n for n, _ in items]}")
    return items[0]


def signature(mod: tvm.IRModule) -> Signature:
    """Shapes and dtypes of the kernel's arguments, as its unscheduled form takes them."""
    _, func = entry_function(mod)
    infos = ms.arg_info.ArgInfo.from_prim_func(func)
    return tuple((tuple(int(d) for d in info.as_json()[2]), str(info.as_json()[1])) for info in infos)


def _random_inputs(sig: Signature) -> list[np.ndarray]:
    """Uniform(-1, 1) floats; integers and booleans are zero (a random index could be out of range)."""
    rng = np.random.default_rng(INPUT_SEED)
    arrays = []
    for shape, dtype in sig:
        if np.issubdtype(np.dtype(dtype), np.floating):
            arrays.append(rng.uniform(-1.0, 1.0, size=shape).astype(dtype))
        else:
            arrays.append(np.zeros(shape, dtype=dtype))
    return arrays


class ReferenceStore:
    """Unscheduled kernels, and their outputs on seeded inputs (computed once per kernel).

    Parameters
    ----------
    directory : path
        Where the ``.npz`` files go.
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self._kernels: dict[str, tuple[tvm.IRModule, Signature]] = {}
        self._files: dict[tuple[str, str], Path] = {}  # (kernel key, target) -> .npz
        self._failed: dict[tuple[str, str], str] = {}  # (kernel key, target) -> why

    def __len__(self) -> int:
        return len(self._kernels)

    def add(self, mod: tvm.IRModule) -> str:
        """Register an unscheduled kernel; returns its key (adding it again costs nothing)."""
        from tvm_nacos.tuning.tasks import task_key

        key = task_key(mod)
        if key not in self._kernels:
            self._kernels[key] = (mod, signature(mod))
        return key

    def clear_files(self) -> None:
        """Delete the reference outputs computed so far (the kernels stay registered)."""
        shutil.rmtree(self.directory, ignore_errors=True)
        self._files.clear()
        self._failed.clear()

    def references_for(self, scheduled: tvm.IRModule, target: tvm.target.Target) -> list[str]:
        """Paths of the reference files of every kernel with the signature of ``scheduled``.

        Raises
        ------
        RuntimeError
            A reference kernel failed to compile or run (the message says why; not retried).
        """
        sig = signature(scheduled)
        return [str(self._file(key, target)) for key, (_, s) in self._kernels.items() if s == sig]

    def _file(self, key: str, target: tvm.target.Target) -> Path:
        cache_key = (key, str(target))
        if cache_key in self._failed:
            raise RuntimeError(self._failed[cache_key])
        if cache_key not in self._files:
            mod, sig = self._kernels[key]
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{key}-{len(self._files)}.npz"
            inputs = _random_inputs(sig)
            try:
                outputs = _run_reference(mod, target, inputs)
            except Exception as err:
                self._failed[cache_key] = f"the unscheduled kernel {key} failed to compile or run: {err}"
                raise RuntimeError(self._failed[cache_key]) from err
            np.savez(path, **{f"in{i}": a for i, a in enumerate(inputs)}, **{f"out{i}": a for i, a in enumerate(outputs)})
            logger.debug("reference of kernel %s computed: %s", key, path)
            self._files[cache_key] = path
        return self._files[cache_key]


def _run_reference(mod: tvm.IRModule, target: tvm.target.Target, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Compile the unscheduled kernel with the default TIR pipeline and run it on ``inputs``."""
    import warnings

    from tvm_nacos._compat import tirx
    from tvm_nacos.target import device_for

    name, _ = entry_function(mod)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        lib = tirx.build(mod, target=target)
    device = device_for(target)
    tensors = [tvm.runtime.tensor(a, device) for a in inputs]
    lib[name](*tensors)
    return [t.numpy() for t in tensors]


def write_check_file(artifact_path: str, *, check_artifact: str | None, references: Sequence[str]) -> str:
    """Write ``<artifact>.check.json``; returns its path."""
    path = str(artifact_path) + CHECK_FILE_SUFFIX
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"check_artifact": check_artifact, "references": list(references)}, f)
    return path


def read_check_file(artifact_path: str) -> dict[str, Any] | None:
    """What :func:`write_check_file` wrote beside ``artifact_path``, or ``None``."""
    path = str(artifact_path) + CHECK_FILE_SUFFIX
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def compare_outputs(
    actual: Sequence[np.ndarray], expected: Sequence[np.ndarray], *, rtol: float, atol: float
) -> str | None:
    """``None`` when every argument matches, else the mismatch as one line.

    An argument matches when ``max |actual - expected| <= atol + rtol * max |expected|`` (NaN
    where the reference has NaN is a match; anywhere else it is an infinite error).
    """
    worst: tuple[float, str] | None = None
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        if a.shape != e.shape:
            return f"output mismatch: argument {i} has shape {a.shape}, the reference {e.shape}"
        a64, e64 = a.astype(np.float64), e.astype(np.float64)
        error = np.abs(a64 - e64)
        error[np.isnan(a64) & np.isnan(e64)] = 0.0
        error = np.nan_to_num(error, nan=np.inf)
        if error.size == 0:
            continue
        max_error = float(error.max())
        finite = np.abs(e64[np.isfinite(e64)])
        tol = atol + rtol * (float(finite.max()) if finite.size else 0.0)
        if max_error > tol and (worst is None or max_error - tol > worst[0]):
            worst = (
                max_error - tol,
                f"output mismatch: max abs error {max_error:.4g} > tol {tol:.4g} in argument {i} of "
                f"{len(expected)}, against the unscheduled kernel",
            )
    return None if worst is None else worst[1]


def run_output_check(artifact_path: str, device: Any, *, rtol: float, atol: float) -> None:
    """Run the candidate of ``artifact_path`` on its references' inputs (in a runner worker).

    Raises
    ------
    OutputMismatch
        Its outputs match no reference, or it has no check data.
    """
    check = read_check_file(artifact_path)
    if check is None:
        raise OutputMismatch(
            f"output check: no {CHECK_FILE_SUFFIX} beside {artifact_path}; build candidates with "
            "PersistentBuilder(check_outputs=True)"
        )
    if not check["references"]:
        raise OutputMismatch(
            "output check: no reference kernel has this candidate's signature; give the builder the "
            "task's unscheduled kernel with PersistentBuilder.add_reference(task_mod)"
        )
    rt_mod = tvm.runtime.load_module(check["check_artifact"] or artifact_path)
    function = rt_mod[rt_mod.entry_name]
    problems = []
    for reference in check["references"]:
        with np.load(reference) as data:
            count = sum(1 for name in data.files if name.startswith("in"))
            tensors = [tvm.runtime.tensor(data[f"in{i}"], device) for i in range(count)]
            function(*tensors)
            device.sync()
            problem = compare_outputs(
                [t.numpy() for t in tensors], [data[f"out{i}"] for i in range(count)], rtol=rtol, atol=atol
            )
        if problem is None:
            return
        if problem not in problems:
            problems.append(problem)
    raise OutputMismatch(" / ".join(problems) + ("" if len(problems) == 1 else " (one per reference kernel)"))
