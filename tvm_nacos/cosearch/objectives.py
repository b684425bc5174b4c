"""Objectives of the search: accuracy up, latency down, under constraints.

Non-dominated sorting and hypervolume come from pymoo; this module only maps our points onto
its minimization convention (``-accuracy``, ``latency_ms``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Constraints", "hypervolume", "pareto_indices"]


@dataclass(frozen=True)
class Constraints:
    """Limits an architecture must meet to enter the front.

    Attributes
    ----------
    max_latency_ms : float, optional
        Tuned end-to-end latency.
    max_params : int, optional
        Trainable parameters.
    max_macs : int, optional
        Multiply-accumulates of one inference.
    min_accuracy : float, optional
        Accuracy, in the estimator's unit.
    """

    max_latency_ms: float | None = None
    max_params: int | None = None
    max_macs: int | None = None
    min_accuracy: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_latency_ms", "max_params", "max_macs"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"constraint {name} must be positive, got {value}")

    def violations(
        self,
        *,
        latency_ms: float | None = None,
        params: int | None = None,
        macs: int | None = None,
        accuracy: float | None = None,
    ) -> list[str]:
        """Human-readable list of the limits the values break (empty if none)."""
        broken = []
        if self.max_latency_ms is not None and latency_ms is not None and latency_ms > self.max_latency_ms:
            broken.append(f"latency {latency_ms:.3f} ms > {self.max_latency_ms} ms")
        if self.max_params is not None and params is not None and params > self.max_params:
            broken.append(f"params {params} > {self.max_params}")
        if self.max_macs is not None and macs is not None and macs > self.max_macs:
            broken.append(f"MACs {macs} > {self.max_macs}")
        if self.min_accuracy is not None and accuracy is not None and accuracy < self.min_accuracy:
            broken.append(f"accuracy {accuracy} < {self.min_accuracy}")
        return broken


def _objectives(accuracy: Sequence[float], latency_ms: Sequence[float]) -> np.ndarray:
    return np.column_stack([-np.asarray(accuracy, dtype=float), np.asarray(latency_ms, dtype=float)])


def pareto_indices(accuracy: Sequence[float], latency_ms: Sequence[float]) -> list[int]:
    """Indices of the non-dominated points (higher accuracy, lower latency), by latency."""
    if len(accuracy) == 0:
        return []
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    front = NonDominatedSorting().do(_objectives(accuracy, latency_ms), only_non_dominated_front=True)
    return sorted((int(i) for i in front), key=lambda i: (latency_ms[i], -accuracy[i]))


def hypervolume(
    accuracy: Sequence[float],
    latency_ms: Sequence[float],
    *,
    reference: tuple[float, float],
) -> float:
    """Hypervolume dominated by the points, up to ``reference = (min_accuracy, max_latency_ms)``.

    Use one reference for every run that is compared (e.g. the worst accuracy of the space and
    a latency above every architecture's); points outside it contribute nothing. Units:
    accuracy × milliseconds.
    """
    if len(accuracy) == 0:
        return 0.0
    from pymoo.indicators.hv import HV

    ref = np.array([-reference[0], reference[1]], dtype=float)
    points = _objectives(accuracy, latency_ms)
    inside = np.all(points < ref, axis=1)
    if not inside.any():
        return 0.0
    return float(HV(ref_point=ref)(points[inside]))
