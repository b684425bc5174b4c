"""The ``two-stage`` baseline: hardware-aware NAS as practitioners run it.

Rank candidates by a latency the compiler did not tune (MACs, untuned TVM latency, or PyTorch
eager latency; :data:`~tvm_nacos.cosearch.latency_proxies.TWO_STAGE_PROXIES`), keep the
accuracy–proxy front in order of non-dominated rank, then tune those architectures one after
the other with the budget.
"""

from __future__ import annotations

from tvm_nacos.cosearch.latency_proxies import TWO_STAGE_PROXIES
from tvm_nacos.cosearch.session import SearchSession
from tvm_nacos.cosearch.strategies.common import (
    DEFAULT_TRIALS_PER_TASK,
    fully_measured,
    rank_by_proxy,
    unique_samples,
)
from tvm_nacos.search_space import ArchSample

__all__ = ["run_two_stage"]


def run_two_stage(
    session: SearchSession,
    *,
    proxy: str = "macs",
    num_candidates: int = 200,
    trials_per_task: int = DEFAULT_TRIALS_PER_TASK,
) -> list[ArchSample]:
    """Rank by an untuned latency proxy, then tune the proxy's front in order of rank."""
    if proxy not in TWO_STAGE_PROXIES:
        raise ValueError(f"unknown two-stage proxy {proxy!r}; valid: {sorted(TWO_STAGE_PROXIES)}")
    # ``session.state["order"]``: the ranked plan (restored on resume, not ranked again).
    if "order" not in session.state:
        ranked = rank_by_proxy(session, unique_samples(session, num_candidates), proxy)
        session.state["order"] = [s.to_dict() for s in ranked]
    for data in session.state["order"]:
        if session.trials_left <= 0:
            break
        session.tune_architecture_tasks(ArchSample.from_dict(data), trials_per_task)
    return fully_measured(session)
