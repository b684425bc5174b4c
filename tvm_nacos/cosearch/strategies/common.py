"""What the architecture strategies share: drawing, ranking and the architectures they return."""

from __future__ import annotations

from tvm_nacos.cosearch.latency_proxies import TWO_STAGE_PROXIES
from tvm_nacos.cosearch.objectives import pareto_indices
from tvm_nacos.cosearch.session import SearchSession
from tvm_nacos.search_space import ArchSample

__all__ = ["DEFAULT_TRIALS_PER_TASK", "fully_measured", "rank_by_proxy", "unique_samples"]

#: Trials per kernel when a baseline tunes an architecture in full.
DEFAULT_TRIALS_PER_TASK = 16


def fully_measured(session: SearchSession) -> list[ArchSample]:
    """The architectures of the session's pool whose kernels all have a measurement (after
    every batch in flight has landed)."""
    session.wait_all()
    return [
        arch.sample
        for arch in session.pool.architectures.values()
        if all(key in session.tuners and session.tuners[key].best_secs is not None for key in arch.weights)
    ]


def unique_samples(session: SearchSession, count: int) -> list[ArchSample]:
    """``count`` distinct random architectures (the whole space when it is not larger)."""
    if session.space.size <= count:
        return list(session.space.enumerate())
    seen: dict[str, ArchSample] = {}
    for _ in range(20 * count):  # bounded: the space is larger than count
        sample = session.space.sample(session.rng)
        seen.setdefault(sample.id, sample)
        if len(seen) == count:
            break
    return list(seen.values())


def rank_by_proxy(session: SearchSession, candidates: list[ArchSample], proxy: str) -> list[ArchSample]:
    """``candidates`` in order of non-dominated rank on (accuracy, ``proxy``), the best first."""
    accuracy = session.accuracy(candidates)
    values = TWO_STAGE_PROXIES[proxy](session, candidates)
    remaining = list(range(len(candidates)))
    order: list[int] = []
    while remaining:  # peel off non-dominated fronts of (accuracy, proxy)
        front = pareto_indices([accuracy[i] for i in remaining], [values[i] for i in remaining])
        order.extend(remaining[i] for i in front)
        front_set = {remaining[i] for i in front}
        remaining = [i for i in remaining if i not in front_set]
    return [candidates[i] for i in order]
