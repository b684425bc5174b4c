"""The one place that names TVM paths which move between releases.

tvm-nacos is verified on apache-tvm 0.27 (see ``constraints.txt``). In that release
``tvm.tir`` became ``tvm.tirx``, schedules and MetaSchedule moved to ``tvm.s_tir``, structural
equality moved to ``tvm_ffi`` and Relax struct-info became ``ty``. Every other module imports
these names from here, so a TVM upgrade touches one file.
"""

from __future__ import annotations

from typing import Any

import tvm
import tvm_ffi
from tvm import relax

from tvm_nacos import errors as _errors

#: TIR (``tvm.tir`` before 0.27).
tirx = tvm.tirx

#: The package of tensor intrinsics (``tvm.tir.tensor_intrin`` before 0.27), as a module name.
TENSOR_INTRIN_PACKAGE = "tvm.s_tir.tensor_intrin"

#: Prefix of MetaSchedule's global functions, such as a custom schedule rule
#: ``f"{META_SCHEDULE_FFI_PREFIX}.{target_key}.{rule}"`` (``meta_schedule`` before 0.27).
META_SCHEDULE_FFI_PREFIX = "s_tir.meta_schedule"

#: PrimFunc attribute that marks a kernel as scheduled; MetaScheduleApplyDatabase sets it
#: (``tir.is_scheduled`` before 0.27).
IS_SCHEDULED_ATTR = "tirx.is_scheduled"

#: Structural equality and hashing (``tvm.ir.structural_equal`` before 0.27).
structural_equal = tvm_ffi.structural_equal
structural_hash = tvm_ffi.structural_hash
get_first_structural_mismatch = tvm_ffi.get_first_structural_mismatch

#: Relax tensor type (``relax.TensorStructInfo`` before 0.27).
TensorType = relax.TensorType

#: Relax constants are generic IR constants in 0.27 (``relax.Constant`` before).
GenericConst = tvm.ir.GenericConst


def meta_schedule() -> Any:
    """Return the MetaSchedule package (``tvm.s_tir.meta_schedule``; ``tvm.meta_schedule`` before 0.27)."""
    from tvm.s_tir import meta_schedule

    return meta_schedule


def tir_schedule_class() -> Any:
    """The TIR ``Schedule`` class (``tvm.tir.Schedule`` before 0.27)."""
    from tvm.s_tir.schedule import Schedule

    return Schedule


def remove_weight_layout_rewrite_block(*, skip_tensor_rewrite: bool) -> tvm.transform.Pass:
    """The pass that drops the blocks rewriting weight layouts
    (``tvm.tir.transform.RemoveWeightLayoutRewriteBlock`` before 0.27)."""
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    return RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=skip_tensor_rewrite)


def find_anchor_block(mod: tvm.IRModule) -> Any:
    """The anchor block of a fused kernel (its conv or matmul), or ``None``
    (``tvm.tir.analysis.find_anchor_block`` before 0.27)."""
    from tvm.s_tir.analysis import find_anchor_sblock

    return find_anchor_sblock(mod)


def estimate_tir_flops(mod: tvm.IRModule) -> float:
    """FLOPs of a TIR module (``tvm.tir.analysis.estimate_tir_flops`` before 0.27)."""
    from tvm.s_tir.analysis import estimate_tir_flops as estimate

    return float(estimate(mod))


def var_name(var: relax.Var) -> str:
    """Name of a Relax variable (``name_hint`` before 0.27)."""
    return str(var.name)


def expr_type(expr: relax.Expr) -> Any:
    """The type (struct info before 0.27) of a normalized Relax expression."""
    return expr.ty


def const_value(const: Any) -> Any:
    """The ``tvm.runtime.Tensor`` held by a Relax constant (``.data`` before 0.27)."""
    return const.value


def _register_error_types() -> None:
    """Let our exceptions keep their type when they cross TVM's FFI (raised inside a pass).

    Without this, an error raised in ``transform_module`` reaches the caller as a plain
    ``RuntimeError``.
    """
    for cls in (
        _errors.ChoicePointError,
        _errors.InvalidSampleError,
        _errors.NoChoicePointError,
        _errors.SearchSpaceError,
        _errors.UnknownSpaceError,
        _errors.UnsupportedModelError,
    ):
        tvm_ffi.register_error(cls)


_register_error_types()
