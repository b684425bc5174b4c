"""What a whole network's latency is, given its kernels' latencies: a model fitted on end-to-end timings.

The search ranks architectures by the sum of their kernels' tuned latencies (Σ calls × best
kernel latency). A compiled network takes another time: every kernel call costs the virtual
machine a dispatch; a kernel timed alone, again and again, runs on warm caches with its
weights at hand, where in the network the weights of every layer pass through the caches in
turn. The gap is alike across a space's architectures, so it can be learnt from the networks
the search times end to end:

    end-to-end ≈ scale × Σ kernels [+ per_call × calls] [+ per_gflop × GFLOP] [+ per_mb × MB]

fitted by least squares on the relative error (each timing counts by its ratio, so the large
networks do not decide alone), ``scale`` within [:data:`MIN_SCALE`, :data:`MAX_SCALE`] and the
other terms ≥ 0. Which terms beside the kernel sum (:data:`CANDIDATE_TERMS`) is chosen by
leave-one-out error over the timings: on nas-bench-201 on a 2-core Intel host the networks with
more FLOPs ran further above their kernel sums (+6 % at 16 MFLOP, +19 % at 166), and the
per-call cost alone did not explain it. With fewer than :data:`MIN_FIT` timings only the scale
is fitted (the median ratio); without any, the estimate is the kernel sum. An architecture timed
itself keeps its own residual: its estimate is its timing, moved by what its kernels gained since.

:class:`EndToEndModel` keeps the timings (one per architecture, the latest), refits when one
arrives, and saves them as JSON lines in the work directory, so that a resumed or later search
on the same work directory starts from what earlier ones measured.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["CANDIDATE_TERMS", "EndToEndModel", "EndToEndTiming", "ModelAccuracy", "NetworkProfile"]

#: Timings needed to fit any term beside the scale.
MIN_FIT = 4
#: The fitted scale stays in this range: a guard against fits from few or disturbed timings, not
#: a belief about networks. A network may run well below its kernel sum: the ViT space's fronts
#: ran at 0.65-0.93x theirs on the AMD host (small kernels, each timed alone with a per-call cost
#: the network does not pay); at a floor of 0.8 the model could not follow them (4ec7786: median
#: leave-one-out error on the front 12.7 % at 0.8, 11.6 % at 0.5; over the benchmark's 30
#: timings 7.3 % against 3.8 %, scale 0.55 plus 5.5 us a call).
MIN_SCALE, MAX_SCALE = 0.5, 2.0
#: The terms a model may add to the scaled kernel sum; the one with the lowest leave-one-out
#: error is used (a model with k terms needs k + :data:`MIN_FIT` - 1 timings).
CANDIDATE_TERMS: tuple[tuple[str, ...], ...] = ((), ("calls",), ("gflop",), ("megabytes",), ("calls", "gflop"))


@dataclass(frozen=True)
class NetworkProfile:
    """What the model knows of a network before timing it.

    Attributes
    ----------
    kernel_sum_ms : float
        Σ calls × best kernel latency.
    calls : int
        Kernel calls of one inference.
    gflop : float
        Floating-point work of one inference, in GFLOP.
    megabytes : float
        Σ calls × bytes of the kernel's arguments (inputs, weights, outputs), in MB.
    """

    kernel_sum_ms: float
    calls: int
    gflop: float = 0.0
    megabytes: float = 0.0


@dataclass(frozen=True)
class EndToEndTiming:
    """One architecture timed end to end, with its :class:`NetworkProfile` at the time.

    Attributes
    ----------
    arch_id : str
    kernel_sum_ms, calls, gflop, megabytes
        Its profile when it was timed.
    measured_ms : float
        Median end-to-end latency.
    spread_ms : float or None
        Half the interquartile range of the samples behind it.
    """

    arch_id: str
    kernel_sum_ms: float
    calls: int
    measured_ms: float
    gflop: float = 0.0
    megabytes: float = 0.0
    spread_ms: float | None = None

    @property
    def profile(self) -> NetworkProfile:
        """The network's profile when it was timed."""
        return NetworkProfile(self.kernel_sum_ms, self.calls, self.gflop, self.megabytes)


@dataclass(frozen=True)
class ModelAccuracy:
    """How far the model's estimates were from timings it had not seen (leave one out).

    Attributes
    ----------
    median_abs_error, max_abs_error : float
        |estimate / timing − 1| over the timings, each estimated by the model fitted (terms
        chosen included) on the others.
    kernel_sum_median_abs_error, kernel_sum_max_abs_error : float
        The same for the plain kernel sum, for comparison.
    num_timings : int
    """

    median_abs_error: float
    max_abs_error: float
    kernel_sum_median_abs_error: float
    kernel_sum_max_abs_error: float
    num_timings: int

    def to_dict(self) -> dict[str, float | int]:
        """JSON-able form, rounded."""
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class _Fit:
    """A fitted model: the scale of the kernel sum and a coefficient per added term."""

    scale: float = 1.0
    terms: tuple[tuple[str, float], ...] = ()

    def __call__(self, profile: NetworkProfile) -> float:
        return self.scale * profile.kernel_sum_ms + sum(c * getattr(profile, name) for name, c in self.terms)


def _fit_terms(timings: Sequence[EndToEndTiming], terms: tuple[str, ...]) -> _Fit | None:
    """Least squares on the relative error with ``terms`` beside the kernel sum; ``None`` when
    the fit leaves the physical range (a scale out of range, a negative term)."""
    measured = np.array([t.measured_ms for t in timings])
    columns = [[t.kernel_sum_ms for t in timings]] + [[float(getattr(t, name)) for t in timings] for name in terms]
    x = np.array(columns, dtype=float).T / measured[:, None]
    coefficients, *_ = np.linalg.lstsq(x, np.ones(len(timings)), rcond=None)
    scale, rest = float(coefficients[0]), [float(c) for c in coefficients[1:]]
    if not MIN_SCALE <= scale <= MAX_SCALE or any(c < 0 for c in rest):
        return None
    return _Fit(scale, tuple(zip(terms, rest, strict=True)))


def _scale_only(timings: Sequence[EndToEndTiming]) -> _Fit:
    ratios = [t.measured_ms / t.kernel_sum_ms for t in timings]
    return _Fit(float(np.clip(np.median(ratios), MIN_SCALE, MAX_SCALE)))


def _loo_error(timings: Sequence[EndToEndTiming], terms: tuple[str, ...]) -> float:
    """Mean leave-one-out |error| of the model with ``terms`` (inf where a fold cannot fit it)."""
    errors = []
    for i, timing in enumerate(timings):
        fit = _fit_terms([t for j, t in enumerate(timings) if j != i], terms)
        if fit is None:
            return float("inf")
        errors.append(abs(fit(timing.profile) / timing.measured_ms - 1))
    return float(np.mean(errors))


def _fit(timings: Sequence[EndToEndTiming]) -> _Fit:
    """The model for ``timings`` (see the module docstring)."""
    if not timings:
        return _Fit()
    if len(timings) < MIN_FIT:
        return _scale_only(timings)
    best, best_error = _scale_only(timings), float("inf")
    for terms in CANDIDATE_TERMS:
        if len(timings) < len(terms) + MIN_FIT:
            continue
        error = _loo_error(timings, terms)
        fit = _fit_terms(timings, terms) if error < best_error else None
        if fit is not None:
            best, best_error = fit, error
    return best


class EndToEndModel:
    """End-to-end latency from kernel latencies, learnt from the timings of whole networks.

    Parameters
    ----------
    path : str, optional
        A JSON-lines file of timings: read now (timings of earlier searches), appended to as
        timings arrive. ``None`` keeps them in memory.

    Examples
    --------
    .. code-block:: python

        model = EndToEndModel()
        model.observe(EndToEndTiming("a", kernel_sum_ms=1.0, calls=40, measured_ms=1.12, gflop=0.05))
        model.estimate_ms(NetworkProfile(0.8, calls=30, gflop=0.04))   # a network not timed
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = None if path is None else os.fspath(path)
        self.timings: dict[str, EndToEndTiming] = {}
        self._fit = _Fit()
        if self.path is not None and os.path.exists(self.path):
            with open(self.path) as f:
                for line in f:
                    if line.strip():
                        timing = EndToEndTiming(**json.loads(line))
                        self.timings[timing.arch_id] = timing
            self._refit()

    def __len__(self) -> int:
        return len(self.timings)

    @property
    def scale(self) -> float:
        """The fitted scale of the kernel sum."""
        return self._fit.scale

    @property
    def terms(self) -> dict[str, float]:
        """The fitted terms beside the kernel sum: ms per call, per GFLOP, per MB."""
        return dict(self._fit.terms)

    def observe(self, timing: EndToEndTiming) -> None:
        """Learn from one end-to-end timing (it replaces an earlier one of the same architecture)."""
        if timing.kernel_sum_ms <= 0 or timing.measured_ms <= 0:
            raise ValueError(f"an end-to-end timing needs positive latencies, got {timing}")
        self.timings[timing.arch_id] = timing
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(json.dumps(asdict(timing)) + "\n")
        self._refit()

    def observe_all(self, timings: Iterable[EndToEndTiming]) -> None:
        """:meth:`observe` each of ``timings``."""
        for timing in timings:
            self.observe(timing)

    def _refit(self) -> None:
        self._fit = _fit(list(self.timings.values()))
        logger.debug("end-to-end model on %d timings: %s", len(self.timings), self.describe())

    def estimate_ms(self, profile: NetworkProfile, arch_id: str | None = None) -> float:
        """Expected end-to-end latency of a network of ``profile``; an architecture timed before
        (``arch_id``) keeps its own residual."""
        base = self._fit(profile)
        timed = self.timings.get(arch_id) if arch_id is not None else None
        if timed is None:
            return base
        return base * timed.measured_ms / self._fit(timed.profile)

    def held_out_accuracy(self, arch_ids: Iterable[str] | None = None) -> ModelAccuracy | None:
        """Leave-one-out errors over the timings of ``arch_ids`` (all by default): each timing
        estimated by the model fitted, terms chosen, on every other timing. ``None`` with fewer
        than two."""
        ids = list(self.timings) if arch_ids is None else [i for i in arch_ids if i in self.timings]
        if len(ids) < 2 or len(self.timings) < 2:
            return None
        errors, kernel_sum_errors = [], []
        for arch_id in ids:
            timing = self.timings[arch_id]
            fit = _fit([t for i, t in self.timings.items() if i != arch_id])
            errors.append(abs(fit(timing.profile) / timing.measured_ms - 1))
            kernel_sum_errors.append(abs(timing.kernel_sum_ms / timing.measured_ms - 1))
        return ModelAccuracy(
            float(np.median(errors)), float(np.max(errors)),
            float(np.median(kernel_sum_errors)), float(np.max(kernel_sum_errors)), len(ids),
        )

    def describe(self) -> dict[str, Any]:
        """The fitted model, JSON-able: ``scale``, ``terms`` (name → coefficient), ``num_timings``."""
        return {"scale": round(self.scale, 4), "terms": {k: round(v, 6) for k, v in self._fit.terms},
                "num_timings": len(self)}
