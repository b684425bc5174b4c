"""FoldConstantsWithNumpy: evaluate small constant-only Relax calls with numpy.

After ``relax.transform.FoldBatchnormToConv2D`` and ``DecomposeOpsForInference`` every batch norm
leaves a chain of calls on constants (``sqrt(var + eps)``, ``gamma / ...``, ``expand_dims``,
``weight * reshape(...)``, ``beta - mean * ...``). ``relax.transform.FoldConstant`` legalizes,
builds and runs each of them with TVM: 6–14 s per NAS-Bench-201 architecture on two cores, most
of the time :func:`~tvm_nacos.tuning.tasks.simplify_for_inference` takes. numpy evaluates the
same calls in milliseconds, with the same IEEE float32 arithmetic for ``+ - * /`` and ``sqrt``,
so the folded constants are the ones ``FoldConstant`` computes.

Only calls to the ops in :data:`FOLDABLE_OPS` whose every argument is a constant (a tensor
constant, a scalar immediate, a shape, or a variable bound to a constant) and whose result type
is static are folded; everything else is left as it is, for ``FoldConstant`` or for the kernels.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from tvm_nacos._compat import GenericConst, TensorType, const_value, expr_type, tirx

logger = logging.getLogger(__name__)

__all__ = ["FOLDABLE_OPS", "FoldConstantsWithNumpy"]

# dtypes numpy holds exactly as TVM does; anything else (float16 computed in float32 by TVM,
# bfloat16, ...) is left to FoldConstant.
_DTYPES = frozenset({"float32", "float64", "int32", "int64", "bool"})
_FLOATS = frozenset({"float32", "float64"})

_Eval = Callable[[relax.Call, list[np.ndarray], tuple[int, ...]], np.ndarray]


def _elementwise(fn: Callable[..., np.ndarray], *, floats_only: bool = False) -> tuple[_Eval, bool]:
    return (lambda _call, args, _shape: fn(*args)), floats_only


def _to_shape(_call: relax.Call, args: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    # reshape, expand_dims, squeeze: the values keep their order, only the shape changes.
    return args[0].reshape(shape)


def _permute_dims(call: relax.Call, args: list[np.ndarray], _shape: tuple[int, ...]) -> np.ndarray:
    axes = call.attrs.axes
    return np.transpose(args[0], None if axes is None else [int(a) for a in axes])


def _broadcast_to(_call: relax.Call, args: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(args[0], shape)


def _astype(_call: relax.Call, args: list[np.ndarray], _shape: tuple[int, ...]) -> np.ndarray:
    return args[0]  # the cast to the call's dtype happens for every folded call


# (evaluate, floats only): integer division, powers and roots round differently in TVM.
_OPS: dict[str, tuple[_Eval, bool]] = {
    "relax.add": _elementwise(np.add),
    "relax.subtract": _elementwise(np.subtract),
    "relax.multiply": _elementwise(np.multiply),
    "relax.divide": _elementwise(np.divide, floats_only=True),
    "relax.maximum": _elementwise(np.maximum),
    "relax.minimum": _elementwise(np.minimum),
    "relax.negative": _elementwise(np.negative),
    "relax.sqrt": _elementwise(np.sqrt, floats_only=True),
    "relax.rsqrt": _elementwise(lambda x: np.divide(x.dtype.type(1), np.sqrt(x)), floats_only=True),
    "relax.power": _elementwise(np.power, floats_only=True),
    "relax.exp": _elementwise(np.exp, floats_only=True),
    "relax.reshape": (_to_shape, False),
    "relax.expand_dims": (_to_shape, False),
    "relax.squeeze": (_to_shape, False),
    "relax.permute_dims": (_permute_dims, False),
    "relax.broadcast_to": (_broadcast_to, False),
    "relax.astype": (_astype, False),
}

#: Names of the ops the pass evaluates.
FOLDABLE_OPS: frozenset[str] = frozenset(_OPS)


def _static_result(call: relax.Call) -> tuple[str, tuple[int, ...]] | None:
    """The dtype and static shape of the call's tensor result, if both are known and supported."""
    ty = expr_type(call)
    if not isinstance(ty, TensorType) or str(ty.dtype) not in _DTYPES or ty.shape is None:
        return None
    dims = ty.shape.values if isinstance(ty.shape, relax.ShapeExpr) else None
    if dims is None or not all(isinstance(d, tirx.IntImm) for d in dims):
        return None
    return str(ty.dtype), tuple(int(d) for d in dims)


@mutator
class _NumpyFolder(PyExprMutator):  # type: ignore[misc]
    """Replace constant-only calls to :data:`FOLDABLE_OPS` by their value, and uses of variables bound to constants by the constant."""

    def __init__(self, mod: tvm.IRModule) -> None:
        super().__init__(mod)
        self.folded = 0

    # Like FoldConstant: a variable bound to a constant reads as that constant, so the calls
    # that use it see constant arguments.
    def visit_var_(self, var: relax.Var) -> relax.Expr:
        return self._constant_or(super().visit_var_(var))

    def visit_dataflow_var_(self, var: relax.DataflowVar) -> relax.Expr:
        return self._constant_or(super().visit_dataflow_var_(var))

    def _constant_or(self, var: relax.Expr) -> relax.Expr:
        if isinstance(var, relax.Var):
            bound = self.lookup_binding(var)
            if isinstance(bound, GenericConst):
                return bound
        return var

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        if not isinstance(call.op, tvm.ir.Op) or call.op.name not in _OPS:
            return call
        result = _static_result(call)
        if result is None:
            return call
        dtype, shape = result
        evaluate, floats_only = _OPS[call.op.name]
        args = [_value(arg) for arg in call.args if not isinstance(arg, relax.ShapeExpr)]
        if not args or any(a is None or str(a.dtype) not in _DTYPES for a in args):
            return call
        if floats_only and any(str(a.dtype) not in _FLOATS for a in args):
            return call
        with np.errstate(all="ignore"):  # inf / nan fold as TVM computes them
            value = np.asarray(evaluate(call, args, shape))
        if value.shape != shape:  # a semantic this pass does not model: leave it to TVM
            return call
        self.folded += 1
        return relax.const(np.ascontiguousarray(value.astype(dtype, copy=False)), dtype)


def _value(expr: Any) -> np.ndarray | None:
    """The numpy value of a constant argument, or None."""
    if isinstance(expr, GenericConst):
        return const_value(expr).numpy()
    if isinstance(expr, (tirx.FloatImm, tirx.IntImm)):  # scalar operands, such as a batch norm's eps
        return np.array(expr.value, dtype=str(expr.ty))
    return None


@tvm.transform.module_pass(opt_level=0, name="FoldConstantsWithNumpy")
class FoldConstantsWithNumpy:
    """Evaluate constant-only calls to :data:`FOLDABLE_OPS` with numpy.

    Every variable bound to a constant is replaced by the constant where it is used; the bindings
    left unused go with ``CanonicalizeBindings`` and ``DeadCodeElimination``. Calls with a
    non-constant argument, a dynamic result shape or a dtype other than float32, float64, int32,
    int64 or bool are left for ``relax.transform.FoldConstant``.

    Examples
    --------
    Before (after ``FoldBatchnormToConv2D`` and ``DecomposeOpsForInference``)::

        lv = R.add(metadata["ir.GenericConst"][0], T.float32(1e-05))
        lv1 = R.sqrt(lv)
        lv2 = R.divide(metadata["ir.GenericConst"][1], lv1)
        lv3 = R.reshape(lv2, R.shape([16, 1, 1, 1]))
        lv4 = R.multiply(metadata["ir.GenericConst"][2], lv3)
        lv5 = R.nn.conv2d(x, lv4, padding=[1, 1, 1, 1])

    After (the unused bindings of ``lv`` ... ``lv4`` go with ``DeadCodeElimination``)::

        lv5 = R.nn.conv2d(x, metadata["ir.GenericConst"][3], padding=[1, 1, 1, 1])
    """

    def transform_module(self, mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        folder = _NumpyFolder(mod)
        for gv, func in mod.functions_items():
            if isinstance(func, relax.Function):
                folder.builder_.update_func(gv, folder.visit_expr(func))
        logger.debug("folded %d constant calls with numpy", folder.folded)
        return folder.builder_.finalize()
