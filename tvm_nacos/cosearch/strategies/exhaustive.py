"""The ``exhaustive`` reference: every architecture of a small space, in enumeration order."""

from __future__ import annotations

from tvm_nacos.cosearch.session import SearchSession
from tvm_nacos.cosearch.strategies.common import DEFAULT_TRIALS_PER_TASK, fully_measured
from tvm_nacos.search_space import ArchSample

__all__ = ["run_exhaustive"]


def run_exhaustive(session: SearchSession, *, trials_per_task: int = DEFAULT_TRIALS_PER_TASK) -> list[ArchSample]:
    """Tune every architecture of the space, in enumeration order, as far as the budget goes."""
    for sample in session.space.enumerate():
        if session.trials_left <= 0:
            break
        session.tune_architecture_tasks(sample, trials_per_task)
    return fully_measured(session)
