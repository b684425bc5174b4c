"""Register only the tensor intrinsics a target can use.

Importing TVM's tensor-intrinsics package (:data:`tvm_nacos._compat.TENSOR_INTRIN_PACKAGE`) takes
about 25 s on a 2-core host, mostly registering CUDA, ROCm and Hexagon intrinsics; MetaSchedule
does it in every ``TuneContext`` and, with the stock ``LocalBuilder``, in every builder worker of
every batch. For a CPU target only the file of its architecture matters (0.3 s for x86). This
module installs the package as an empty shell in ``sys.modules`` and imports just the needed
submodules into it, so that later imports of the package are no-ops. GPU targets get the full
import.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import types

import tvm

from tvm_nacos._compat import TENSOR_INTRIN_PACKAGE as _PACKAGE

logger = logging.getLogger(__name__)


def _cpu_intrinsic_files(target: tvm.target.Target) -> tuple[str, ...]:
    triple = str(target.attrs.get("mtriple", "")) if target.attrs is not None else ""
    if triple.startswith(("aarch64", "arm")):
        return ("arm_cpu",)
    if triple.startswith("riscv"):
        return ("riscv_cpu",)
    return ("x86",)


def register_tensor_intrinsics(target: tvm.target.Target) -> None:
    """Make the tensor intrinsics for ``target`` available, as cheaply as possible.

    Parameters
    ----------
    target : tvm.target.Target
        For ``llvm`` targets only the architecture's intrinsics are registered; for any other
        kind the whole package is imported. Once the package is in ``sys.modules`` (either
        way), later calls do nothing.
    """
    if _PACKAGE in sys.modules:
        return
    if target.kind.name != "llvm":
        importlib.import_module(_PACKAGE)
        return
    parent_name, _, child = _PACKAGE.rpartition(".")
    parent = importlib.import_module(parent_name)
    shell = types.ModuleType(_PACKAGE)
    shell.__path__ = [os.path.join(os.path.dirname(parent.__file__), child)]
    shell.__package__ = _PACKAGE
    sys.modules[_PACKAGE] = shell
    setattr(parent, child, shell)
    files = _cpu_intrinsic_files(target)
    for name in files:
        importlib.import_module(f"{_PACKAGE}.{name}")
    logger.debug("registered tensor intrinsics %s for %s", files, target.kind.name)
