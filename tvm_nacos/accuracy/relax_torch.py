"""A Relax function as a PyTorch module whose constants are trainable: fine-tune an architecture.

An architecture of an exposed model (:mod:`tvm_nacos.passes`) is a Relax module whose weights
are constants inherited from the trained model. :class:`RelaxAsTorch` reads the dataflow of its
``main`` (convolutions, pooling, matmuls, elementwise arithmetic and activations, reshapes: the
operators of CNNs and of the transformer blocks the Expose passes act on) and runs it with
PyTorch; every floating-point constant of rank ≥ 1 becomes an ``nn.Parameter``. It computes what
the Relax module computes (checked against TVM to the last image in the tests), so an
architecture can be fine-tuned for a few epochs and evaluated again: the reference that
inherited-weight accuracy (:class:`~tvm_nacos.accuracy.InheritedAccuracy`) is measured against.

Inputs may have any batch size: reshapes of values computed from the inputs keep the batch
dimension free (the module's own, usually 1, is replaced by ``-1``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tvm_nacos._compat import GenericConst, const_value, var_name

__all__ = ["RelaxAsTorch", "UnsupportedOperatorError"]


class UnsupportedOperatorError(NotImplementedError):
    """The Relax function calls an operator :class:`RelaxAsTorch` does not run (the message lists those it runs)."""


def _ints(values: Any) -> list[int]:
    return [int(v) for v in values]


def _pad(x: torch.Tensor, padding: Sequence[int], value: float = 0.0) -> tuple[torch.Tensor, tuple[int, int]]:
    """(input padded where the padding is uneven, the even padding left to the operator)."""
    top, left, bottom, right = (list(padding) * 2)[:4] if len(padding) == 2 else padding
    if top == bottom and left == right:
        return x, (top, left)
    return F.pad(x, (left, right, top, bottom), value=value), (0, 0)


def _check_layout(attrs: Any, *names: str) -> None:
    for name, expected in zip(("data_layout", "kernel_layout", "layout"), ("NCHW", "OIHW", "NCHW"), strict=True):
        if name in names and str(getattr(attrs, name)) != expected:
            raise UnsupportedOperatorError(f"layout {name}={getattr(attrs, name)} (only {expected} runs in PyTorch)")


def _conv2d(args: list[Any], attrs: Any) -> torch.Tensor:
    _check_layout(attrs, "data_layout", "kernel_layout")
    x, padding = _pad(args[0], _ints(attrs.padding))
    return F.conv2d(x, args[1], stride=_ints(attrs.strides), padding=padding, dilation=_ints(attrs.dilation),
                    groups=int(attrs.groups))


def _max_pool2d(args: list[Any], attrs: Any) -> torch.Tensor:
    _check_layout(attrs, "layout")
    x, padding = _pad(args[0], _ints(attrs.padding), value=-float("inf"))
    return F.max_pool2d(x, _ints(attrs.pool_size), _ints(attrs.strides), padding, _ints(attrs.dilation),
                        ceil_mode=bool(attrs.ceil_mode))


def _avg_pool2d(args: list[Any], attrs: Any) -> torch.Tensor:
    _check_layout(attrs, "layout")
    x, padding = _pad(args[0], _ints(attrs.padding))
    return F.avg_pool2d(x, _ints(attrs.pool_size), _ints(attrs.strides), padding, ceil_mode=bool(attrs.ceil_mode),
                        count_include_pad=bool(attrs.count_include_pad))


def _adaptive_avg_pool2d(args: list[Any], attrs: Any) -> torch.Tensor:
    _check_layout(attrs, "layout")
    size = attrs.output_size
    return F.adaptive_avg_pool2d(args[0], _ints(size) if size is not None else (1, 1))


def _axes(attrs: Any, name: str = "axis") -> list[int] | None:
    value = getattr(attrs, name)
    return None if value is None else _ints(value)


def _reduce(fn: Callable[..., torch.Tensor]) -> Callable[[list[Any], Any], torch.Tensor]:
    def run(args: list[Any], attrs: Any) -> torch.Tensor:
        axes = _axes(attrs)
        dims = axes if axes is not None else list(range(args[0].ndim))
        return fn(args[0], dim=dims, keepdim=bool(attrs.keepdims))
    return run


def _max(x: torch.Tensor, dim: list[int], keepdim: bool) -> torch.Tensor:
    return torch.amax(x, dim=dim, keepdim=keepdim)


def _permute(args: list[Any], attrs: Any) -> torch.Tensor:
    axes = _axes(attrs, "axes")
    return args[0].permute(*(axes if axes is not None else reversed(range(args[0].ndim))))


def _softmax(args: list[Any], attrs: Any) -> torch.Tensor:
    return F.softmax(args[0], dim=int(attrs.axis))


def _layer_norm(args: list[Any], attrs: Any) -> torch.Tensor:
    axes = _ints(attrs.axes)
    x = args[0]
    if sorted(a % x.ndim for a in axes) != list(range(x.ndim - len(axes), x.ndim)):
        raise UnsupportedOperatorError(f"layer_norm over axes {axes} that are not the last ones")
    return F.layer_norm(x, tuple(x.shape[-len(axes):]), args[1], args[2], float(attrs.epsilon))


def _concat(args: list[Any], attrs: Any) -> torch.Tensor:
    return torch.cat(list(args[0]), dim=int(attrs.axis) if attrs.axis is not None else 0)


def _strided_slice(args: list[Any], attrs: Any) -> torch.Tensor:
    x, axes, begin, end = args[0], args[1], args[2], args[3]
    strides = args[4] if len(args) > 4 else [1] * len(axes)
    index: list[Any] = [slice(None)] * x.ndim
    for axis, b, e, s in zip(axes, begin, end, strides, strict=True):
        index[int(axis)] = slice(int(b), int(e), int(s))
    return x[tuple(index)]


#: Relax operator -> ``run(args, attrs)``; arguments are tensors, shapes (tuples of ints) or
#: tuples of tensors, in the operator's order.
_OPS: dict[str, Callable[[list[Any], Any], Any]] = {
    "relax.nn.conv2d": _conv2d,
    "relax.nn.max_pool2d": _max_pool2d,
    "relax.nn.avg_pool2d": _avg_pool2d,
    "relax.nn.adaptive_avg_pool2d": _adaptive_avg_pool2d,
    "relax.nn.relu": lambda a, _: F.relu(a[0]),
    "relax.nn.gelu": lambda a, _: F.gelu(a[0]),
    "relax.nn.gelu_tanh": lambda a, _: F.gelu(a[0], approximate="tanh"),
    "relax.nn.silu": lambda a, _: F.silu(a[0]),
    "relax.nn.softmax": _softmax,
    "relax.nn.layer_norm": _layer_norm,
    "relax.sigmoid": lambda a, _: torch.sigmoid(a[0]),
    "relax.tanh": lambda a, _: torch.tanh(a[0]),
    "relax.sqrt": lambda a, _: torch.sqrt(a[0]),
    "relax.rsqrt": lambda a, _: torch.rsqrt(a[0]),
    "relax.exp": lambda a, _: torch.exp(a[0]),
    "relax.clip": lambda a, attrs: torch.clamp(a[0], float(a[1]), float(a[2])) if len(a) == 3
    else torch.clamp(a[0], float(attrs.min), float(attrs.max)),
    "relax.add": lambda a, _: a[0] + a[1],
    "relax.subtract": lambda a, _: a[0] - a[1],
    "relax.multiply": lambda a, _: a[0] * a[1],
    "relax.divide": lambda a, _: a[0] / a[1],
    "relax.maximum": lambda a, _: torch.maximum(a[0], a[1]),
    "relax.minimum": lambda a, _: torch.minimum(a[0], a[1]),
    "relax.matmul": lambda a, _: torch.matmul(a[0], a[1]),
    "relax.mean": _reduce(torch.mean),
    "relax.sum": _reduce(torch.sum),
    "relax.max": _reduce(_max),
    "relax.permute_dims": _permute,
    "relax.reshape": lambda a, _: a[0].reshape(a[1]),
    "relax.flatten": lambda a, _: a[0].flatten(),
    "relax.squeeze": lambda a, attrs: a[0].squeeze(*(_axes(attrs) or [])) if _axes(attrs) else a[0].squeeze(),
    "relax.expand_dims": lambda a, attrs: a[0].reshape(_expanded_shape(a[0].shape, _ints(attrs.axis))),
    "relax.concat": _concat,
    "relax.strided_slice": _strided_slice,
    "relax.astype": lambda a, attrs: a[0].to(getattr(torch, str(attrs.dtype))),
}


def _expanded_shape(shape: Sequence[int], axes: Sequence[int]) -> list[int]:
    out = list(shape)
    rank = len(out) + len(axes)
    for axis in sorted(a % rank for a in axes):
        out.insert(axis, 1)
    return out


class RelaxAsTorch(nn.Module):
    """The ``main`` function of a Relax module (its dataflow bindings) run by PyTorch.

    Parameters
    ----------
    mod : tvm.IRModule
        A module without choice points (e.g. an architecture specialized with
        :class:`~tvm_nacos.passes.SpecializeArch`), its weights bound as constants. Batch norms
        must be folded or decomposed first (:func:`~tvm_nacos.tuning.simplify_for_inference`).
    trainable : bool
        Make the floating-point constants of rank ≥ 1 ``nn.Parameter`` (else buffers).

    Raises
    ------
    UnsupportedOperatorError
        ``main`` calls an operator not in :data:`SUPPORTED_OPERATORS`, or in a layout PyTorch
        does not run (the message names it).
    """

    def __init__(self, mod: Any, *, trainable: bool = True) -> None:
        super().__init__()
        from tvm import relax

        func = mod["main"]
        self.num_inputs = len(func.params)
        self.weights = nn.ParameterList()
        constants: dict[Any, int] = {}
        names = {param: ("input", i) for i, param in enumerate(func.params)}
        batch_of = {param: _batch(param) for param in func.params}
        self._program: list[tuple[Any, str, list[Any], Any]] = []
        body = func.body
        blocks = body.blocks if isinstance(body, relax.SeqExpr) else []
        for block in blocks:
            for binding in block.bindings:
                if not isinstance(binding, relax.VarBinding) or not isinstance(binding.value, relax.Call):
                    raise UnsupportedOperatorError(f"binding {var_name(binding.var)} is not an operator call")
                call = binding.value
                op = str(call.op.name) if hasattr(call.op, "name") else str(call.op)
                if op not in _OPS:
                    raise UnsupportedOperatorError(
                        f"operator {op} (binding {var_name(binding.var)}) does not run in PyTorch here; "
                        f"supported: {sorted(_OPS)}"
                    )
                args = [self._argument(arg, names, constants, trainable) for arg in call.args]
                batched = [batch_of.get(arg) for arg in call.args if isinstance(arg, relax.Var)]
                batch = next((b for b in batched if b is not None), None)
                if op == "relax.reshape" and batch is not None and args[1][0] == "shape":
                    shape = list(args[1][1])
                    if shape and shape[0] == batch:
                        args[1] = ("shape", tuple([-1, *shape[1:]]))
                batch_of[binding.var] = batch
                names[binding.var] = ("var", len(self._program))
                self._program.append((binding.var, op, args, call.attrs))
        result = body.body if isinstance(body, relax.SeqExpr) else body
        if result not in names:
            raise UnsupportedOperatorError("main must return a value it binds")
        self._output = names[result]

    def _argument(self, arg: Any, names: dict[Any, Any], constants: dict[Any, int], trainable: bool) -> Any:
        from tvm import relax

        if isinstance(arg, relax.Var):
            return names[arg]
        if isinstance(arg, GenericConst):
            if arg not in constants:
                value = torch.from_numpy(np.array(const_value(arg).numpy()))
                constants[arg] = len(self.weights)
                learn = trainable and value.is_floating_point() and value.ndim >= 1
                self.weights.append(nn.Parameter(value, requires_grad=learn))
            return ("weight", constants[arg])
        if isinstance(arg, relax.ShapeExpr):
            return ("shape", tuple(int(v) for v in arg.values))
        if isinstance(arg, relax.Tuple):
            return ("tuple", [self._argument(f, names, constants, trainable) for f in arg.fields])
        if hasattr(arg, "value") and isinstance(getattr(arg, "value", None), (int, float)):
            return ("value", arg.value)  # a scalar immediate
        raise UnsupportedOperatorError(f"argument {type(arg).__name__} of an operator call")

    @staticmethod
    def _value(ref: Any, inputs: Sequence[torch.Tensor], values: list[Any], weights: Any) -> Any:
        kind, what = ref
        if kind == "input":
            return inputs[what]
        if kind == "var":
            return values[what]
        if kind == "weight":
            return weights[what]
        if kind == "tuple":
            return [RelaxAsTorch._value(r, inputs, values, weights) for r in what]
        return what  # a shape or a scalar

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if len(inputs) != self.num_inputs:
            raise TypeError(f"main takes {self.num_inputs} inputs, got {len(inputs)}")
        values: list[Any] = []
        for _, op, args, attrs in self._program:
            values.append(_OPS[op]([self._value(a, inputs, values, self.weights) for a in args], attrs))
        return self._value(self._output, inputs, values, self.weights)


def _batch(var: Any) -> int | None:
    """The static leading dimension of a tensor parameter, else ``None``."""
    shape = getattr(getattr(var, "ty", None), "shape", None)
    values = getattr(shape, "values", None)
    if not values or not hasattr(values[0], "value"):
        return None
    return int(values[0].value)


#: The operators :class:`RelaxAsTorch` runs.
SUPPORTED_OPERATORS = tuple(sorted(_OPS))
