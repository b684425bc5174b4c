"""ExposeHeads: fewer attention heads, the projections sliced consistently (a transformer move)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import tvm
from tvm import relax

from tvm_nacos.passes.expose_base import (
    ELEMENTWISE_UNARY_OPS,
    ExposePass,
    InsideOptions,
    MatchContext,
    OptionBuilder,
    Region,
    check_fractions,
    emit_region,
    static_shape,
)
from tvm_nacos.passes.linear import LinearInfo, linear_info, make_linear

__all__ = ["ExposeHeads"]

_BINARY = frozenset(
    {"relax.add", "relax.subtract", "relax.multiply", "relax.divide", "relax.equal", "relax.not_equal",
     "relax.greater", "relax.greater_equal", "relax.less", "relax.less_equal", "relax.maximum", "relax.minimum"}
)
#: Ops whose output has the shape of their first operand, element by element.
_SAME_SHAPE = ELEMENTWISE_UNARY_OPS | {"relax.astype", "relax.logical_not", "relax.exp", "relax.sqrt", "relax.rsqrt",
                                       "relax.full_like", "relax.zeros_like", "relax.ones_like", "relax.nn.dropout"}
_REDUCE = frozenset({"relax.max", "relax.min", "relax.sum", "relax.mean"})


class _Unsupported(Exception):
    """The attention holds an op whose head axis the pass cannot follow."""


@dataclass(frozen=True)
class _Heads:
    """Where the heads of a tensor are: ``axis``, and its ``form``: ``packed`` (size H·dh,
    head-major, as a projection's output), ``split`` (size H) or ``merged`` (size outer·H, the
    heads inner, as a batch axis of the attention's matmuls)."""

    axis: int
    form: str
    outer: int = 1

    def size(self, heads: int, head_dim: int) -> int:
        return heads * head_dim if self.form == "packed" else self.outer * heads

    def indices(self, keep: np.ndarray, heads: int, head_dim: int) -> np.ndarray:
        """The positions along the axis that ``keep`` (head indices) keeps."""
        if self.form == "packed":
            return (keep[:, None] * head_dim + np.arange(head_dim)).ravel()
        return (np.arange(self.outer)[:, None] * heads + keep).ravel()


def _strides(shape: Sequence[int]) -> list[int]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return strides[::-1]


@dataclass
class _Attention:
    """One attention found from its output projection: the region's variables, the layout of
    the heads in each, and the sizes."""

    projections: list[relax.Var]
    output: relax.Var
    variables: list[relax.Var]
    layouts: dict[relax.Var, _Heads]
    heads: int
    head_dim: int


@tvm.transform.module_pass(opt_level=0, name="ExposeHeads")
class ExposeHeads(ExposePass):
    """Offer fewer heads for a multi-head attention, keeping the head size.

    Matches the attention's output projection (a linear layer, see
    :func:`~tvm_nacos.passes.linear.linear_info`) whose input is computed, through the
    attention, from exactly three linear layers of the same width ``H·dh`` (query, key and
    value), plus values computed from constants alone (a mask). The heads are found where a
    reshape splits a projection's last axis into ``(H, dh)``, and followed through every op of
    the attention: reshapes, transposes, broadcasts, the batched matmuls, scaling, the mask,
    the softmax and its guards. An op the pass cannot follow the head axis through leaves the
    attention unexposed.

    The choice point replaces the q/k/v projections, the attention and the output projection
    (the biases after the output projection stay outside). Option ``h<count>`` keeps ``count``
    heads: those with the largest L1 norm of their weights (their rows of q, k and v and their
    columns of the output projection; ties by position), in their original order. Every weight
    and bias on the way is sliced to the kept heads, and every shape follows: the option
    inherits the trained weights, no new weights are drawn, and the output shape is unchanged.

    Label: ``"<op name>.heads"`` with the output projection's op name, e.g. ``"matmul5.heads"``;
    options ``"original"`` and ``"h<count>"``.

    Parameters
    ----------
    fractions : Sequence[float]
        Fractions of the heads in (0, 1]; counts are ``max(1, round(fraction * H))``; a count
        of all heads or a repeated count is left out.
    names, where, seed, inside_options
        Restriction and seed, see :class:`~tvm_nacos.passes.expose_base.ExposePass`; they see
        the output projection. ``seed`` is unused: no weights are drawn.

    Raises
    ------
    tvm_nacos.errors.SearchSpaceError
        A fraction outside (0, 1] or repeated.
    """

    suffix = "heads"

    def __init__(
        self,
        fractions: Sequence[float] = (0.5, 1.0),
        *,
        names: str | Sequence[str] | None = None,
        where: Callable[[relax.Call, MatchContext], bool] | None = None,
        seed: int = 0,
        inside_options: InsideOptions = "all",
    ) -> None:
        super().__init__(names=names, where=where, seed=seed, inside_options=inside_options)
        self.fractions = check_fractions("ExposeHeads", fractions, of="the heads", example="(0.5, 1.0)")

    def match(self, call: relax.Call, context: MatchContext) -> bool:
        return linear_info(call, context) is not None and _attention(call, context) is not None

    def region(self, call: relax.Call, context: MatchContext) -> Region | None:
        found = _attention(call, context)
        return None if found is None else context.make_region(found.variables, output=context.var)

    def options(self, call: relax.Call, context: MatchContext) -> dict[str, OptionBuilder]:
        found = _attention(call, context)
        region = self.region(call, context)
        assert found is not None and region is not None  # checked by match and region
        infos = [linear_info(context.value_of(p), context) for p in found.projections]
        out_info = linear_info(call, context)
        assert out_info is not None and all(i is not None for i in infos)
        h, d = found.heads, found.head_dim
        importance = sum(np.abs(i.weight).sum(axis=0).reshape(h, d).sum(axis=1) for i in infos)
        importance = importance + np.abs(out_info.weight).sum(axis=1).reshape(h, d).sum(axis=1)
        ranked = np.argsort(-importance, kind="stable")
        options: dict[str, OptionBuilder] = {}
        counts = {h}
        for fraction in self.fractions:
            count = max(1, round(fraction * h))
            if count in counts:
                continue
            counts.add(count)
            rewrite = _slicer(found, np.sort(ranked[:count]), context)
            options[f"h{count}"] = lambda bb, inputs, r=rewrite: emit_region(bb, region, inputs, rewrite=r)
        return options


def _is_op(value: relax.Expr | None, *names: str) -> bool:
    return isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.Op) and value.op.name in names


def _attention(call: relax.Call, context: MatchContext) -> _Attention | None:
    """The attention whose output projection is ``call``, or ``None`` (logged)."""
    out_info = linear_info(call, context)
    if out_info is None or len(out_info.input_shape) < 1:
        return None
    width = out_info.in_features
    constant_only: set[relax.Var] = set()
    inside: set[relax.Var] = set()
    projections: list[relax.Var] = []
    stack = list(relax.analysis.free_vars(call.args[0]))
    while stack:
        var = stack.pop()
        if var in inside or var in projections:
            continue
        if context.constant_only(var):
            constant_only.add(var)
            continue
        value = context.value_of(var)
        if value is None:
            return None  # reached a parameter without passing three projections
        if isinstance(value, relax.Call) and linear_info(value, context) is not None:
            projections.append(var)
            continue
        inside.add(var)
        stack.extend(relax.analysis.free_vars(value))
    infos = [linear_info(context.value_of(p), context) for p in projections]
    if len(projections) != 3 or any(i is None or i.out_features != width for i in infos):
        context.not_exposed(f"not an attention over three projections of width {width}")
        return None
    try:
        heads, head_dim, layouts = _follow_heads(projections, inside, width, context)
    except _Unsupported as err:
        context.not_exposed(str(err))
        return None
    if heads < 2:
        return None
    variables = [*projections, *inside, context.var]
    for info in [*infos, out_info]:
        if info.transposed is not None:
            variables.append(info.transposed)
    # Constant-only values used by the attention alone move into the region with it.
    for var in constant_only:
        if not context.escapes(var) and all(u in inside or u.same_as(context.var) for u in context.users(var)):
            variables.append(var)
    return _Attention(projections, context.var, variables, layouts, heads, head_dim)


def _follow_heads(
    projections: list[relax.Var], inside: set[relax.Var], width: int, context: MatchContext
) -> tuple[int, int, dict[relax.Var, _Heads]]:
    """(H, dh, where the heads are in every value of the attention) or :class:`_Unsupported`."""
    order = context.in_binding_order(inside)
    heads = head_dim = 0
    for var in order:  # the first reshape that splits a width-wide last axis in two
        value = context.value_of(var)
        shape, source = static_shape(var), static_shape(value.args[0]) if _is_op(value, "relax.reshape") else None
        if source and shape and len(shape) >= 2 and source[-1] == width and shape[-2] * shape[-1] == width:
            heads, head_dim = shape[-2], shape[-1]
            break
    if heads == 0:
        raise _Unsupported("no reshape splits the projections into heads")
    layouts: dict[relax.Var, _Heads] = {p: _Heads(len(static_shape(p)) - 1, "packed") for p in projections}
    for var in order:
        layouts[var] = _layout_of(var, context.value_of(var), layouts, heads, head_dim, context)
    return heads, head_dim, layouts


def _layout_of(var, value, layouts, heads, head_dim, context) -> _Heads:
    """Where the heads are in ``var``, from its operands' layouts."""
    if not isinstance(value, relax.Call) or not isinstance(value.op, tvm.ir.Op):
        raise _Unsupported(f"{var.name}: not an op call")
    op = value.op.name
    shape = static_shape(var)
    if shape is None:
        raise _Unsupported(f"{var.name}: no static shape")
    operands = [a for a in value.args if isinstance(a, relax.Var) and a in layouts]
    if not operands:
        raise _Unsupported(f"{var.name}: does not carry heads")
    first = layouts[operands[0]]
    in_shape = static_shape(operands[0])
    if op == "relax.reshape":
        return _reshaped(first, in_shape, shape, heads, head_dim, var)
    if op == "relax.permute_dims":
        axes = [int(a) for a in value.attrs.axes] if value.attrs.axes is not None else list(range(len(shape)))[::-1]
        return _Heads(axes.index(first.axis), first.form, first.outer)
    if op == "relax.broadcast_to":
        moved = _Heads(first.axis + len(shape) - len(in_shape), first.form, first.outer)
        if shape[moved.axis] != in_shape[first.axis]:
            raise _Unsupported(f"{var.name}: broadcasts the heads")
        return moved
    if op == "relax.matmul":
        result = None
        for arg in value.args:
            if arg in layouts:
                lay, arg_shape = layouts[arg], static_shape(arg)
                if lay.axis >= len(arg_shape) - 2:
                    raise _Unsupported(f"{var.name}: a matmul contracts or keeps the head axis in a matrix")
                moved = _Heads(lay.axis + len(shape) - len(arg_shape), lay.form, lay.outer)
                if result is not None and result != moved:
                    raise _Unsupported(f"{var.name}: the matmul's operands disagree on the heads")
                result = moved
            elif not (context.constant_only(arg)):
                raise _Unsupported(f"{var.name}: a matmul by a weight inside the attention")
        return result
    if op in _BINARY or op == "relax.where":
        result = None
        for arg in value.args:
            if isinstance(arg, relax.Var) and arg in layouts:
                moved = _Heads(layouts[arg].axis + len(shape) - len(static_shape(arg)), layouts[arg].form,
                               layouts[arg].outer)
                if result is not None and result != moved:
                    raise _Unsupported(f"{var.name}: operands disagree on the heads")
                result = moved
        for arg in value.args:  # a constant or mask along the head axis would have to be sliced
            arg_shape = static_shape(arg)
            if arg in layouts or arg_shape is None:
                continue
            axis = result.axis - (len(shape) - len(arg_shape))
            if axis >= 0 and arg_shape[axis] != 1 and not (
                context.constant(arg) is not None and arg_shape[axis] == result.size(heads, head_dim)
            ):
                raise _Unsupported(f"{var.name}: an operand varies along the head axis")
        return result
    if op in _SAME_SHAPE:
        if shape != in_shape:
            raise _Unsupported(f"{var.name}: {op} changes the shape")
        return first
    if op == "relax.nn.softmax" or op == "relax.nn.log_softmax":
        if int(value.attrs.axis) % len(shape) == first.axis:
            raise _Unsupported(f"{var.name}: a softmax over the heads")
        return first
    if op in _REDUCE:
        axes = [int(a) % len(in_shape) for a in value.attrs.axis] if value.attrs.axis is not None else None
        if axes is None or first.axis in axes:
            raise _Unsupported(f"{var.name}: a reduction over the heads")
        if value.attrs.keepdims:
            return first
        return _Heads(first.axis - sum(a < first.axis for a in axes), first.form, first.outer)
    raise _Unsupported(f"{var.name}: {op} is not followed")


def _reshaped(lay: _Heads, in_shape, out_shape, heads: int, head_dim: int, var) -> _Heads:
    """Where the heads go through a reshape (row-major: matched by their stride in the flat order)."""
    stride = _strides(in_shape)[lay.axis] * (head_dim if lay.form == "packed" else 1)
    out_strides = _strides(out_shape)
    for axis, (size, step) in enumerate(zip(out_shape, out_strides, strict=True)):
        if step * head_dim == stride and size == heads * head_dim:
            return _Heads(axis, "packed")
        if step == stride and size == heads:
            return _Heads(axis, "split")
        if step == stride and size % heads == 0 and size > heads:
            return _Heads(axis, "merged", size // heads)
    raise _Unsupported(f"{var.name}: a reshape mixes the heads with other axes")


def _slicer(found: _Attention, keep: np.ndarray, context: MatchContext) -> Callable[[relax.VarBinding, relax.Expr], relax.Expr]:
    """``rewrite`` for :func:`emit_region`: keep only heads ``keep``."""
    h, d, count = found.heads, found.head_dim, len(keep)
    packed = _Heads(0, "packed").indices(keep, h, d)
    weights: dict[relax.Var, tuple[LinearInfo, str]] = {}
    for var in found.projections:
        weights[var] = (linear_info(context.value_of(var), context), "out")
    weights[found.output] = (linear_info(context.value_of(found.output), context), "in")
    transposed = {info.transposed: (info, side) for info, side in weights.values() if info.transposed is not None}

    def rewrite(binding: relax.VarBinding, value: relax.Expr) -> relax.Expr:
        var, original = binding.var, binding.value
        if var in transposed:  # permute_dims of an (out, in) constant
            info, side = transposed[var]
            source = context.constant(original.args[0])
            sliced = np.take(source, packed, axis=0 if side == "out" else 1)
            return relax.op.permute_dims(relax.const(np.ascontiguousarray(sliced)), axes=[1, 0])
        if var in weights:
            info, side = weights[var]
            if info.transposed is not None:
                return value  # rewired to the sliced weight already
            return make_linear(value.args[0], np.take(info.weight, packed, axis=1 if side == "out" else 0), like=value)
        lay = found.layouts.get(var)
        if lay is None:
            return value
        shape = list(static_shape(var))
        shape[lay.axis] = lay.size(count, d)
        if _is_op(value, "relax.reshape"):
            return relax.op.reshape(value.args[0], shape)
        if _is_op(value, "relax.broadcast_to"):
            return relax.op.broadcast_to(value.args[0], shape)
        if isinstance(value, relax.Call) and any(context.constant(a) is not None for a in value.args):
            args = []
            for arg in value.args:
                arg_shape = static_shape(arg) if context.constant(arg) is not None else None
                axis = lay.axis - (len(shape) - len(arg_shape)) if arg_shape else -1
                if arg_shape and axis >= 0 and arg_shape[axis] == lay.size(h, d):
                    arg = relax.const(np.take(context.constant(arg), lay.indices(keep, h, d), axis=axis))
                args.append(arg)
            return relax.Call(value.op, args, value.attrs, value.ty_args)
        return value

    return rewrite
