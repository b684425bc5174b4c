"""Where a search's wall time goes: schedule search, build, run, cost model, end-to-end timing.

Measurement speed decides how much of the space a search can afford, so every search records
the wall seconds of each phase of its loop (:class:`PhaseTimes`) and reports them with its
result (``SearchResult.time_breakdown``, ``pareto.json``, ``report.md``). The builder's share of
the wall time, for one, says whether building or something else limits the search.

The phases are the host's: what the search's own thread was doing or waiting for, summing to
the wall time. A build can run while the host proposes the next batch, so the time spent
*measuring* is reported apart (:data:`MEASURING`): the wall seconds during which a build or a
run of the search's candidates was in progress, whatever the host was doing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

__all__ = ["MEASURING", "PHASES", "PhaseTimes", "describe_breakdown", "union_secs"]

#: The phases timed, in the order they run for one batch, then the final timing of the front
#: (its kernels run again in turns, then whole networks).
PHASES = ("schedule search", "build", "run", "cost model", "end-to-end timing")
#: The rest of the wall time: architecture search, lowering and task extraction, checkpoints.
OTHER = "other"
TOTAL = "total"
#: Wall seconds with a build or a run in progress (overlapping the phases: not part of the sum).
MEASURING = "measuring"


def union_secs(intervals: list[tuple[float, float]]) -> float:
    """The seconds covered by at least one of ``intervals`` (``(start, end)`` pairs)."""
    covered, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end <= reach:
            continue
        covered += end - max(start, reach)
        reach = end
    return covered


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
        #: ``(start, end)`` of every build and run (``time.perf_counter()``): :meth:`busy`.
        self.measuring: list[tuple[float, float]] = []

    def busy(self, start: float, end: float | None) -> None:
        """A build or a run was in progress from ``start`` to ``end`` (``perf_counter`` readings;
        ``end`` ``None``: still going, not counted)."""
        if end is not None and end > start:
            self.measuring.append((start, end))

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
        """Seconds per phase, ``"other"`` (the rest of ``total_secs``) and ``"total"``, rounded to
        ms; and apart, :data:`MEASURING`, the seconds with a build or a run in progress."""
        timed = sum(self.seconds.values())
        out = {name: round(secs, 3) for name, secs in self.seconds.items()}
        out[OTHER] = round(max(0.0, total_secs - timed), 3)
        out[TOTAL] = round(max(total_secs, timed), 3)
        out[MEASURING] = round(min(union_secs(self.measuring), out[TOTAL]), 3)
        return out


def describe_breakdown(breakdown: Mapping[str, float]) -> str:
    """One line: each phase's share of the total, largest first, then the share with a build or
    run in progress, e.g. ``"run 41 % (12.0 s), ...; a build or run in progress 63 % (18.9 s)"``."""
    total = float(breakdown.get(TOTAL, 0.0))
    if total <= 0:
        return "no time recorded"
    parts = sorted(((name, float(secs)) for name, secs in breakdown.items() if name not in (TOTAL, MEASURING) and secs > 0),
                   key=lambda item: -item[1])
    line = ", ".join(f"{name} {100 * secs / total:.0f} % ({secs:.1f} s)" for name, secs in parts)
    if breakdown.get(MEASURING):
        secs = float(breakdown[MEASURING])
        line += f"; a build or run in progress {100 * secs / total:.0f} % ({secs:.1f} s)"
    return line
