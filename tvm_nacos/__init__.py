"""tvm-nacos: neural architecture and compiler optimization co-search inside Apache TVM.

Architecture choices live in the compiler as switchable Relax subgraphs (*choice points*);
passes in :mod:`tvm_nacos.passes` inspect and specialize them; :mod:`tvm_nacos.search_space`
is the pure-Python model of the space.

Importing this package does not import TVM or PyTorch: the names below load on first use, so
``import tvm_nacos.search_space`` stays light. It registers, without importing anything heavy,
what the pure-Python built-in spaces call to build networks (:mod:`tvm_nacos.models`) and to
read the NAS-Bench-201 table (:mod:`tvm_nacos.data.nas_bench_201`): ``search_space`` imports
nothing of tvm-nacos, so the dependency points one way.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY_ATTRS = {
    "from_torch": ("tvm_nacos.frontend.torch", "from_torch"),
    "host_target": ("tvm_nacos.target", "host_target"),
    "tune_architecture": ("tvm_nacos.tuning.tune", "tune_architecture"),
    "search": ("tvm_nacos.cosearch.search", "search"),
    "SearchResult": ("tvm_nacos.cosearch.search", "SearchResult"),
    "NACOSSearchStrategy": ("tvm_nacos.cosearch.schedule_strategy", "NACOSSearchStrategy"),
    "ArchSample": ("tvm_nacos.search_space", "ArchSample"),
    "SearchSpace": ("tvm_nacos.search_space", "SearchSpace"),
}
_LAZY_MODULES = (
    "accuracy",
    "analysis",
    "data",
    "errors",
    "frontend",
    "ir",
    "models",
    "passes",
    "cosearch",
    "search_space",
    "target",
    "tuning",
)

__all__ = ["__version__", *_LAZY_ATTRS, *_LAZY_MODULES]


def _register_builtin_space_backends() -> None:
    """Let the built-in spaces build networks and look up NAS-Bench-201 indices (no I/O, no torch/tvm)."""
    from tvm_nacos import models
    from tvm_nacos.data.nas_bench_201 import load_table
    from tvm_nacos.search_space import nas_bench_201, register_network_builder

    register_network_builder(models)
    nas_bench_201.register_table(load_table)


_register_builtin_space_backends()


def __getattr__(name: str) -> Any:
    if name in _LAZY_ATTRS:
        module_name, attr = _LAZY_ATTRS[name]
        return getattr(importlib.import_module(module_name), attr)
    if name in _LAZY_MODULES:
        return importlib.import_module(f"tvm_nacos.{name}")
    raise AttributeError(f"module 'tvm_nacos' has no attribute {name!r}")
