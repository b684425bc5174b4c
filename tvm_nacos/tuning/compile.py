"""Compile an architecture with its tuned schedules, and time a compiled network.

The one way tvm-nacos turns an architecture into code: lower it as the tasks were extracted
(:func:`~tvm_nacos.tuning.tasks.lower_for_tuning`), give each kernel its best record, or the
best schedule of a kernel with the same anchor block
(:func:`~tvm_nacos.tuning.database.apply_tuned_schedules`), and ``tvm.compile`` the result.
The search's end-to-end timing, ``tvm-nacos compile``, :func:`~tvm_nacos.tuning.tune.tune_architecture`
and the untuned latency proxy all go through here, so they agree on what an architecture runs.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tvm
from tvm import relax

from tvm_nacos._compat import tirx
from tvm_nacos.search_space import ArchSample
from tvm_nacos.target import device_for
from tvm_nacos.tuning.database import IS_SCHEDULED_ATTR, apply_tuned_schedules
from tvm_nacos.tuning.tasks import lower_for_tuning

logger = logging.getLogger(__name__)

__all__ = [
    "CompiledArchitecture", "Latency", "compile_architecture", "compile_architectures", "merge_architectures",
    "random_inputs", "time_executable", "time_interleaved",
]


@dataclass(frozen=True)
class CompiledArchitecture:
    """What :func:`compile_architecture` built.

    Attributes
    ----------
    executable : tvm.runtime.Executable
        The Relax executable (weights inside; ``main`` takes the network's inputs).
    lowered : tvm.IRModule
        The module it was compiled from, kernels scheduled (``main`` gives the inputs' types).
    tuned_kernels, num_kernels : int
        Kernels that got a tuned schedule (their own or an anchor sibling's), of all kernels.
    compile_secs : float
    """

    executable: Any
    lowered: tvm.IRModule
    tuned_kernels: int
    num_kernels: int
    compile_secs: float


@dataclass(frozen=True)
class Latency:
    """End-to-end timings of one network: their median and every sample, in milliseconds."""

    median_ms: float
    samples_ms: tuple[float, ...]

    @property
    def best_ms(self) -> float:
        """The fastest sample (each sample is already the mean of many calls): on a shared
        machine load only slows a sample down, and the fastest is the one it disturbed least.
        The median where there are no samples."""
        return min(self.samples_ms) if self.samples_ms else self.median_ms

    @property
    def spread_ms(self) -> float:
        """Half the interquartile range of the samples: the ± reported with a latency (the
        search reports :attr:`best_ms`)."""
        if len(self.samples_ms) < 2:
            return 0.0
        q1, q3 = np.percentile(self.samples_ms, [25, 75])
        return float(q3 - q1) / 2

    @property
    def relative_spread(self) -> float:
        """:attr:`spread_ms` as a fraction of the median."""
        return self.spread_ms / self.median_ms if self.median_ms > 0 else math.inf


def compile_architecture(
    mod: tvm.IRModule,
    target: tvm.target.Target,
    *,
    sample: ArchSample | Mapping[str, str] | None = None,
    database: Any = None,
    anchor_database: Any = None,
    lowered: tvm.IRModule | None = None,
) -> CompiledArchitecture:
    """Build ``sample`` of ``mod`` (or ``mod`` itself) with the best schedules of ``database``.

    Parameters
    ----------
    mod : tvm.IRModule
        A module with choice points (then ``sample`` picks the architecture) or a plain one.
    target : tvm.target.Target
    sample : ArchSample or Mapping, optional
    database : ms.database.Database, optional
        The tuning database; without one, the kernels keep TVM's default schedules (what an
        untuned compile runs).
    anchor_database : ms.database.Database, optional
        Where kernels without records of their own borrow an anchor sibling's schedule; by
        default derived from ``database``.
    lowered : tvm.IRModule, optional
        ``lower_for_tuning(mod, target, sample=sample)`` if already at hand (it is cached by
        the search).
    """
    start = time.perf_counter()
    if lowered is None:
        lowered = lower_for_tuning(mod, target, sample=sample)
    if database is not None:
        lowered = apply_tuned_schedules(lowered, database, target, anchor_database)
    kernels = [f for f in lowered.functions.values() if isinstance(f, tirx.PrimFunc)]
    tuned = sum(1 for f in kernels if f.attrs is not None and f.attrs.get(IS_SCHEDULED_ATTR, False))
    executable = tvm.compile(lowered, target=target)
    secs = time.perf_counter() - start
    logger.debug("compiled %s: %d of %d kernels tuned, %.2f s", getattr(sample, "id", "module"), tuned, len(kernels), secs)
    return CompiledArchitecture(executable, lowered, tuned, len(kernels), secs)


@relax.expr_functor.mutator
class _KernelRenamer(relax.PyExprMutator):
    """Points a Relax function's kernel calls at the merged module's kernels (by old name)."""

    def __init__(self, kernels: Mapping[str, tvm.ir.GlobalVar]) -> None:
        super().__init__()
        self.kernels = kernels

    def visit_global_var_(self, op: tvm.ir.GlobalVar) -> tvm.ir.GlobalVar:
        return self.kernels.get(op.name_hint, op)


def merge_architectures(modules: Mapping[str, tvm.IRModule]) -> tuple[tvm.IRModule, dict[str, str]]:
    """One module holding several lowered architectures, each distinct kernel once.

    Architectures of one supernet share most kernels: compiled apart, each compiles (and LLVM
    generates code for) every kernel again. Merged, a kernel that several architectures call is
    compiled once, and each architecture's ``main`` becomes an entry of its own.

    Parameters
    ----------
    modules : Mapping[str, tvm.IRModule]
        By name, modules from :func:`~tvm_nacos.tuning.tasks.lower_for_tuning` (scheduled or
        not): one Relax function each, and its kernels.

    Returns
    -------
    (tvm.IRModule, dict[str, str])
        The merged module, and each name's entry function in it.
    """
    builder = relax.BlockBuilder()
    entries: dict[str, str] = {}
    for index, (name, mod) in enumerate(modules.items()):
        kernels = {}
        for gv, func in mod.functions.items():
            if isinstance(func, tirx.PrimFunc):
                # Without its name, a kernel equal to one added already is that one (the builder dedups).
                bare = func.without_attr("global_symbol") if func.attrs is not None and "global_symbol" in func.attrs else func
                kernels[gv.name_hint] = builder.add_func(bare, "kernel")
        mains = [func for func in mod.functions.values() if isinstance(func, relax.Function)]
        if len(mains) != 1:
            raise ValueError(f"architecture {name!r}: expected one Relax function, found {len(mains)}")
        entries[name] = f"main_{index}"
        builder.add_func(_KernelRenamer(kernels).visit_expr(mains[0]).with_attr("global_symbol", entries[name]),
                         entries[name])
    merged = builder.get()
    functions = {gv: func.with_attr("global_symbol", gv.name_hint) if isinstance(func, tirx.PrimFunc) else func
                 for gv, func in merged.functions.items()}
    return tvm.IRModule(functions), entries


def compile_architectures(
    modules: Mapping[str, tvm.IRModule],
    target: tvm.target.Target,
    *,
    database: Any = None,
    anchor_database: Any = None,
) -> tuple[Any, dict[str, str]]:
    """Build several lowered architectures into one executable (:func:`merge_architectures`),
    each with the best schedules of ``database`` as :func:`compile_architecture` gives them.

    Returns
    -------
    (tvm.runtime.Executable, dict[str, str])
        The executable, and each name's entry function in it (it takes that architecture's inputs).
    """
    start = time.perf_counter()
    if database is not None:
        modules = {name: apply_tuned_schedules(mod, database, target, anchor_database) for name, mod in modules.items()}
    merged, entries = merge_architectures(modules)
    executable = tvm.compile(merged, target=target)
    num_kernels = sum(1 for f in merged.functions.values() if isinstance(f, tirx.PrimFunc))
    logger.debug("compiled %d architectures together: %d distinct kernels, %.2f s", len(entries), num_kernels,
                 time.perf_counter() - start)
    return executable, entries


def random_inputs(func: relax.Function, device: Any, seed: int = 0) -> list[Any]:
    """Standard-normal tensors for every parameter of ``func`` (the network's inputs).

    Integer and boolean inputs (token ids, masks) are zeros: a valid index of every non-empty
    axis, where a random value could fall outside an embedding table.
    """
    rng = np.random.default_rng(seed)
    inputs = []
    for param in func.params:
        shape = [int(d) for d in param.ty.shape.values]
        dtype = str(param.ty.dtype)
        if dtype.startswith(("int", "uint", "bool")):
            data = np.zeros(shape, dtype=dtype)
        else:
            data = rng.standard_normal(shape).astype(dtype)
        inputs.append(tvm.runtime.tensor(data, device))
    return inputs


def time_executable(
    executable: Any,
    target: tvm.target.Target,
    inputs: Sequence[Any],
    *,
    func_name: str = "main",
    number: int = 10,
    repeat: int = 10,
    min_repeat_ms: int = 50,
) -> Latency:
    """Time whole inferences of a compiled Relax executable on the local device of ``target``.

    ``repeat`` samples in a row, each the mean of ``number`` calls (at least ``min_repeat_ms``
    long): :func:`time_interleaved` of one network in one round.
    """
    (latency,) = time_interleaved(
        {"network": (executable, inputs)}, target, rounds=1, repeat=repeat, number=number,
        min_repeat_ms=min_repeat_ms, func_name=func_name,
    ).values()
    return latency


def time_interleaved(
    networks: Mapping[str, tuple[Any, ...]],
    target: tvm.target.Target,
    *,
    rounds: int = 5,
    repeat: int = 2,
    number: int = 10,
    min_repeat_ms: int = 50,
    func_name: str = "main",
    endpoint: Any = None,
) -> dict[str, Latency]:
    """Time several compiled networks in turns, so that load on a shared machine spreads over all.

    Each of ``rounds`` rounds takes ``repeat`` samples of every network (each sample the mean
    of ``number`` calls, at least ``min_repeat_ms`` long), in an order that alternates between
    rounds. A burst of load from another process then raises a sample of several networks
    rather than every sample of one, and the medians of a front compare with each other.

    Parameters
    ----------
    networks : Mapping[str, (executable, inputs) or (executable, inputs, function)]
        Compiled Relax executables and the inputs of ``func_name`` (or of ``function``: several
        networks may be entries of one executable, :func:`compile_architectures`), by name.
    target : tvm.target.Target
        Timed on its local device, or on a device behind ``endpoint``.
    endpoint : RPCEndpoint, optional
        A device key at an RPC tracker (:class:`~tvm_nacos.tuning.runner.RPCEndpoint`): the
        networks are exported, uploaded to one device of the key and timed there, their inputs
        copied to it.

    Returns
    -------
    dict[str, Latency]
        By name: the median of ``rounds × repeat`` samples, and the samples.
    """
    if rounds < 1 or repeat < 1:
        raise ValueError(f"time_interleaved needs rounds >= 1 and repeat >= 1, got {rounds} and {repeat}")
    with tempfile.TemporaryDirectory(prefix="nacos-e2e-") as folder:
        functions = {name: network[2] if len(network) > 2 else func_name for name, network in networks.items()}
        if endpoint is None:
            device = device_for(target)
            loaded = {name: (network[0], list(network[1])) for name, network in networks.items()}
        else:
            device, loaded = _upload(networks, target, endpoint, folder)
        timers, machines = {}, {}
        for name, (executable, _) in loaded.items():
            if id(executable) not in machines:  # one virtual machine per executable
                machines[id(executable)] = relax.VirtualMachine(executable, device)
            timers[name] = machines[id(executable)].time_evaluator(
                functions[name], device, number=number, repeat=repeat, min_repeat_ms=min_repeat_ms
            )
        names = list(networks)
        samples: dict[str, list[float]] = {name: [] for name in names}
        for round_index in range(rounds):
            for name in names if round_index % 2 == 0 else reversed(names):
                samples[name].extend(float(s) * 1e3 for s in timers[name](*loaded[name][1]).results)
    return {name: Latency(float(np.median(values)), tuple(values)) for name, values in samples.items()}


def _upload(
    networks: Mapping[str, tuple[Any, ...]], target: tvm.target.Target, endpoint: Any, folder: str
) -> tuple[Any, dict[str, tuple[Any, list[Any]]]]:
    """Export ``networks``, upload them to one device under ``endpoint``'s key, copy their inputs there."""
    from tvm import rpc

    tracker = rpc.connect_tracker(endpoint.host, endpoint.port)
    remote = tracker.request(endpoint.key, priority=1, session_timeout=600)
    device = remote.device(device_for(target).dlpack_device_type(), 0)
    loaded, modules = {}, {}
    for name, network in networks.items():
        executable, inputs = network[0], network[1]
        if id(executable) not in modules:  # an executable several networks share goes up once
            path = os.path.join(folder, f"network{len(modules)}.so")
            executable.export_library(path)
            remote.upload(path)
            modules[id(executable)] = remote.load_module(os.path.basename(path))
        loaded[name] = (modules[id(executable)], [tvm.runtime.tensor(x.numpy(), device) for x in inputs])
    return device, loaded
