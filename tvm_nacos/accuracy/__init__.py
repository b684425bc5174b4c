"""Accuracy estimators: score architectures without (or before) training them.

- :class:`AccuracyEstimator`: the interface; ``evaluate(samples) -> list[float]`` (higher is
  better), ``is_cheap``, ``name``, a cache keyed by :attr:`ArchSample.id`;
- :class:`TableAccuracy`: NAS-Bench-201 CIFAR-10 accuracies from the benchmark's table;
- :class:`ZeroCostProxy` (``ZeroCostProxy.create("synflow" | "naswot" | "grad_norm", space)``):
  zero-cost ranking scores of untrained networks on one mini-batch of real images;
- :class:`SupernetAccuracy`: validation accuracy (percent) with weights inherited from a
  weight-sharing supernet of the NAS-Bench-201 cell space, trained on the CPU;
  :class:`StandaloneAccuracy`: the same, every architecture trained on its own;
- :func:`load_digits_data`: the dataset they use by default, scikit-learn's bundled digits as
  tensors; :class:`ImageData` (``from_npz``, ``from_arrays``, ``from_loader``): your own, checked;
- :class:`InheritedAccuracy`: validation accuracy of each architecture of a Relax module with
  choice points (your trained model, its NAS moves exposed), compiled and run by TVM;
- :class:`FineTunedAccuracy`: the same after a short fine-tune of each architecture (run by
  PyTorch from the Relax module: :class:`~tvm_nacos.accuracy.relax_torch.RelaxAsTorch`);
- :class:`RelaxNaswot`: NASWOT of each architecture of a Relax module with choice points,
  computed by TVM (no PyTorch): a data-light proxy for any model;
- :class:`CapacityProxy`: log10 of an architecture's MACs or weights, a *stand-in* for models
  that have no accuracy estimator yet (not an accuracy).

Importing this package imports neither PyTorch nor TVM; the PyTorch-based estimators load on
first access.
"""

from __future__ import annotations

import importlib
from typing import Any

from tvm_nacos.accuracy.base import AccuracyEstimator
from tvm_nacos.accuracy.table import TableAccuracy

__all__ = [
    "AccuracyEstimator",
    "CapacityProxy",
    "DataError",
    "DigitsData",
    "FineTunedAccuracy",
    "GradNormProxy",
    "ImageData",
    "InheritedAccuracy",
    "NaswotProxy",
    "RelaxNaswot",
    "StandaloneAccuracy",
    "SupernetAccuracy",
    "SynflowProxy",
    "TableAccuracy",
    "TrainingProgress",
    "TrainingRecord",
    "ZERO_COST_PROXIES",
    "ZeroCostProxy",
    "load_digits_data",
]

# Exports that need PyTorch, scikit-learn or TVM, by the module that defines them.
_LAZY = {
    "CapacityProxy": "tvm_nacos.accuracy.capacity",
    "DigitsData": "tvm_nacos.accuracy.data",
    "ImageData": "tvm_nacos.accuracy.image_data",
    "DataError": "tvm_nacos.accuracy.image_data",
    "InheritedAccuracy": "tvm_nacos.accuracy.inherited",
    "RelaxNaswot": "tvm_nacos.accuracy.relax_naswot",
    "load_digits_data": "tvm_nacos.accuracy.data",
    "ZeroCostProxy": "tvm_nacos.accuracy.zero_cost",
    "SynflowProxy": "tvm_nacos.accuracy.zero_cost",
    "NaswotProxy": "tvm_nacos.accuracy.zero_cost",
    "GradNormProxy": "tvm_nacos.accuracy.zero_cost",
    "ZERO_COST_PROXIES": "tvm_nacos.accuracy.zero_cost",
    "SupernetAccuracy": "tvm_nacos.accuracy.supernet",
    "StandaloneAccuracy": "tvm_nacos.accuracy.supernet",
    "TrainingRecord": "tvm_nacos.accuracy.supernet",
    "TrainingProgress": "tvm_nacos.accuracy.weight_sharing",
    "FineTunedAccuracy": "tvm_nacos.accuracy.fine_tuned",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
