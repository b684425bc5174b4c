"""Where a search's wall time goes: schedule search, build, run, cost model, end-to-end timing.

Measurement speed decides how much of the space a search can afford, so every search records
the wall seconds of each phase of its loop (:class:`PhaseTimes`) and reports them with its
result (``SearchResult.time_breakdown``, ``pareto.json``, ``report.md``). The builder's share of
the wall time, for one, says whether building or something else limits the search.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

__all__ = ["PHASES", "PhaseTimes", "describe_breakdown"]

#: The phases timed, in the order they run for one batch, then the final timing of the front.
PHASES = ("schedule search", "build", "run", "cost model", "end-to-end timing")
#: The rest of the wall time: architecture search, lowering and task extraction, checkpoints.
OTHER = "other"
TOTAL = "total"


class PhaseTimes:
    """Wall seconds spent in each of :data:`PHASES`.

    Examples
    --------
    .. code-block:: python

        times = PhaseTimes()
        with times.phase("build"):
            builder.build(inputs)
        times.breakdown(total_secs=time.perf_counter() - start)
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(PHASES, 0.0)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the wall time of the ``with`` block to phase ``name``."""
        if name not in self.seconds:
            raise ValueError(f"unknown phase {name!r}; valid: {list(PHASES)}")
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def breakdown(self, total_secs: float) -> dict[str, float]:
        """Seconds per phase, ``"other"`` (the rest of ``total_secs``) and ``"total"``, rounded to ms."""
        timed = sum(self.seconds.values())
        out = {name: round(secs, 3) for name, secs in self.seconds.items()}
        out[OTHER] = round(max(0.0, total_secs - timed), 3)
        out[TOTAL] = round(max(total_secs, timed), 3)
        return out


def describe_breakdown(breakdown: Mapping[str, float]) -> str:
    """One line: each phase's share of the total, largest first, e.g. ``"run 41 % (12.0 s), ..."``."""
    total = float(breakdown.get(TOTAL, 0.0))
    if total <= 0:
        return "no time recorded"
    parts = sorted(((name, float(secs)) for name, secs in breakdown.items() if name != TOTAL and secs > 0),
                   key=lambda item: -item[1])
    return ", ".join(f"{name} {100 * secs / total:.0f} % ({secs:.1f} s)" for name, secs in parts)
