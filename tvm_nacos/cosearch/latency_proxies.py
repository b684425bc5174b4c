"""Latency proxies of the two-stage baseline: what HW-NAS ranks by when the compiler has not tuned.

Each proxy maps ``(session, samples)`` to one value per sample, lower meaning faster:

- ``macs``: multiply-accumulates of conv2d and matmul;
- ``untuned``: TVM latency of the architecture compiled without tuning (median ms);
- ``eager``: PyTorch eager latency of the architecture on the host CPU, from the PyTorch
  reference of the built-in space the module came from (``session.source``).
"""

from __future__ import annotations

import functools
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import tvm
from tvm import relax

from tvm_nacos.search_space import ArchSample

if TYPE_CHECKING:
    from tvm_nacos.cosearch.session import SearchSession

__all__ = ["EAGER_REPEAT", "EAGER_WARMUP", "TWO_STAGE_PROXIES", "ArchitectureCounter", "ArchitectureMacs", "count_macs", "eager_latency_ms"]

#: Untimed calls of the eager proxy before timing an architecture (allocator, oneDNN caches) ...
EAGER_WARMUP = 10
#: ... and timed calls; the proxy is their median (robust to the other processes of a shared host).
EAGER_REPEAT = 50


def _call_macs(call: relax.Call) -> int:
    """Multiply-accumulates of one operator call: conv2d and matmul, 0 for anything else."""
    name = call.op.name
    if name == "relax.nn.conv2d":
        out = [int(d) for d in call.ty.shape.values]
        weight = [int(d) for d in call.args[1].ty.shape.values]  # O, I/groups, kh, kw
        return math.prod(out) * weight[1] * weight[2] * weight[3]
    if name == "relax.matmul":
        out = [int(d) for d in call.ty.shape.values]
        return math.prod(out) * int(call.args[0].ty.shape.values[-1])
    return 0


def count_macs(mod: tvm.IRModule) -> int:
    """Multiply-accumulates of one inference: conv2d and matmul calls of every Relax function."""
    total = 0

    def visit(expr: relax.Expr) -> None:
        nonlocal total
        if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.Op):
            total += _call_macs(expr)

    for func in mod.functions.values():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func.body, visit)
    return total


class ArchitectureCounter:
    """A count over the graph an architecture runs, read off a module with choice points
    without specializing it.

    Reads the module once: each Relax function's own count (``count_expr`` summed over the
    expressions of its body) and the functions it calls. An architecture's count is then a
    walk of the call graph from the public functions that enters, at each choice point's stub,
    the option the architecture picks (the default where it picks none). The result equals
    counting the module :class:`~tvm_nacos.passes.SpecializeArch` makes for the architecture
    (the tests check it), which takes ~0.3 s per architecture on ``nas-bench-201``; this walk
    is pure Python.

    Parameters
    ----------
    mod : tvm.IRModule
        A module with choice points (see :mod:`tvm_nacos.ir.choice`).
    count_expr : callable
        ``expr -> int`` for every expression of a function body (0 for most).
    per_call : bool
        Count a function once per call (work, e.g. MACs) rather than once per architecture
        that reaches it (storage, e.g. weights).
    """

    def __init__(self, mod: tvm.IRModule, count_expr: Callable[[relax.Expr], int], *, per_call: bool = True) -> None:
        from tvm_nacos.ir.choice import find_choice_points  # pylint: disable=import-outside-toplevel

        self.per_call = per_call
        self._own: dict[str, int] = {}
        self._calls: dict[str, list[str]] = {}
        #: stub name → (label, {option: option function name}, default option)
        self._stubs: dict[str, tuple[str, dict[str, str], str]] = {
            point.stub.name_hint: (point.label, {o: f.name_hint for o, f in zip(point.options, point.option_funcs)},
                                   point.default)
            for point in find_choice_points(mod)
        }
        self._entries: list[str] = []
        for gv, func in mod.functions_items():
            if not isinstance(func, relax.Function):
                continue
            name = gv.name_hint
            own, calls = 0, []

            def visit(expr: relax.Expr, calls: list[str] = calls) -> None:
                nonlocal own
                own += count_expr(expr)
                if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.GlobalVar):
                    calls.append(expr.op.name_hint)

            relax.analysis.post_order_visit(func.body, visit)
            self._own[name], self._calls[name] = own, calls
            if func.attrs is not None and "global_symbol" in func.attrs:
                self._entries.append(name)

    def _resolve(self, name: str, sample: Mapping[str, str]) -> str:
        """``name``, or the option function its stub enters for ``sample``."""
        while name in self._stubs:
            label, funcs, default = self._stubs[name]
            option = sample.get(label, default)
            if option not in funcs:
                raise ValueError(f"option {option!r} of {label!r} is not one of {sorted(funcs)}")
            name = funcs[option]
        return name

    def __call__(self, sample: Mapping[str, str]) -> int:
        """The count of the architecture ``sample`` (``{label: option}``)."""
        if self.per_call:

            def total(name: str) -> int:
                name = self._resolve(name, sample)
                return self._own.get(name, 0) + sum(total(callee) for callee in self._calls.get(name, ()))

            return sum(total(entry) for entry in self._entries)
        reached: set[str] = set()
        pending = list(self._entries)
        while pending:
            name = self._resolve(pending.pop(), sample)
            if name not in reached:
                reached.add(name)
                pending.extend(self._calls.get(name, ()))
        return sum(self._own.get(name, 0) for name in reached)


def _expr_macs(expr: relax.Expr) -> int:
    return _call_macs(expr) if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.Op) else 0


class ArchitectureMacs(ArchitectureCounter):
    """MACs (conv2d and matmul) of any architecture of ``mod``, as :func:`count_macs` counts
    them on the specialized module; see :class:`ArchitectureCounter`."""

    def __init__(self, mod: tvm.IRModule) -> None:
        super().__init__(mod, _expr_macs)


@functools.lru_cache(maxsize=4)
def _macs_of(mod: tvm.IRModule) -> ArchitectureMacs:
    return ArchitectureMacs(mod)


def _macs_proxy(session: SearchSession, samples: list[ArchSample]) -> list[float]:
    macs = _macs_of(session.mod)
    return [float(macs(s)) for s in samples]


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
        # The same timer as the tuned end-to-end measurement: the baseline gets the same care.
        timer = vm.time_evaluator("main", device, number=10, repeat=5, min_repeat_ms=50)
        values.append(float(np.median(timer(*inputs).results)) * 1e3)
    return values


def eager_latency_ms(
    source: Any,
    samples: Sequence[ArchSample],
    *,
    num_threads: int | None = None,
    warmup: int = EAGER_WARMUP,
    repeat: int = EAGER_REPEAT,
    seed: int = 0,
) -> list[float]:
    """PyTorch eager latency of each architecture on this CPU: median of ``repeat`` calls, in ms.

    Each architecture is :meth:`~tvm_nacos.search_space.BuiltinSpace.torch_reference` (only the
    modules it uses), run on :meth:`~tvm_nacos.search_space.BuiltinSpace.example_input` under
    ``torch.inference_mode``: ``warmup`` untimed calls, then ``repeat`` calls timed one by one
    with ``time.perf_counter``; the median of those is the value.

    Parameters
    ----------
    source : BuiltinSpace
        The built-in space the architectures belong to.
    samples : sequence of ArchSample
    num_threads : int, optional
        PyTorch intra-op threads while timing (restored afterwards); PyTorch's current setting
        if ``None``.
    warmup, repeat : int
        Untimed and timed calls per architecture.
    seed : int
        Seed of the weights and of the input (latency does not depend on it).

    Notes
    -----
    Give PyTorch no more threads than there are idle cores: its OpenMP threads wait for each
    other at every operator, so on the shared 2-core build machine, with other processes busy,
    a NAS-Bench-201 network took 6–10 s per call on two threads and ~80 ms on one.
    """
    import torch  # pylint: disable=import-outside-toplevel

    if warmup < 0 or repeat < 1:
        raise ValueError(f"eager timing needs warmup >= 0 and repeat >= 1, got warmup={warmup}, repeat={repeat}")
    previous_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    values = []
    try:
        x = source.example_input(seed=seed)
        for sample in samples:
            model = source.torch_reference(sample, seed=seed)
            with torch.inference_mode():
                for _ in range(warmup):
                    model(x)
                times = []
                for _ in range(repeat):
                    start = time.perf_counter()
                    model(x)
                    times.append(time.perf_counter() - start)
            values.append(statistics.median(times) * 1e3)
    finally:
        torch.set_num_threads(previous_threads)
    return values


def _eager_proxy(session: SearchSession, samples: list[ArchSample]) -> list[float]:
    others = ", ".join(repr(name) for name in sorted(TWO_STAGE_PROXIES) if name != "eager")
    if session.source is None or not hasattr(session.source, "torch_reference"):
        raise ValueError(
            "the eager latency proxy needs a built-in space with a PyTorch reference (search a space "
            f"such as 'nas-bench-201', not an IRModule); with an IRModule use another proxy: {others}"
        )
    kind = session.target.kind.name
    if kind != "llvm":
        raise ValueError(
            f"the eager latency proxy times PyTorch on the host CPU, so it needs an llvm target, not {kind!r}; "
            f"use another proxy for other targets: {others}"
        )
    # As a practitioner would measure it: PyTorch on the cores TVM's code is given.
    num_cores = session.target.attrs.get("num-cores")
    return eager_latency_ms(session.source, samples, num_threads=None if num_cores is None else int(num_cores))


#: Latency proxies of the two-stage baseline: name → (session, samples) → values (lower is faster).
TWO_STAGE_PROXIES: dict[str, Callable[[SearchSession, list[ArchSample]], list[float]]] = {
    "macs": _macs_proxy,
    "untuned": _untuned_proxy,
    "eager": _eager_proxy,
}
