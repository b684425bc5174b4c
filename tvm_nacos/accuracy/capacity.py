"""A capacity score for models that have no accuracy estimator yet: log10 of MACs or weights.

:class:`CapacityProxy` is **not an accuracy**. It ranks an architecture by its size, on the
assumption that a network with more multiply-accumulates (or more weights) can learn more; it
lets a search over a model of your own run before you have a trained predictor, a supernet or
a table, and its front then trades size against tuned latency. Replace it with a real estimator
(any object with ``evaluate(samples) -> list[float]``, or such a function) as soon as you have
one.

.. code-block:: python

    from tvm_nacos.accuracy.capacity import CapacityProxy
    proxy = CapacityProxy(supernet, measure="macs")     # supernet: an IRModule with choice points
    proxy.evaluate([sample])                            # [log10(MACs of the sample)]
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from tvm_nacos.accuracy.base import AccuracyEstimator
from tvm_nacos.search_space import ArchSample

__all__ = ["CAPACITY_MEASURES", "CapacityProxy"]

logger = logging.getLogger(__name__)

Measure = Literal["macs", "params"]
#: What :class:`CapacityProxy` can count.
CAPACITY_MEASURES = ("macs", "params")


def constant_elements(expr: Any) -> int:
    """Elements of ``expr`` if it is a tensor constant (weights, biases, BN statistics), else 0."""
    from tvm_nacos._compat import GenericConst

    if isinstance(expr, GenericConst) and len(expr.value.shape) > 0:
        return math.prod(int(d) for d in expr.value.shape)
    return 0


def count_constant_elements(mod: Any) -> int:
    """Elements of every tensor constant of the Relax functions of ``mod``."""
    from tvm import relax

    total = 0

    def visit(expr: Any) -> None:
        nonlocal total
        total += constant_elements(expr)

    for func in mod.functions.values():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func.body, visit)
    return total


class CapacityProxy(AccuracyEstimator):
    """``log10`` of an architecture's MACs or weight elements: a size score standing in for accuracy.

    Parameters
    ----------
    mod : tvm.IRModule
        The module with choice points; each sample is specialized from it and counted.
    measure : {"macs", "params"}
        ``"macs"``: multiply-accumulates of conv2d and matmul of one inference;
        ``"params"``: elements of the tensor constants the architecture keeps.

    Raises
    ------
    ValueError
        For another ``measure`` (the message lists the valid ones).
    """

    is_cheap: ClassVar[bool] = True

    def __init__(self, mod: Any, measure: Measure = "macs") -> None:
        if measure not in CAPACITY_MEASURES:
            raise ValueError(f"unknown capacity measure {measure!r}; valid measures: {list(CAPACITY_MEASURES)}")
        from tvm_nacos.analysis import search_space

        super().__init__(search_space(mod))
        self.mod = mod
        self.measure: str = measure
        self._counter: Any = None

    @property
    def name(self) -> str:
        """``"capacity/<measure>"`` (a stand-in for accuracy: log10 of the count)."""
        return f"capacity/{self.measure}"

    def estimate(self, samples: Sequence[ArchSample]) -> list[float]:
        if self._counter is None:  # read the module once; each architecture is then a call-graph walk
            from tvm_nacos.analysis import ArchitectureCounter, ArchitectureMacs

            self._counter = (ArchitectureMacs(self.mod) if self.measure == "macs"
                             else ArchitectureCounter(self.mod, constant_elements, per_call=False))
        scores = []
        for sample in samples:
            value = self._counter(sample)
            scores.append(math.log10(max(value, 1)))
            logger.debug("%s: %s -> %d", self.name, sample.id, value)
        return scores
