"""Latency proxies of the two-stage baseline: what HW-NAS ranks by when the compiler has not tuned.

Each proxy maps ``(session, samples)`` to one value per sample, lower meaning faster:

- ``macs``: multiply-accumulates of conv2d and matmul;
- ``untuned``: TVM latency of the architecture compiled without tuning (median ms);
- ``eager``: PyTorch eager latency of the architecture on the host CPU, from the PyTorch
  reference of the built-in space the module came from (``session.source``).
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import tvm

from tvm_nacos.analysis import ArchitectureMacs
from tvm_nacos.search_space import ArchSample
from tvm_nacos.target import device_for
from tvm_nacos.tuning.compile import compile_architecture, random_inputs, time_executable

if TYPE_CHECKING:
    from tvm_nacos.cosearch.session import SearchSession

__all__ = ["EAGER_REPEAT", "EAGER_WARMUP", "TWO_STAGE_PROXIES", "eager_latency_ms"]

#: Untimed calls of the eager proxy before timing an architecture (allocator, oneDNN caches) ...
EAGER_WARMUP = 10
#: ... and timed calls; the proxy is their median (robust to the other processes of a shared host).
EAGER_REPEAT = 50


@functools.lru_cache(maxsize=4)
def architecture_macs(mod: tvm.IRModule) -> ArchitectureMacs:
    """The MAC counter of ``mod``'s architectures (read once per module; ~0.3 s per architecture
    less than counting a specialized module)."""
    return ArchitectureMacs(mod)


def _macs_proxy(session: SearchSession, samples: list[ArchSample]) -> list[float]:
    macs = architecture_macs(session.mod)
    return [float(macs(s)) for s in samples]


def _untuned_proxy(session: SearchSession, samples: list[ArchSample]) -> list[float]:
    """TVM latency of each architecture compiled with TVM's default schedules (median ms), timed
    as the tuned front is (:func:`~tvm_nacos.tuning.compile.time_executable`): the baseline gets
    the same care."""
    device = device_for(session.target)
    values = []
    for sample in samples:
        lowered = session.lowered(sample)
        compiled = compile_architecture(session.mod, session.target, lowered=lowered)
        inputs = random_inputs(lowered["main"], device, session.seed)
        values.append(time_executable(compiled.executable, session.target, inputs, repeat=5).median_ms)
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
    import torch

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
