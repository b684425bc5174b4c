"""Batch-norm recalibration on a Relax module: new running statistics from a few training batches.

An architecture that inherits its weights (a slimmer width, a kernel cut from a larger one, a
skipped block) changes the activations its batch norms see, and their running statistics, taken
on the original network, no longer fit (Once-for-All, AutoSlim). Recalibration runs the
architecture on a few training batches with its batch norms on batch statistics, as PyTorch's
``model.train()`` forward does, and gives each batch norm the mean of the batches' means and of
their unbiased variances (PyTorch's cumulative average, ``momentum=None``). Here it is done on the
Relax module itself, before the batch norms are folded into the convolutions, so the module that
is scored is the module that ships.

.. code-block:: python

    specialized = SpecializeArch(sample)(mod)
    recalibrated = recalibrate_batch_norms(specialized, [x_train[:64], x_train[64:128]])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from tvm_nacos._compat import expr_type

__all__ = ["batch_norm_statistics", "count_batch_norms", "recalibrate_batch_norms"]

logger = logging.getLogger(__name__)


def _batch_norm_op() -> Any:
    import tvm

    return tvm.ir.Op.get("relax.nn.batch_norm")


def count_batch_norms(mod: Any, func_name: str = "main") -> int:
    """Batch norms (``relax.nn.batch_norm`` calls) in ``func_name``."""
    from tvm import relax

    op, count = _batch_norm_op(), 0

    def visit(expr: Any) -> None:
        nonlocal count
        if isinstance(expr, relax.Call) and expr.op == op:
            count += 1

    relax.analysis.post_order_visit(mod[func_name], visit)
    return count


def _reduced_axes(ndim: int, axis: int) -> list[int]:
    axis = axis % ndim
    return [i for i in range(ndim) if i != axis]


def _statistics_module(mod: Any, func_name: str) -> Any:
    """``mod`` with batch norms on batch statistics, returning each one's input mean and (biased)
    variance over the batch, in program order."""
    from tvm import relax

    from tvm_nacos.ir.rewrite import batch_norm_call, rewrite_calls

    op = _batch_norm_op()

    def collect(call: Any, builder: Any, stats: list) -> Any:
        if call.op != op:
            return call
        data = call.args[0]
        axes = _reduced_axes(len(expr_type(data).shape.values), int(call.attrs.axis))
        stats.append(builder.emit(relax.op.mean(data, axis=axes)))
        stats.append(builder.emit(relax.op.variance(data, axis=axes)))
        return batch_norm_call(call, training=True)

    mod, count = rewrite_calls(mod, func_name, collect, return_outputs=True)
    if not count:
        raise ValueError(f"{func_name} has no batch norm to recalibrate")
    return mod


def batch_norm_statistics(
    mod: Any, batches: Sequence[np.ndarray], *, target: Any = None, func_name: str = "main",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each batch norm's recalibrated ``(mean, variance)``, in program order.

    ``mod`` (its ``func_name`` taking one image, ``(1, C, H, W)``) runs on every batch of
    ``batches`` (arrays ``(B, C, H, W)`` of one size) with its batch norms on batch statistics;
    the result averages the batches' means and unbiased variances.

    Raises
    ------
    ValueError
        If there are no batches, they differ in size, a batch has fewer than two images, or the
        module has no batch norm.
    """
    import tvm
    from tvm import relax

    from tvm_nacos.ir.batch import with_batch_size
    from tvm_nacos.target import as_target

    if not batches:
        raise ValueError("recalibration needs at least one batch of training images")
    size = len(batches[0])
    if size < 2 or any(len(b) != size for b in batches):
        raise ValueError(f"recalibration batches must all hold the same number (>= 2) of images, got {[len(b) for b in batches]}")
    rebatched = with_batch_size(mod, size, func_name)
    module = _statistics_module(rebatched, func_name)
    executable = tvm.compile(module, target=as_target(target))
    device = tvm.cpu()
    vm = relax.VirtualMachine(executable, device)
    dtype = str(expr_type(mod[func_name].params[0]).dtype)
    sums: list[np.ndarray] | None = None
    for batch in batches:
        outputs = vm[func_name](tvm.runtime.tensor(np.ascontiguousarray(batch, dtype=dtype), device))
        values = [np.asarray(outputs[i].numpy(), dtype=np.float64) for i in range(len(outputs))]
        sums = values if sums is None else [s + v for s, v in zip(sums, values, strict=True)]
    assert sums is not None
    stats = [(sums[i] / len(batches), sums[i + 1] / len(batches)) for i in range(0, len(sums), 2)]
    # Unbiased variances, as PyTorch's running_var: n / (n - 1) with n the values per channel.
    reduced = _values_per_channel(rebatched, func_name)
    return [(mean, var * n / max(1, n - 1)) for (mean, var), n in zip(stats, reduced, strict=True)]


def _values_per_channel(rebatched: Any, func_name: str) -> list[int]:
    """For each batch norm of ``rebatched`` (in program order), how many values of its input it
    averages per channel."""
    from tvm import relax

    op, counts = _batch_norm_op(), []

    def visit(expr: Any) -> None:
        if isinstance(expr, relax.Call) and expr.op == op:
            shape = [int(d) for d in expr_type(expr.args[0]).shape.values]
            axis = int(expr.attrs.axis) % len(shape)
            counts.append(int(np.prod([d for i, d in enumerate(shape) if i != axis])))

    relax.analysis.post_order_visit(rebatched[func_name], visit)
    return counts


def recalibrate_batch_norms(
    mod: Any, batches: Sequence[np.ndarray], *, target: Any = None, func_name: str = "main",
) -> Any:
    """``mod`` with every batch norm's running statistics taken again on ``batches``
    (:func:`batch_norm_statistics`); a module without batch norms is returned as it is."""
    from tvm import relax

    from tvm_nacos.ir.rewrite import batch_norm_call, rewrite_calls

    if count_batch_norms(mod, func_name) == 0:
        return mod
    stats = iter(batch_norm_statistics(mod, batches, target=target, func_name=func_name))
    op = _batch_norm_op()

    def replace(call: Any, builder: Any, outputs: list) -> Any:
        if call.op != op:
            return call
        mean, var = next(stats)
        dtype = str(expr_type(call.args[3]).dtype)
        return batch_norm_call(call, [*call.args[:3], relax.const(mean.astype(dtype)), relax.const(var.astype(dtype))])

    recalibrated, _ = rewrite_calls(mod, func_name, replace)
    logger.debug("recalibrated the batch norms of %s on %d batches", func_name, len(batches))
    return recalibrated
