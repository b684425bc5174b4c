"""ExposeSkip: a shape-preserving residual branch may be dropped (a depth choice)."""

from __future__ import annotations

import tvm
from tvm import relax

from tvm_nacos._compat import TensorType
from tvm_nacos.passes.expose_base import ExposePass, MatchContext, OptionBuilder, Region, same_type

__all__ = ["ExposeSkip"]


@tvm.transform.module_pass(opt_level=0, name="ExposeSkip")
class ExposeSkip(ExposePass):
    """Let every shape-preserving residual block ``y = x + f(x)`` become ``y = x``.

    Matches ``R.add(a, b)`` where one operand, the *branch*, is computed inside the same block
    from the other, the *shortcut*, alone (plus constants, and values computed from constants
    alone, such as the attention mask a transformer's blocks share), its values are used by
    nothing but the branch and the add, and both operands and the result have the same type
    (no broadcasting). The choice point replaces the whole branch and the add; its input is the
    shortcut (and any constant-only value the branch shares with the rest of the model). That
    covers a ResNet's basic block and both residual branches of a transformer block (attention
    and MLP; pre-norm as in ViT, where skipping both removes the block, or post-norm as in BERT,
    where the layer norm after each add stays). Option ``"skip"`` returns the shortcut unchanged. What follows the add (a ReLU in
    ResNet) stays outside and serves both options. The branch may hold anything, including
    calls to choice points exposed earlier, which then become conditional on ``"original"``.

    Not matched: a bias ``add`` (its other operand is a constant), a projection shortcut (the
    shortcut is itself computed, so the branch does not start from the add's other operand),
    an add whose branch reads another value than the shortcut, or whose intermediates are used
    elsewhere.

    Label: ``"<op name>.skip"`` with the add's op name, e.g. ``"add1.skip"``; options
    ``"original"`` and ``"skip"``. No new weights.

    Parameters
    ----------
    names, where, seed, inside_options
        Restriction and seed, see :class:`~tvm_nacos.passes.expose_base.ExposePass`; ``where``
        sees the ``add`` call.

    Examples
    --------
    Before:

    .. code-block:: python

        @R.function
        def main(x: R.Tensor((1, 4, 8, 8), "float32")) -> R.Tensor((1, 4, 8, 8), "float32"):
            with R.dataflow():
                lv = R.nn.conv2d(x, metadata["ir.GenericConst"][0], padding=[1, 1, 1, 1])
                lv1 = R.nn.relu(lv)
                lv2 = R.add(x, lv1)
                gv = R.nn.relu(lv2)
                R.output(gv)
            return gv

    After ``ExposeSkip()``:

    .. code-block:: python

        @R.function(private=True)
        def choice__add0_skip__original(x: R.Tensor((1, 4, 8, 8), "float32")) -> R.Tensor((1, 4, 8, 8), "float32"):
            R.func_attr({"nacos.option": "original", "nacos.option_of": "add0.skip"})
            with R.dataflow():
                lv = R.nn.conv2d(x, metadata["ir.GenericConst"][0], padding=[1, 1, 1, 1])
                lv1 = R.nn.relu(lv)
                lv2 = R.add(x, lv1)
                R.output(lv2)
            return lv2

        @R.function(private=True)
        def choice__add0_skip__skip(x: R.Tensor((1, 4, 8, 8), "float32")) -> R.Tensor((1, 4, 8, 8), "float32"):
            R.func_attr({"nacos.option": "skip", "nacos.option_of": "add0.skip"})
            with R.dataflow():
                lv2 = x
                R.output(lv2)
            return lv2

        @R.function
        def main(x: R.Tensor((1, 4, 8, 8), "float32")) -> R.Tensor((1, 4, 8, 8), "float32"):
            with R.dataflow():
                lv2 = Module.choice__add0_skip(x)
                gv = R.nn.relu(lv2)
                R.output(gv)
            return gv
    """

    suffix = "skip"

    def match(self, call: relax.Call, context: MatchContext) -> bool:
        if call.op != tvm.ir.Op.get("relax.add") or len(call.args) != 2:
            return False
        a, b = call.args
        return (
            isinstance(a, relax.Var)
            and isinstance(b, relax.Var)
            and isinstance(call.ty, TensorType)
            and same_type(a, call)
            and same_type(b, call)
        )

    def region(self, call: relax.Call, context: MatchContext) -> Region | None:
        a, b = call.args
        for shortcut, branch in ((a, b), (b, a)):
            variables = _branch(branch, shortcut, context)
            if variables is None:
                continue
            region = context.make_region([*variables, context.var], output=context.var)
            if region is None or not any(v.same_as(shortcut) for v in region.inputs):
                continue
            if all(v.same_as(shortcut) or context.constant_only(v) for v in region.inputs):
                return region
        return None

    def options(self, call: relax.Call, context: MatchContext) -> dict[str, OptionBuilder]:
        region = self.region(call, context)
        assert region is not None  # checked before options are asked for
        shortcut_index = next(i for i, v in enumerate(region.inputs) if not context.constant_only(v))
        return {"skip": lambda bb, inputs: inputs[shortcut_index]}


def _branch(branch: relax.Var, shortcut: relax.Var, context: MatchContext) -> set[relax.Var] | None:
    """Variables that compute ``branch`` from ``shortcut``, constants and values computed from
    constants alone, or ``None``. A constant-only value that something outside the branch also
    uses (a mask shared by every block) is left out: it becomes an input of the region."""
    found: set[relax.Var] = set()
    invariant: set[relax.Var] = set()
    reaches_shortcut = False
    stack = [branch]
    while stack:
        var = stack.pop()
        if var.same_as(shortcut):
            reaches_shortcut = True
            continue
        if var in found or var in invariant:
            continue
        value = context.value_of(var)
        if value is None:  # a parameter or a value from elsewhere: not a branch of the shortcut
            return None
        if context.constant_only(var):
            invariant.add(var)
            continue
        found.add(var)
        stack.extend(relax.analysis.free_vars(value))
    if not reaches_shortcut:
        return None
    # Constant-only values used by the branch alone move into the region with it.
    changed = True
    while changed:
        changed = False
        for var in list(invariant - found):
            if not context.escapes(var) and all(u in found for u in context.users(var)):
                found.add(var)
                changed = True
    return found
