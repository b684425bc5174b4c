"""Progress of a running search, reported after every measured batch.

:func:`tvm_nacos.search` takes ``progress=callback``; the callback receives a
:class:`SearchProgress` after each batch. The library itself stays quiet (it only logs at
``DEBUG``); the command line prints these events.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FrontPoint:
    """One architecture of the current front (all its kernels measured).

    Attributes
    ----------
    arch_id : str
    accuracy : float
    latency_ms : float
        Σ weight × best measured kernel latency (the end-to-end measurement comes at the end).
    """

    arch_id: str
    accuracy: float
    latency_ms: float


@dataclass(frozen=True)
class EstimatedPoint:
    """One architecture of the estimated front: what the search currently expects of it.

    Attributes
    ----------
    arch_id : str
    accuracy : float
    latency_ms : float
        Σ weight × expected best kernel latency: measured kernels at their best, the others
        as the search predicts them (an anchor sibling, the cost model or the FLOP prior).
    missing_kernels : int
        Its kernels not measured yet (0: the point is also on the measured front's footing).
    """

    arch_id: str
    accuracy: float
    latency_ms: float
    missing_kernels: int


@dataclass(frozen=True)
class SearchProgress:
    """Where a search stands.

    Attributes
    ----------
    strategy : str
    trials_used, budget : int
        Measurement trials spent and allowed.
    failed_trials : int
        Candidates whose build or run failed.
    elapsed_secs : float
        Wall time since the search (or its resumption) started.
    eta_secs : float or None
        Time left at the rate so far; ``None`` before the first batch.
    num_architectures : int
        Architectures the search has looked at.
    num_measured_architectures : int
        Those whose kernels are all measured.
    num_tasks : int
        Distinct kernels in the task pool.
    last_task : str
        The kernel measured last.
    front : tuple of FrontPoint
        Non-dominated measured architectures, fastest first: the best latency per accuracy band.
    estimated_front : tuple of EstimatedPoint
        Non-dominated architectures by the search's current estimates, fastest first, among
        those it has estimated: where the search is heading, from its first rounds on (the
        measured front stays empty until some architecture has every kernel measured).
    trials_in_flight : int
        Trials of ``trials_used`` still running on devices (measurement in flight on several
        devices; 0 on one).
    target : str
        The target's name in a search over several targets (``""`` for one).
    """

    strategy: str
    trials_used: int
    budget: int
    failed_trials: int
    elapsed_secs: float
    eta_secs: float | None
    num_architectures: int
    num_measured_architectures: int
    num_tasks: int
    last_task: str
    front: tuple[FrontPoint, ...] = field(default_factory=tuple)
    estimated_front: tuple[EstimatedPoint, ...] = field(default_factory=tuple)
    trials_in_flight: int = 0
    target: str = ""
