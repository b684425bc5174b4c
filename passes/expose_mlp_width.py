"""ExposeMLPWidth: narrower hidden widths for a pair of linear layers (a transformer's MLP)."""

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
    emit_region,
    fraction_name,
    reads_variables,
    static_shape,
)
from tvm_nacos.passes.linear import linear_info, make_linear

__all__ = ["ExposeMLPWidth"]



@dataclass(frozen=True)
class _Step:
    """How one binding of the region changes when only ``keep`` hidden features remain."""

    kind: str  # producer | producer_weight | consumer | consumer_weight | const_operand | reshape
    operand: int = 0  # const_operand: which argument is the constant


@tvm.transform.module_pass(opt_level=0, name="ExposeMLPWidth")
class ExposeMLPWidth(ExposePass):
    """Offer narrower hidden widths for a linear layer d → h and the linear layer h → d' after it.

    Matches a linear layer (the *producer*: ``R.matmul`` by a constant weight, directly or
    through ``R.permute_dims`` as ``from_torch`` imports ``nn.Linear``; see
    :func:`~tvm_nacos.passes.linear.linear_info`) whose output reaches exactly one linear layer
    (the *consumer*) on its contracted axis, through a chain in which every value has exactly
    one user and every op works feature by feature on the last axis:

    - ``add`` / ``subtract`` / ``multiply`` / ``divide`` with a constant that is per-feature
      (last axis h, all others 1: a bias) or scalar;
    - ``R.reshape`` that keeps the last axis (``(8, h)`` ↔ ``(1, 8, h)``);
    - element-wise activations (``gelu``, ``relu``, ``silu``, ``tanh``, ...).

    That is a transformer's MLP (Linear d→h, bias, GELU, Linear h→d), a classifier's hidden
    layer, or any two-layer perceptron. The choice point replaces the producer, the chain and
    the consumer (the consumer's bias stays outside); its input is the producer's input, its
    output the consumer's output, whose shape does not change. Option ``w<fraction>`` (``w0_5``
    for 0.5) keeps ``max(1, round(fraction * h))`` hidden features: those whose incoming weights
    have the largest L1 norms (ties by position), in their original order. The producer's
    weight columns, the biases and scales on the way, and the consumer's weight rows are sliced
    to the same features: the option inherits the trained weights, and no new weights are
    drawn. Fractions that keep every feature, or repeat a width, are left out (the full width
    is the ``original`` option).

    The pass refuses (skips) a producer whose output is used more than once on the chain (a
    residual connection, q/k/v sharing an input is fine: that is the producer's *input*), or
    reaches anything else first: a reshape that splits the last axis (attention heads), a
    normalization, a matmul of two activations.

    Label: ``"<op name>.hidden"`` with the producer's op name, e.g. ``"matmul4.hidden"``;
    options ``"original"``, ``"w0_5"``, ``"w0_75"``, ...

    Parameters
    ----------
    fractions : Sequence[float]
        Fractions of the hidden width in (0, 1]; 1 is the original width.
    names, where, seed, inside_options
        Restriction and seed, see :class:`~tvm_nacos.passes.expose_base.ExposePass`; they see
        the producer. ``seed`` is unused: no weights are drawn.

    Raises
    ------
    tvm_nacos.errors.SearchSpaceError
        A fraction outside (0, 1] or repeated.

    Examples
    --------
    Before (``nn.Linear(32, 64)``, GELU, ``nn.Linear(64, 32)`` as ``from_torch`` imports them):

    .. code-block:: python

        @R.function
        def main(x: R.Tensor((8, 32), "float32")) -> R.Tensor((8, 32), "float32"):
            with R.dataflow():
                lv = R.permute_dims(metadata["ir.GenericConst"][0], axes=[1, 0])   # (64, 32) -> (32, 64)
                lv1 = R.matmul(x, lv, out_dtype="float32")
                lv2 = R.add(metadata["ir.GenericConst"][1], lv1)                 # bias (64,)
                lv3 = R.nn.gelu(lv2)
                lv4 = R.permute_dims(metadata["ir.GenericConst"][2], axes=[1, 0])  # (32, 64) -> (64, 32)
                lv5 = R.matmul(lv3, lv4, out_dtype="float32")
                gv = R.add(metadata["ir.GenericConst"][3], lv5)                  # bias (32,)
                R.output(gv)
            return gv

    After ``ExposeMLPWidth(fractions=(0.5, 1.0))``, ``main`` calls the stub of
    ``"matmul0.hidden"`` (inputs ``x``) and adds the second bias; the option ``w0_5`` keeps 32
    hidden features:

    .. code-block:: python

        @R.function(private=True)
        def choice__matmul0_hidden__w0_5(x: R.Tensor((8, 32), "float32")) -> R.Tensor((8, 32), "float32"):
            R.func_attr({"nacos.option": "w0_5", "nacos.option_of": "matmul0.hidden"})
            with R.dataflow():
                lv = R.permute_dims(metadata["ir.GenericConst"][4], axes=[1, 0])   # (32, 32): 32 rows kept
                lv1 = R.matmul(x, lv, out_dtype="float32")
                lv2 = R.add(metadata["ir.GenericConst"][5], lv1)                 # (32,)
                lv3 = R.nn.gelu(lv2)
                lv4 = R.permute_dims(metadata["ir.GenericConst"][6], axes=[1, 0])  # (32, 32): 32 columns kept
                gv = R.matmul(lv3, lv4, out_dtype="float32")
                R.output(gv)
            return gv
    """

    suffix = "hidden"

    def __init__(
        self,
        fractions: Sequence[float] = (0.25, 0.5, 0.75, 1.0),
        *,
        names: str | Sequence[str] | None = None,
        where: Callable[[relax.Call, MatchContext], bool] | None = None,
        seed: int = 0,
        inside_options: InsideOptions = "all",
    ) -> None:
        super().__init__(names=names, where=where, seed=seed, inside_options=inside_options)
        self.fractions = check_fractions("ExposeMLPWidth", fractions, of="the hidden width",
                                         example="(0.25, 0.5, 0.75, 1.0)")

    def match(self, call: relax.Call, context: MatchContext) -> bool:
        return linear_info(call, context) is not None

    def region(self, call: relax.Call, context: MatchContext) -> Region | None:
        chain = _follow(call, context)
        if chain is None:
            return None
        region = context.make_region(chain[0], output=chain[1])
        return region if region is not None and len(region.inputs) == 1 else None

    def options(self, call: relax.Call, context: MatchContext) -> dict[str, OptionBuilder]:
        chain = _follow(call, context)
        info = linear_info(call, context)
        assert chain is not None and info is not None  # checked by match and region
        region = context.make_region(chain[0], output=chain[1])
        assert region is not None
        hidden = info.out_features
        importance = np.abs(info.weight).sum(axis=0)  # L1 norm of each hidden feature's incoming weights
        ranked = np.argsort(-importance, kind="stable")
        options: dict[str, OptionBuilder] = {}
        widths = {hidden}
        for fraction in self.fractions:
            width = max(1, round(fraction * hidden))
            if width in widths:
                continue
            widths.add(width)
            rewrite = _slicer(chain[2], np.sort(ranked[:width]), context)
            options[fraction_name(fraction)] = lambda bb, inputs, r=rewrite: emit_region(bb, region, inputs, rewrite=r)
        return options


def _follow(call: relax.Call, context: MatchContext) -> tuple[list[relax.Var], relax.Var, dict[relax.Var, _Step]] | None:
    """The producer → consumer chain of ``call``: (region variables, consumer, slicing plan) or ``None``."""
    info = linear_info(call, context)
    if info is None:
        return None
    hidden = info.out_features
    plan: dict[relax.Var, _Step] = {context.var: _Step("producer")}
    variables = [context.var]
    if info.transposed is not None:
        plan[info.transposed] = _Step("producer_weight")
        variables.append(info.transposed)
    var = context.var
    while True:
        user = context.single_user(var)
        value = context.value_of(user) if user is not None else None
        if not isinstance(value, relax.Call) or not isinstance(value.op, tvm.ir.Op):
            context.not_exposed(f"{var.name} has not exactly one op user")
            return None
        op = str(value.op.name)
        if op == "relax.matmul" and value.args[0].same_as(var):
            consumer = linear_info(value, context)
            if consumer is None or consumer.in_features != hidden:
                context.not_exposed(f"{user.name} is not a linear layer on the hidden features")
                return None
            plan[user] = _Step("consumer")
            variables.append(user)
            if consumer.transposed is not None:
                plan[consumer.transposed] = _Step("consumer_weight")
                variables.append(consumer.transposed)
            return variables, user, plan
        if op in ELEMENTWISE_UNARY_OPS and value.args[0].same_as(var) and not reads_variables(value.args[1:]):
            pass
        elif op == "relax.reshape" and value.args[0].same_as(var):
            shape = static_shape(user)
            if shape is None or not shape or shape[-1] != hidden:
                context.not_exposed(f"{user.name} reshapes the hidden features")
                return None
            plan[user] = _Step("reshape")
        elif op in ELEMENTWISE_BINARY_OPS and sum(a.same_as(var) for a in value.args) == 1:
            operand = 1 if value.args[0].same_as(var) else 0
            const = context.constant(value.args[operand])
            if const is None:
                context.not_exposed(f"{user.name} combines the hidden features with a non-constant operand")
                return None
            if const.ndim and const.shape[-1] == hidden and all(d == 1 for d in const.shape[:-1]):
                plan[user] = _Step("const_operand", operand)
            elif const.size != 1:
                context.not_exposed(f"{user.name} mixes the hidden features with a constant of shape {const.shape}")
                return None
        else:
            context.not_exposed(f"{user.name} ({op}) does not keep the hidden features apart")
            return None
        variables.append(user)
        var = user


def _slicer(
    plan: dict[relax.Var, _Step], keep: np.ndarray, context: MatchContext
) -> Callable[[relax.VarBinding, relax.Expr], relax.Expr]:
    """``rewrite`` for :func:`emit_region`: keep only hidden features ``keep`` along the chain."""
    width = len(keep)

    def rewrite(binding: relax.VarBinding, value: relax.Expr) -> relax.Expr:
        step = plan.get(binding.var)
        if step is None:
            return value
        original = binding.value
        if step.kind in ("producer_weight", "consumer_weight"):  # permute_dims of an (out, in) constant
            weight = context.constant(original.args[0])
            sliced = np.take(weight, keep, axis=0 if step.kind == "producer_weight" else 1)
            return relax.op.permute_dims(relax.const(np.ascontiguousarray(sliced)), axes=[1, 0])
        if step.kind in ("producer", "consumer"):
            weight = context.constant(original.args[1])
            if weight is None:  # through permute_dims: rewired to the sliced weight already
                return value
            return make_linear(value.args[0], np.take(weight, keep, axis=1 if step.kind == "producer" else 0),
                               like=value)
        if step.kind == "const_operand":
            args = list(value.args)
            args[step.operand] = relax.const(np.take(context.constant(original.args[step.operand]), keep, axis=-1))
            return relax.Call(value.op, args, value.attrs, value.ty_args)
        shape = list(static_shape(binding.var))  # reshape: the last axis follows the width
        shape[-1] = width
        return relax.op.reshape(value.args[0], shape)

    return rewrite
