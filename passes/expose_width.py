"""ExposeWidth: narrower channel widths for a convolution and every consumer that must follow."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import tvm
from tvm import relax

from tvm_nacos.passes.expose_base import (
    ELEMENTWISE_BINARY_OPS,
    ELEMENTWISE_UNARY_OPS,
    ExposePass,
    InsideOptions,
    MatchContext,
    OptionBuilder,
    Region,
    check_fractions,
    conv2d_info,
    emit_region,
    fraction_name,
    make_conv2d,
    reads_variables,
    static_shape,
)

__all__ = ["ExposeWidth"]

#: Ops that work on the spatial axes of each channel (checked by :func:`_spatial_only`).
_SPATIAL = frozenset({"relax.nn.pad", "relax.nn.max_pool2d", "relax.nn.avg_pool2d"})


@dataclass(frozen=True)
class _Slice:
    """How one binding of the region changes when only ``keep`` channels remain."""

    kind: str  # producer | consumer | depthwise | const_operand | reshape | batch_norm
    axis: int = 0  # for const_operand: the channel axis of the constant


@tvm.transform.module_pass(opt_level=0, name="ExposeWidth")
class ExposeWidth(ExposePass):
    """Offer narrower output widths for a convolution, with every consumer kept consistent.

    Matches a dense ``R.nn.conv2d`` (the *producer*: NCHW/OIHW, constant weight, static shapes,
    ``groups == 1``) whose output reaches exactly one dense convolution (the *consumer*) through
    a chain in which every value has exactly one user and every op works channel by channel:

    - ``add`` / ``subtract`` / ``multiply`` / ``divide`` with a constant that is per-channel or
      scalar, given directly or as ``R.reshape`` of a constant (how ``from_torch`` imports a
      convolution's bias);
    - ``R.nn.batch_norm`` on axis 1 with constant parameters, followed by ``[0]`` only;
    - element-wise activations (``relu``, ``clip`` (ReLU6), ``gelu``, ``silu``, ``sigmoid``,
      ``tanh``, ...);
    - spatial padding (``R.nn.pad`` of H and W only) and NCHW max/average pooling;
    - depthwise convolutions (``groups == channels``, one filter per channel), as in the
      expand → depthwise → project block of MobileNetV2.

    The choice point replaces the producer, the chain and the consumer; its input is the
    producer's input, its output the consumer's output, whose shape does not change. Option
    ``w<multiplier>`` (``w0_5`` for 0.5) keeps ``max(1, round(multiplier * channels))`` channels:
    the producer filters with the largest L1 norms (ties by position), in their original order;
    every per-channel weight on the way (bias, batch-norm parameters, depthwise filters) and the
    consumer's input channels are sliced to the same channels. No new weights are drawn.
    Multipliers that keep every channel, or repeat a width, are left out (the full width is the
    ``original`` option).

    Conservative by design, the pass refuses (skips) a producer whose output

    - is used more than once anywhere on the chain (a residual ``add``, a concatenation, a
      branch to two consumers, a returned value): every shape-constrained user would have to
      follow, and no group of layers is widened together;
    - reaches anything else than the ops above before a dense convolution: reshapes,
      ``mean`` and ``matmul`` (a classifier after global pooling), layer or group norm,
      concatenation;
    - reaches a grouped (not depthwise) convolution.

    Label: ``"<op name>.width"`` with the producer's op name, e.g. ``"conv3.width"``; options
    ``"original"``, ``"w0_5"``, ``"w0_75"``, ...

    Parameters
    ----------
    multipliers : Sequence[float]
        Width multipliers in (0, 1]; 1 is the original width.
    names, where, seed, inside_options
        Restriction and seed, see :class:`~tvm_nacos.passes.expose_base.ExposePass`; they see
        the producer. ``seed`` is unused: no weights are drawn.

    Raises
    ------
    tvm_nacos.errors.SearchSpaceError
        A multiplier outside (0, 1] or repeated.

    Examples
    --------
    Before (conv 4 → 8 with bias, ReLU, conv 8 → 4):

    .. code-block:: python

        @R.function
        def main(x: R.Tensor((1, 4, 8, 8), "float32")) -> R.Tensor((1, 4, 8, 8), "float32"):
            with R.dataflow():
                lv = R.nn.conv2d(x, metadata["ir.GenericConst"][0], padding=[1, 1, 1, 1])   # (8, 4, 3, 3)
                lv1 = R.reshape(metadata["ir.GenericConst"][1], R.shape([1, 8, 1, 1]))
                lv2 = R.add(lv, lv1)
                lv3 = R.nn.relu(lv2)
                gv = R.nn.conv2d(lv3, metadata["ir.GenericConst"][2], padding=[1, 1, 1, 1])  # (4, 8, 3, 3)
                R.output(gv)
            return gv

    After ``ExposeWidth(multipliers=(0.5, 1.0))``, ``main`` calls the stub of ``"conv0.width"``
    (options ``original`` and ``w0_5``, inputs ``x``) and the option ``w0_5`` keeps 4 channels:

    .. code-block:: python

        @R.function(private=True)
        def choice__conv0_width__w0_5(x: R.Tensor((1, 4, 8, 8), "float32")) -> R.Tensor((1, 4, 8, 8), "float32"):
            R.func_attr({"nacos.option": "w0_5", "nacos.option_of": "conv0.width"})
            with R.dataflow():
                lv = R.nn.conv2d(x, metadata["ir.GenericConst"][3], padding=[1, 1, 1, 1])   # (4, 4, 3, 3)
                lv1 = R.reshape(metadata["ir.GenericConst"][4], R.shape([1, 4, 1, 1]))
                lv2 = R.add(lv, lv1)
                lv3 = R.nn.relu(lv2)
                gv = R.nn.conv2d(lv3, metadata["ir.GenericConst"][5], padding=[1, 1, 1, 1])  # (4, 4, 3, 3)
                R.output(gv)
            return gv
    """

    suffix = "width"

    def __init__(
        self,
        multipliers: Sequence[float] = (0.5, 0.75, 1.0),
        *,
        names: str | Sequence[str] | None = None,
        where: Callable[[relax.Call, MatchContext], bool] | None = None,
        seed: int = 0,
        inside_options: InsideOptions = "all",
    ) -> None:
        super().__init__(names=names, where=where, seed=seed, inside_options=inside_options)
        self.multipliers = check_fractions("ExposeWidth", multipliers, what="multipliers", example="(0.5, 0.75, 1.0)")

    def match(self, call: relax.Call, context: MatchContext) -> bool:
        info = conv2d_info(call)
        return info is not None and info.groups == 1

    def region(self, call: relax.Call, context: MatchContext) -> Region | None:
        chain = _follow(call, context)
        if chain is None:
            return None
        region = context.make_region(chain[0], output=chain[1])
        return region if region is not None and len(region.inputs) == 1 else None

    def options(self, call: relax.Call, context: MatchContext) -> dict[str, OptionBuilder]:
        chain = _follow(call, context)
        info = conv2d_info(call)
        assert chain is not None and info is not None  # checked by match and region
        _, _, plan = chain
        region = context.make_region(chain[0], output=chain[1])
        assert region is not None
        channels = info.out_channels
        importance = np.abs(info.weight.reshape(channels, -1)).sum(axis=1)
        ranked = np.argsort(-importance, kind="stable")
        options: dict[str, OptionBuilder] = {}
        widths = {channels}
        for multiplier in self.multipliers:
            width = max(1, round(multiplier * channels))
            if width in widths:
                continue
            widths.add(width)
            keep = np.sort(ranked[:width])
            rewrite = _slicer(plan, keep, context)
            options[fraction_name(multiplier)] = (
                lambda bb, inputs, r=rewrite: emit_region(bb, region, inputs, rewrite=r)
            )
        return options


def _follow(
    call: relax.Call, context: MatchContext
) -> tuple[list[relax.Var], relax.Var, dict[relax.Var, _Slice]] | None:
    """The producer → consumer chain of ``call``: (region variables, consumer, slicing plan) or ``None``."""
    info = conv2d_info(call)
    if info is None:
        return None
    channels = info.out_channels
    plan: dict[relax.Var, _Slice] = {context.var: _Slice("producer")}
    variables = [context.var]
    var = context.var
    while True:
        user = context.single_user(var)
        value = context.value_of(user) if user is not None else None
        if not isinstance(value, relax.Call) or not isinstance(value.op, tvm.ir.Op):
            context.not_exposed(f"{var.name} has not exactly one op user")
            return None
        op = str(value.op.name)
        if op == "relax.nn.conv2d" and value.args[0].same_as(var):
            consumer = conv2d_info(value)
            if consumer is not None and consumer.groups == 1 and consumer.in_channels == channels:
                plan[user] = _Slice("consumer")
                variables.append(user)
                return variables, user, plan
            if consumer is not None and consumer.is_depthwise and consumer.out_channels == channels:
                plan[user] = _Slice("depthwise")
            else:
                context.not_exposed(f"{user.name} is a grouped or non-constant convolution")
                return None
        elif op in ELEMENTWISE_UNARY_OPS and value.args[0].same_as(var) and not reads_variables(value.args[1:]):
            pass
        elif op in _SPATIAL and value.args[0].same_as(var) and len(value.args) == 1 and _spatial_only(value):
            pass
        elif op in ELEMENTWISE_BINARY_OPS and sum(a.same_as(var) for a in value.args) == 1:
            other = value.args[1] if value.args[0].same_as(var) else value.args[0]
            step = _per_channel_operand(other, user, channels, context)
            if step is None:
                context.not_exposed(f"{user.name} combines the channels with a non-constant or mixed operand")
                return None
            plan.update(step)
            variables.extend(v for v in step if v is not user)
            plan.setdefault(user, _Slice("binary"))
        elif op == "relax.nn.batch_norm" and value.args[0].same_as(var) and int(value.attrs.axis) == 1:
            params = [context.constant(a) for a in value.args[1:]]
            getter = context.single_user(user)
            item = context.value_of(getter) if getter is not None else None
            if any(p is None or p.shape != (channels,) for p in params) or not (
                isinstance(item, relax.TupleGetItem) and item.index == 0
            ):
                context.not_exposed(f"{user.name} is a batch_norm whose statistics are used or not constant")
                return None
            plan[user] = _Slice("batch_norm")
            variables.append(user)
            user = getter
        else:
            context.not_exposed(f"{user.name} ({op}) does not keep channels separate")
            return None
        variables.append(user)
        var = user


def _per_channel_operand(
    operand: relax.Expr, user: relax.Var, channels: int, context: MatchContext
) -> dict[relax.Var, _Slice] | None:
    """Plan for the constant operand of a binary op on the chain, or ``None`` if it mixes channels."""
    const = context.constant(operand)
    if const is not None:
        axis = const.ndim - 3  # NCHW broadcast: the channel axis is third from the end
        if axis < 0 or const.shape[axis] == 1:
            return {}  # scalar or broadcast over channels: unchanged
        return {user: _Slice("const_operand", axis)} if const.shape[axis] == channels else None
    value = context.value_of(operand)
    if (
        isinstance(value, relax.Call)
        and isinstance(value.op, tvm.ir.Op)
        and str(value.op.name) == "relax.reshape"
        and context.single_user(operand) is not None
    ):
        source = context.constant(value.args[0])
        shape = static_shape(operand)
        if source is not None and source.shape == (channels,) and shape is not None and len(shape) in (3, 4):
            if shape[len(shape) - 3] == channels:
                return {operand: _Slice("reshape", len(shape) - 3)}
    return None


def _spatial_only(call: relax.Call) -> bool:
    """Whether a pad (of H and W only) or an NCHW pooling leaves the channel axis alone."""
    attrs = call.attrs
    if str(call.op.name) == "relax.nn.pad":
        return len(attrs.pad_width) == 8 and all(int(p) == 0 for p in attrs.pad_width[:4])
    return str(attrs.layout) == "NCHW" and str(attrs.out_layout) == "NCHW"


def _slicer(
    plan: dict[relax.Var, _Slice], keep: np.ndarray, context: MatchContext
) -> Callable[[relax.VarBinding, relax.Expr], relax.Expr]:
    """``rewrite`` for :func:`emit_region`: keep only channels ``keep`` along the chain."""
    width = len(keep)

    def rewrite(binding: relax.VarBinding, value: relax.Expr) -> relax.Expr:
        step = plan.get(binding.var)
        if step is None or step.kind == "binary":
            return value
        original = binding.value
        if step.kind == "producer":
            weight = context.constant(original.args[1])
            return make_conv2d(value, value.args[0], np.take(weight, keep, axis=0))
        if step.kind == "consumer":
            weight = context.constant(original.args[1])
            return make_conv2d(value, value.args[0], np.take(weight, keep, axis=1))
        if step.kind == "depthwise":
            weight = context.constant(original.args[1])
            return make_conv2d(value, value.args[0], np.take(weight, keep, axis=0), groups=width)
        if step.kind == "batch_norm":
            params = [relax.const(np.take(context.constant(a), keep, axis=0)) for a in original.args[1:]]
            return relax.Call(value.op, [value.args[0], *params], value.attrs, value.ty_args)
        if step.kind == "const_operand":
            args = [
                a if context.constant(a) is None else relax.const(np.take(context.constant(a), keep, axis=step.axis))
                for a in value.args
            ]
            return relax.Call(value.op, args, value.attrs, value.ty_args)
        # reshape of a per-channel constant
        source = np.take(context.constant(original.args[0]), keep, axis=0)
        shape = list(static_shape(binding.var))
        shape[step.axis] = width
        return relax.op.reshape(relax.const(source), shape)

    return rewrite
