"""The trials a search may spend, those it spent, and on what."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tvm_nacos.errors import SearchConfigError

__all__ = ["TrialBudget", "check_budget", "check_time_budget"]


def check_budget(budget: Any) -> int:
    """``budget`` if it is a positive number of trials, else :class:`~tvm_nacos.errors.SearchConfigError`."""
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise SearchConfigError(f"budget must be a positive number of trials, got {budget!r}")
    return budget


def check_time_budget(secs: Any) -> float | None:
    """``secs`` as a float if it is ``None`` or a positive number of seconds, else
    :class:`~tvm_nacos.errors.SearchConfigError`."""
    if secs is None:
        return None
    if isinstance(secs, bool) or not isinstance(secs, (int, float)) or not secs > 0 or secs == float("inf"):
        raise SearchConfigError(f"time_budget_s must be a positive, finite number of seconds, got {secs!r}")
    return float(secs)


@dataclass
class TrialBudget:
    """Measurement trials: allowed, spent, failed (by reason), and when each batch was spent.

    With a time budget (``max_secs``) the trials :attr:`left` are also those the search can
    afford in the seconds it has left, at the rate it has measured so far. Strategies that keep
    trials for finishing their front plan with :attr:`left` and :attr:`planned_total`, so they
    finish in time as they finish within a trial budget.

    Attributes
    ----------
    total : int
        Trials the search may spend.
    max_secs : float or None
        Search seconds the measurement may take (earlier runs of a resumed search included);
        ``None``: only the trials count.
    used : int
        Trials spent, earlier runs of a resumed search included.
    failed : int
        Spent trials whose candidate failed to build or run.
    failure_reasons : dict
        Failed trials of this session by reason (the text before the first colon).
    history : list of dict
        ``{"trial", "task", "secs"}`` after every batch (``secs``: :attr:`search_secs`).
    secs_before : float
        Search seconds of the earlier runs of a resumed search.
    """

    total: int
    max_secs: float | None = None
    used: int = 0
    failed: int = 0
    failure_reasons: dict[str, int] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    used_at_start: int = 0
    secs_before: float = 0.0

    def __post_init__(self) -> None:
        check_budget(self.total)
        self.max_secs = check_time_budget(self.max_secs)

    @property
    def left(self) -> int:
        """Trials not yet spent; with a time budget, at most those the time left affords."""
        left = max(0, self.total - self.used)
        if self.max_secs is None:
            return left
        secs_left = self.max_secs - self.search_secs
        if secs_left <= 0:
            return 0
        rate = self.trials_per_sec()
        return left if rate is None else min(left, int(secs_left * rate))

    @property
    def planned_total(self) -> int:
        """Trials the search expects to spend in all: :attr:`total`, or fewer when time is short."""
        return self.used + self.left

    @property
    def out_of_time(self) -> bool:
        """Whether the time budget is spent."""
        return self.max_secs is not None and self.search_secs >= self.max_secs

    def trials_per_sec(self) -> float | None:
        """This session's measurement rate so far (setup included); ``None`` before its first batch."""
        done = self.used - self.used_at_start
        elapsed = self.elapsed_secs
        return done / elapsed if done > 0 and elapsed > 0 else None

    def spend(self, trials: int, task: str) -> None:
        """Count a batch of ``trials`` of kernel ``task``."""
        self.used += trials
        self.history.append({"trial": self.used, "task": task, "secs": round(self.search_secs, 2)})

    def fail(self, reason: str) -> str:
        """Count a failed trial; returns the reason's kind (its text before the first colon)."""
        kind = reason.split(":")[0][:80] if ":" in reason else reason[:80]
        self.failed += 1
        self.failure_reasons[kind] = self.failure_reasons.get(kind, 0) + 1
        return kind

    def resume_from(self, used: int, failed: int, history: list[dict[str, Any]], secs: float = 0.0) -> None:
        """Continue a saved run: its spent and failed trials and its ``secs`` of search count,
        the rate is measured anew."""
        self.used, self.failed, self.history = used, failed, list(history)
        self.used_at_start = used
        self.secs_before = float(secs)

    @property
    def elapsed_secs(self) -> float:
        """Wall time since this session started."""
        return time.perf_counter() - self.started

    @property
    def search_secs(self) -> float:
        """Wall time of the search: this session's and the earlier runs' of a resumed search."""
        return self.secs_before + self.elapsed_secs

    def eta_secs(self) -> float | None:
        """Time left at this session's rate so far; ``None`` before its first batch."""
        rate = self.trials_per_sec()
        return self.left / rate if rate is not None else None
