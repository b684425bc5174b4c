"""The ``random`` baseline: random architectures, each tuned in full, until the budget is spent."""

from __future__ import annotations

from tvm_nacos.cosearch.session import SearchSession
from tvm_nacos.cosearch.strategies.common import DEFAULT_TRIALS_PER_TASK, fully_measured
from tvm_nacos.search_space import ArchSample

__all__ = ["run_random"]


def run_random(session: SearchSession, *, trials_per_task: int = DEFAULT_TRIALS_PER_TASK) -> list[ArchSample]:
    """Tune random architectures in full until the budget is spent."""
    # ``session.state["seen"]``: the architectures drawn so far, in order (restored on resume,
    # when the last of them may be half tuned).
    drawn = session.state.setdefault("seen", [])
    seen = {ArchSample.from_dict(d).id for d in drawn}
    for data in list(drawn):
        if session.trials_left <= 0:
            break
        session.tune_architecture_tasks(ArchSample.from_dict(data), trials_per_task)
    stalled = 0
    while session.trials_left > 0 and len(seen) < session.space.size and stalled < 100:
        sample = session.space.sample(session.rng)
        if sample.id in seen:
            stalled += 1
            continue
        seen.add(sample.id)
        drawn.append(sample.to_dict())
        session.tune_architecture_tasks(sample, trials_per_task)
    return fully_measured(session)
