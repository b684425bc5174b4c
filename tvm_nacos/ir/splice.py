"""Inline calls to global Relax functions by splicing the callees' bindings into the caller.

``relax.Function.inline_functions`` copies a callee with fresh variables, binds its parameters to
the call's arguments and normalizes the result: every operator call it rebuilds has its type
inferred again. Shape inference of layout operators is slow in Relax (measured here: a
``conv2d`` ~1.8 ms, an ``avg_pool2d`` ~0.9 ms, an ``add`` 3 µs), and a search specializes the
supernet once per architecture it looks at, so most of ``SpecializeArch``'s time went there
(~100 ms of ~125 ms per nas-bench-201 architecture).

When every argument of a call has exactly the type of the callee's parameter (the same shape
variables, not only the same shapes), each of the callee's bindings keeps its type in the
caller: :func:`splice_calls` copies the bindings into the caller's block with fresh variables
and the types they already have, and binds the call's own variable to the callee's result. The
result is structurally equal to what ``inline_functions`` gives after the same cleanup.
:func:`splice_calls` declines (returns ``None``) where that reasoning does not hold, and the
caller falls back to ``inline_functions``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import tvm
from tvm import relax

from tvm_nacos._compat import structural_equal

logger = logging.getLogger(__name__)

__all__ = ["splice_calls"]


class _Declined(Exception):
    """A call :func:`splice_calls` does not splice, with the reason."""


def splice_calls(func: relax.Function, callees: Mapping[tvm.ir.GlobalVar, relax.Function]) -> relax.Function | None:
    """``func`` with each call to a function of ``callees`` replaced by that function's bindings.

    Calls that the spliced bindings make to functions of ``callees`` are spliced too (a nested
    choice point's selected option inside the selected option of its parent).

    Parameters
    ----------
    func : relax.Function
        The caller.
    callees : Mapping[tvm.ir.GlobalVar, relax.Function]
        The function to splice in place of each call to a global variable.

    Returns
    -------
    relax.Function or None
        The spliced function, or ``None`` where a call cannot be spliced without inferring types
        again: an argument whose type differs from its parameter's, a callee whose body is not
        dataflow blocks of plain bindings ending in a variable, a call outside a dataflow block
        (``inline_functions`` keeps the callee's dataflow block there) or in a ``MatchCast``.
        The caller then inlines with ``relax.Function.inline_functions``.
    """
    body = func.body
    if not isinstance(body, relax.SeqExpr):
        return None
    blocks = []
    try:
        for block in body.blocks:
            if not isinstance(block, relax.DataflowBlock):
                if any(_calls(binding.value, callees) for binding in block.bindings):
                    raise _Declined("a call outside a dataflow block")
                blocks.append(block)
                continue
            bindings: list[relax.Binding] = []
            for binding in block.bindings:
                _emit(binding, callees, bindings)
            blocks.append(relax.DataflowBlock(bindings))
    except _Declined as declined:
        logger.debug("not spliced, inlined instead: %s", declined)
        return None
    spliced = relax.BlockBuilder().normalize(relax.SeqExpr(blocks, body.body, body.span))
    return relax.Function(func.params, spliced, func.ret_ty, func.is_pure, func.attrs, func.span)


def _calls(value: relax.Expr, callees: Mapping[tvm.ir.GlobalVar, relax.Function]) -> bool:
    return isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.GlobalVar) and value.op in callees


def _emit(binding: relax.Binding, callees: Mapping[tvm.ir.GlobalVar, relax.Function], out: list[relax.Binding]) -> None:
    """Append ``binding`` to ``out``, or the bindings of the callee it calls (recursively)."""
    value = binding.value
    if not _calls(value, callees):
        out.append(binding)
        return
    if not isinstance(binding, relax.VarBinding):
        raise _Declined(f"a call to {value.op.name_hint} in a MatchCast")
    callee = callees[value.op]
    renamed: dict[Any, Any] = {}
    for param, arg in zip(callee.params, value.args, strict=True):
        if not structural_equal(param.ty, arg.ty):
            raise _Declined(f"{value.op.name_hint}: argument of type {arg.ty} for a parameter of type {param.ty}")
        renamed[param] = arg
    callee_body = callee.body
    if not (isinstance(callee_body, relax.SeqExpr) and isinstance(callee_body.body, relax.Var)):
        raise _Declined(f"{value.op.name_hint} does not end in a variable")
    result = callee_body.body
    for block in callee_body.blocks:
        if not isinstance(block, relax.DataflowBlock):
            raise _Declined(f"{value.op.name_hint} has a block that is not dataflow")
        for inner in block.bindings:
            if not isinstance(inner, relax.VarBinding):
                raise _Declined(f"{value.op.name_hint} has a MatchCast")
            var = binding.var if inner.var.same_as(result) else relax.DataflowVar(inner.var.name, inner.var.ty)
            new_value = _rebuilt(inner.value, renamed)
            renamed[inner.var] = var
            _emit(relax.VarBinding(var, new_value), callees, out)
    if result not in renamed or not renamed[result].same_as(binding.var):
        # The callee returns a parameter (an identity option): the call's variable aliases it.
        out.append(relax.VarBinding(binding.var, _renamed(result, renamed)))


def _renamed(expr: relax.Expr, renamed: Mapping[Any, Any]) -> relax.Expr:
    """A leaf of normal form (or a tuple of leaves) with its variables renamed."""
    if isinstance(expr, relax.Var):
        return renamed.get(expr, expr)
    if isinstance(expr, relax.Tuple):
        fields = [_renamed(field, renamed) for field in expr.fields]
        if all(new.same_as(old) for new, old in zip(fields, expr.fields, strict=True)):
            return expr
        return relax.Tuple(fields, expr.span)
    if isinstance(expr, (relax.Call, relax.TupleGetItem, relax.SeqExpr, relax.If, relax.Function)):
        raise _Declined(f"a nested {type(expr).__name__}")
    return expr


def _rebuilt(value: relax.Expr, renamed: Mapping[Any, Any]) -> relax.Expr:
    """A binding's value with its variables renamed, of the type it had."""
    if isinstance(value, relax.Call):
        args = [_renamed(arg, renamed) for arg in value.args]
        if all(new.same_as(old) for new, old in zip(args, value.args, strict=True)):
            return value
        return relax.Call(value.op, args, value.attrs, value.ty_args, value.span, ret_ty=value.ty)
    if isinstance(value, relax.TupleGetItem):
        tuple_value = _renamed(value.tuple_value, renamed)
        if tuple_value.same_as(value.tuple_value):
            return value
        return relax.TupleGetItem(tuple_value, value.index, value.span)  # typed from the tuple
    return _renamed(value, renamed)
