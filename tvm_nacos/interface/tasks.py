"""``tvm-nacos tasks``: the fused kernels (MetaSchedule tuning tasks) of one architecture, and
how many other architectures share each."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tvm_nacos.interface.spaces import resolve_space
from tvm_nacos.search_space import ArchSample

__all__ = ["TaskRow", "TaskSummary", "architecture_tasks"]


@dataclass(frozen=True)
class TaskRow:
    """One fused kernel of an architecture.

    Attributes
    ----------
    key : str
        The task's key in the pool (structural hash).
    name : str
    calls : int
        Calls per inference.
    mflop : float
        Millions of floating-point operations of one call.
    shared_with : int
        How many of the other architectures call the same kernel.
    """

    key: str
    name: str
    calls: int
    mflop: float
    shared_with: int


@dataclass(frozen=True)
class TaskSummary:
    """The tasks of one architecture and what it shares with others.

    Attributes
    ----------
    sample : ArchSample
    rows : list of TaskRow
        Its kernels, most FLOPs (calls × FLOPs) first.
    num_others : int
        Other architectures compared with.
    num_tasks : int
        Unique kernels of all the architectures together.
    sharing_ratio : float
        Kernel occurrences over unique kernels, all architectures together (1.0: nothing shared).
    lower_secs : float
        Time to lower and extract every architecture.
    """

    sample: ArchSample
    rows: list[TaskRow]
    num_others: int
    num_tasks: int
    sharing_ratio: float
    lower_secs: float


def architecture_tasks(
    space: str | None = None,
    *,
    model: str | os.PathLike[str] | None = None,
    sample: ArchSample | Mapping[str, str] | None = None,
    others: int = 8,
    target: Any = None,
    seed: int = 0,
    space_options: Mapping[str, Any] | None = None,
) -> TaskSummary:
    """The fused kernels (tuning tasks) of one architecture, and how many others share each.

    Parameters
    ----------
    space : str, optional
        A built-in space (:data:`~tvm_nacos.interface.spaces.DEFAULT_SPACE` if neither it nor
        ``model`` is given).
    model : path, optional
        A module with choice points saved with ``tvm.ir.save_json``.
    sample : ArchSample or Mapping, optional
        The architecture; a random one (from ``seed``) by default.
    others : int
        Random other architectures to compare with (fewer if the space is smaller).
    target : Target, dict or JSON str, optional
        The host CPU by default.
    seed : int
    space_options : Mapping, optional
        Options of the built-in space (``{"resolution": 32}``...).

    Returns
    -------
    TaskSummary
    """
    import numpy as np

    from tvm_nacos.analysis import search_space
    from tvm_nacos.target import as_target
    from tvm_nacos.tuning.tasks import TaskPool
    from tvm_nacos.workdir import load_model_file

    if isinstance(others, bool) or not isinstance(others, int) or others < 0:
        raise ValueError(f"others must be a number of architectures >= 0, got {others!r}")
    builtin = resolve_space(space, model, space_options)
    if builtin is not None:
        if sample is not None:
            builtin.space.canonicalize(sample)  # a bad sample fails before the import
        mod = builtin.ir_module()
    else:
        mod = load_model_file(model)
    arch_space = search_space(mod)
    rng = np.random.default_rng(seed)
    chosen = arch_space.canonicalize(sample) if sample is not None else arch_space.sample(rng)
    wanted = min(others, arch_space.size - 1)
    other_samples: dict[str, ArchSample] = {}
    for _ in range(50 * wanted):  # bounded: a small space may repeat samples often
        if len(other_samples) >= wanted:
            break
        candidate = arch_space.sample(rng)
        if candidate.id != chosen.id:
            other_samples.setdefault(candidate.id, candidate)

    start = time.perf_counter()
    pool = TaskPool(as_target(target))
    arch = pool.add_architecture(mod, chosen)
    for other in other_samples.values():
        pool.add_architecture(mod, other)
    rows = [
        TaskRow(
            key=key,
            name=pool[key].name,
            calls=calls,
            mflop=pool[key].flop / 1e6,
            shared_with=sum(1 for arch_id in pool[key].architectures if arch_id != chosen.id),
        )
        for key, calls in arch.weights.items()
    ]
    rows.sort(key=lambda r: -r.calls * r.mflop)
    return TaskSummary(
        sample=chosen,
        rows=rows,
        num_others=len(other_samples),
        num_tasks=len(pool),
        sharing_ratio=pool.sharing_ratio(),
        lower_secs=time.perf_counter() - start,
    )
