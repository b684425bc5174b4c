"""The trials a search may spend, those it spent, and on what."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tvm_nacos.errors import SearchConfigError

__all__ = ["TrialBudget", "check_budget"]


def check_budget(budget: Any) -> int:
    """``budget`` if it is a positive number of trials, else :class:`~tvm_nacos.errors.SearchConfigError`."""
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise SearchConfigError(f"budget must be a positive number of trials, got {budget!r}")
    return budget


@dataclass
class TrialBudget:
    """Measurement trials: allowed, spent, failed (by reason), and when each batch was spent.

    Attributes
    ----------
    total : int
        Trials the search may spend.
    used : int
        Trials spent, earlier runs of a resumed search included.
    failed : int
        Spent trials whose candidate failed to build or run.
    failure_reasons : dict
        Failed trials of this session by reason (the text before the first colon).
    history : list of dict
        ``{"trial", "task", "secs"}`` after every batch.
    """

    total: int
    used: int = 0
    failed: int = 0
    failure_reasons: dict[str, int] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    used_at_start: int = 0

    def __post_init__(self) -> None:
        check_budget(self.total)

    @property
    def left(self) -> int:
        """Trials not yet spent."""
        return max(0, self.total - self.used)

    def spend(self, trials: int, task: str) -> None:
        """Count a batch of ``trials`` of kernel ``task``."""
        self.used += trials
        self.history.append({"trial": self.used, "task": task, "secs": round(self.elapsed_secs, 2)})

    def fail(self, reason: str) -> str:
        """Count a failed trial; returns the reason's kind (its text before the first colon)."""
        kind = reason.split(":")[0][:80] if ":" in reason else reason[:80]
        self.failed += 1
        self.failure_reasons[kind] = self.failure_reasons.get(kind, 0) + 1
        return kind

    def resume_from(self, used: int, failed: int, history: list[dict[str, Any]]) -> None:
        """Continue a saved run: its spent and failed trials count, the rate is measured anew."""
        self.used, self.failed, self.history = used, failed, list(history)
        self.used_at_start = used

    @property
    def elapsed_secs(self) -> float:
        """Wall time since this session started."""
        return time.perf_counter() - self.started

    def eta_secs(self) -> float | None:
        """Time left at this session's rate so far; ``None`` before its first batch."""
        done = self.used - self.used_at_start
        return self.elapsed_secs / done * self.left if done > 0 else None
