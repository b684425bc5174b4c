"""What the matmul moves need to know about a linear layer: ``R.matmul`` by a constant weight."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tvm
from tvm import relax

from tvm_nacos.passes.expose_base import MatchContext, static_shape

__all__ = ["LinearInfo", "linear_info", "make_linear"]


@dataclass(frozen=True)
class LinearInfo:
    """A ``R.matmul(x, W)`` whose ``W`` is a constant, given directly or as
    ``R.permute_dims(constant, axes=[1, 0])`` (how ``from_torch`` imports ``nn.Linear``).

    Attributes
    ----------
    weight : numpy.ndarray
        The weight as the matmul uses it, shape ``(in_features, out_features)``.
    transposed : relax.Var or None
        The variable bound to the ``permute_dims`` of the constant (its only user is the
        matmul), or ``None`` when the matmul takes the constant itself.
    in_features, out_features : int
        The contracted (last) axis of ``x`` and the last axis of the output.
    input_shape, output_shape : tuple of int
        Static shapes of ``x`` and of the output.
    """

    weight: np.ndarray
    transposed: relax.Var | None
    in_features: int
    out_features: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]


def linear_info(call: relax.Call, context: MatchContext) -> LinearInfo | None:
    """Describe ``call`` as a linear layer, or ``None`` when it is not one the moves handle.

    Handled: ``R.matmul`` of a tensor of static shape ``(..., K)`` by a constant ``(K, N)``
    weight, or by ``R.permute_dims`` (axes ``[1, 0]``) of a constant ``(N, K)`` weight that
    nothing else uses.
    """
    if not isinstance(call.op, tvm.ir.Op) or call.op.name != "relax.matmul" or len(call.args) != 2:
        return None
    data, weight_expr = call.args
    transposed = None
    weight = context.constant(weight_expr)
    if weight is None and isinstance(weight_expr, relax.Var):
        value = context.value_of(weight_expr)
        if (
            isinstance(value, relax.Call)
            and isinstance(value.op, tvm.ir.Op)
            and value.op.name == "relax.permute_dims"
            and [int(a) for a in value.attrs.axes or []] == [1, 0]
            and context.single_user(weight_expr) is not None
        ):
            source = context.constant(value.args[0])
            if source is not None and source.ndim == 2:
                weight, transposed = source.T, weight_expr
    in_shape, out_shape = static_shape(data), static_shape(call)
    if weight is None or weight.ndim != 2 or in_shape is None or out_shape is None or not in_shape:
        return None
    if in_shape[-1] != weight.shape[0] or out_shape[-1] != weight.shape[1]:
        return None
    return LinearInfo(weight, transposed, int(weight.shape[0]), int(weight.shape[1]), in_shape, out_shape)


def make_linear(data: relax.Expr, weight: np.ndarray, *, like: relax.Call) -> relax.Expr:
    """``R.matmul(data, constant(weight))`` with the ``out_dtype`` of ``like`` (not emitted);
    ``weight`` is ``(in_features, out_features)``."""
    return relax.op.matmul(data, relax.const(np.ascontiguousarray(weight)), out_dtype=like.attrs.out_dtype)
