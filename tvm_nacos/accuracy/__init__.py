"""Accuracy estimators: score architectures without (or before) training them.

- :class:`AccuracyEstimator`: the interface; ``evaluate(samples) -> list[float]`` (higher is
  better), ``is_cheap``, ``name``, a cache keyed by :attr:`ArchSample.id`;
- :class:`TableAccuracy`: NAS-Bench-201 CIFAR-10 accuracies from the benchmark's table.

Importing this package imports neither PyTorch nor TVM.
"""

from tvm_nacos.accuracy.base import AccuracyEstimator
from tvm_nacos.accuracy.table import TableAccuracy

__all__ = ["AccuracyEstimator", "TableAccuracy"]
