"""Rewrite the calls of a Relax function, optionally returning values collected on the way.

NASWOT (:mod:`tvm_nacos.accuracy.relax_naswot`) reads every ReLU's codes and batch-norm
recalibration (:mod:`tvm_nacos.accuracy.relax_batch_norm`) every batch norm's input statistics:
both switch batch norms to batch statistics and make the function return what they collect
instead of its output. :func:`rewrite_calls` is that walk; :func:`batch_norm_call` re-creates a
batch-norm call with other arguments or mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tvm_nacos._compat import expr_type

__all__ = ["CallRewrite", "batch_norm_call", "rewrite_calls"]

#: ``rewrite(call, builder, outputs) -> expr``: called on every call, its arguments already
#: rewritten (post order); it may emit bindings with ``builder`` and append values to
#: ``outputs``, and returns the call's replacement (or the call itself).
CallRewrite = Callable[[Any, Any, list], Any]


def batch_norm_call(call: Any, args: list[Any] | None = None, *, training: bool | None = None) -> Any:
    """``relax.nn.batch_norm`` as ``call``, with other ``args`` and/or ``training`` mode."""
    from tvm import relax

    a = call.attrs
    return relax.op.nn.batch_norm(
        *(call.args if args is None else args), axis=int(a.axis), epsilon=float(a.epsilon), center=bool(a.center),
        scale=bool(a.scale), momentum=float(a.momentum), training=bool(a.training) if training is None else training,
    )


def rewrite_calls(mod: Any, func_name: str, rewrite: CallRewrite, *, return_outputs: bool = False) -> tuple[Any, int]:
    """A new module with ``func_name``'s calls rewritten by ``rewrite``; the caller's is unchanged.

    Returns the module and how many values ``rewrite`` collected. With ``return_outputs`` the
    function returns the tuple of them instead of its own output (what only fed the output is
    removed); without any, it is returned unchanged in that respect.
    """
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    @mutator
    class _Rewriter(PyExprMutator):
        def __init__(self, module: Any) -> None:
            super().__init__(module)
            self.outputs: list[Any] = []

        def visit_call_(self, call: Any) -> Any:
            return rewrite(super().visit_call_(call), self.builder_, self.outputs)

    mod = relax.transform.ToNonDataflow()(mod)  # a new module; and collected values may leave any block
    func = mod[func_name]
    rewriter = _Rewriter(mod)
    body = rewriter.visit_expr(func.body)
    if return_outputs and rewriter.outputs:
        body = relax.SeqExpr(body.blocks, relax.Tuple(rewriter.outputs))
    body = rewriter.builder_.normalize(body)
    mod[func_name] = relax.Function(func.params, body, expr_type(body), func.is_pure, func.attrs)
    mod = relax.transform.Normalize()(mod)
    if return_outputs:
        mod = relax.transform.DeadCodeElimination([func_name])(mod)
    return mod, len(rewriter.outputs)
