"""Latency proxies of the two-stage baseline: what HW-NAS ranks by when the compiler has not tuned.

Each proxy maps ``(session, samples)`` to one value per sample, lower meaning faster:

- ``macs``: multiply-accumulates of conv2d and matmul;
- ``untuned``: TVM latency of the architecture compiled without tuning.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import tvm
from tvm import relax

from tvm_nacos.search_space import ArchSample

if TYPE_CHECKING:
    from tvm_nacos.cosearch.session import SearchSession

__all__ = ["TWO_STAGE_PROXIES", "count_macs"]


def count_macs(mod: tvm.IRModule) -> int:
    """Multiply-accumulates of one inference: conv2d and matmul calls of every Relax function."""
    total = 0

    def visit(expr: relax.Expr) -> None:
        nonlocal total
        if not isinstance(expr, relax.Call) or not isinstance(expr.op, tvm.ir.Op):
            return
        name = expr.op.name
        if name == "relax.nn.conv2d":
            out = [int(d) for d in expr.ty.shape.values]
            weight = [int(d) for d in expr.args[1].ty.shape.values]  # O, I/groups, kh, kw
            total += math.prod(out) * weight[1] * weight[2] * weight[3]
        elif name == "relax.matmul":
            out = [int(d) for d in expr.ty.shape.values]
            total += math.prod(out) * int(expr.args[0].ty.shape.values[-1])

    for func in mod.functions.values():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func.body, visit)
    return total


def _macs_proxy(session: SearchSession, samples: list[ArchSample]) -> list[float]:
    from tvm_nacos.passes import SpecializeArch  # pylint: disable=import-outside-toplevel

    return [float(count_macs(SpecializeArch(s)(session.mod))) for s in samples]


def _untuned_proxy(session: SearchSession, samples: list[ArchSample]) -> list[float]:
    from tvm_nacos.target import device_for  # pylint: disable=import-outside-toplevel

    values = []
    device = device_for(session.target)
    for sample in samples:
        fused = session._fused.get(sample.id)  # pylint: disable=protected-access
        if fused is None:
            session.add(sample)
            fused = session._fused[sample.id]  # pylint: disable=protected-access
        executable = tvm.compile(fused, target=session.target)
        vm = relax.VirtualMachine(executable, device)
        inputs = [
            tvm.runtime.tensor(np.zeros([int(d) for d in p.ty.shape.values], dtype=str(p.ty.dtype)), device)
            for p in fused["main"].params
        ]
        values.append(float(np.median(vm.time_evaluator("main", device, number=1, repeat=3)(*inputs).results)))
    return values


#: Latency proxies of the two-stage baseline: name → (session, samples) → values (lower is faster).
TWO_STAGE_PROXIES: dict[str, Callable[[SearchSession, list[ArchSample]], list[float]]] = {
    "macs": _macs_proxy,
    "untuned": _untuned_proxy,
}
