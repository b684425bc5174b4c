"""Change the batch of a Relax module: a network imported for one image runs a batch.

``tvm_nacos.from_torch`` imports a model with the example input's shape, usually one image;
NASWOT (:mod:`tvm_nacos.accuracy.relax_naswot`) and batch-norm recalibration
(:mod:`tvm_nacos.accuracy.relax_batch_norm`) need the whole mini-batch in one forward pass,
because batch statistics are taken over it.
"""

from __future__ import annotations

from typing import Any

from tvm_nacos._compat import TensorType, expr_type, var_name

__all__ = ["with_batch_size"]


def with_batch_size(mod: Any, batch: int, func_name: str = "main") -> Any:
    """``mod`` with ``func_name`` taking a batch of ``batch`` images instead of its own.

    The first input's leading dimension (the batch the module was imported with, often 1)
    becomes ``batch``; shapes follow by inference, and a ``reshape`` to a literal shape that
    kept the old batch in front (a flatten) gets ``batch``.

    Raises
    ------
    ValueError
        If the function's first input has no static leading dimension.
    """
    import tvm
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    reshape_op = tvm.ir.Op.get("relax.reshape")

    @mutator
    class _Rebatch(PyExprMutator):
        def __init__(self, module: Any, param: Any, new_param: Any) -> None:
            super().__init__(module)
            self.param, self.new_param = param, new_param

        def visit_var_(self, var: Any) -> Any:
            return self.new_param if var.same_as(self.param) else super().visit_var_(var)

        def visit_call_(self, call: Any) -> Any:
            if call.op == reshape_op and isinstance(call.args[1], relax.ShapeExpr):
                data = self.visit_expr(call.args[0])
                dims = list(call.args[1].values)
                if dims and _int_or_none(dims[0]) == old_batch and _leading(expr_type(data)) == batch:
                    return relax.op.reshape(data, [batch, *dims[1:]])
                return relax.op.reshape(data, call.args[1])
            return super().visit_call_(call)

    func = mod[func_name]
    first = func.params[0]
    shape = [_int_or_none(d) for d in expr_type(first).shape.values]
    if not shape or shape[0] is None:
        raise ValueError(f"{func_name}'s first input must have a static batch to rebatch, it has shape {shape}")
    old_batch = shape[0]
    if batch == old_batch:
        return mod
    mod = relax.transform.ToNonDataflow()(mod)
    func = mod[func_name]
    first = func.params[0]
    new_param = relax.Var(var_name(first), TensorType([batch, *shape[1:]], expr_type(first).dtype))
    rebatch = _Rebatch(mod, first, new_param)
    body = rebatch.builder_.normalize(rebatch.visit_expr(func.body))
    new_func = relax.Function([new_param, *func.params[1:]], body, expr_type(body), func.is_pure, func.attrs)
    mod[func_name] = new_func
    return relax.transform.Normalize()(mod)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _leading(struct_info: Any) -> int | None:
    shape = getattr(struct_info, "shape", None)
    values = getattr(shape, "values", None)
    return _int_or_none(values[0]) if values else None
