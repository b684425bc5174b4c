"""Passes over modules with choice points, usable like any ``relax.transform`` pass.

- :class:`SpecializeArch` keeps one option per choice point (materializes an architecture).
- :class:`CheckChoicePoints` verifies that every choice point is well formed.
"""

from tvm_nacos.passes.check_choice_points import CheckChoicePoints
from tvm_nacos.passes.specialize_arch import SpecializeArch

__all__ = ["CheckChoicePoints", "SpecializeArch"]
