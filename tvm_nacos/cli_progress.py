"""Live progress of ``tvm-nacos search`` on stderr, from the search's progress events.

The library never prints: :func:`tvm_nacos.search` hands a
:class:`~tvm_nacos.cosearch.progress.SearchProgress` to its ``progress`` callback after every
measured batch, and the command line passes a :class:`ProgressPrinter`. On a terminal the line
is rewritten in place; otherwise (a log file, CI) it prints one line per event, at most one
every ``min_interval_secs``, and the last one on :meth:`ProgressPrinter.close`.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any, TextIO

__all__ = ["ProgressPrinter", "format_duration", "format_progress"]


def format_duration(secs: float | None) -> str:
    """``m:ss`` (or ``h:mm:ss``); ``?`` for an unknown duration."""
    if secs is None:
        return "?"
    secs = int(round(max(secs, 0.0)))
    hours, rest = divmod(secs, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _spread(points: tuple[Any, ...], count: int) -> list[Any]:
    """At most ``count`` points: the first, the last, and evenly spaced ones between."""
    if len(points) <= count:
        return list(points)
    step = (len(points) - 1) / max(1, count - 1)
    return [points[i] for i in sorted({round(i * step) for i in range(count)})]


def format_progress(event: Any, *, max_front: int = 4) -> str:
    """One line: trials, failures, architectures, the front (best latency per accuracy), time.

    Parameters
    ----------
    event : SearchProgress
        A progress event of :func:`tvm_nacos.search`.
    max_front : int
        Front points to show (spread from the fastest to the most accurate).
    """
    parts = [
        f"trials {event.trials_used}/{event.budget}",
        f"{event.failed_trials} failed",
        f"{event.num_measured_architectures}/{event.num_architectures} archs measured, {event.num_tasks} kernels",
    ]
    if event.front:
        shown = ", ".join(f"{p.accuracy:.4g}: {p.latency_ms:.3g} ms" for p in _spread(event.front, max_front))
        parts.append(f"front (accuracy: latency) {shown}")
    parts.append(f"{format_duration(event.elapsed_secs)} elapsed, {format_duration(event.eta_secs)} left")
    return " | ".join(parts)


class ProgressPrinter:
    """A ``progress`` callback that prints :func:`format_progress` lines to a stream.

    Parameters
    ----------
    stream : file, optional
        ``sys.stderr`` by default.
    min_interval_secs : float, optional
        Off a terminal, skip events that come sooner than this after the last printed one
        (the event that spends the budget, and the last one, at :meth:`close`, are always
        printed). Default: 0 on a terminal, 5 otherwise.
    """

    def __init__(self, stream: TextIO | None = None, *, min_interval_secs: float | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty())
        self.min_interval_secs = (0.0 if self.tty else 5.0) if min_interval_secs is None else min_interval_secs
        self._last_print: float | None = None
        self._skipped: Any = None
        self._open_line = False
        self.events = 0

    def __call__(self, event: Any) -> None:
        self.events += 1
        now = time.monotonic()
        last = event.trials_used >= event.budget
        if not last and self._last_print is not None and now - self._last_print < self.min_interval_secs:
            self._skipped = event
            return
        self._last_print = now
        self._skipped = None
        self._write(format_progress(event))

    def _write(self, line: str) -> None:
        if self.tty:
            width = shutil.get_terminal_size((120, 20)).columns
            self.stream.write("\r" + line[: max(width - 1, 20)] + "\x1b[K")
            self._open_line = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Print the last event if it was skipped; end the line being rewritten (on a terminal)."""
        if self._skipped is not None:
            self._write(format_progress(self._skipped))
            self._skipped = None
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False
