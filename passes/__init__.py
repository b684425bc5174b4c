"""Passes over modules with choice points, usable like any ``relax.transform`` pass.

- :class:`SpecializeArch` keeps one option per choice point (materializes an architecture).
- :class:`RestrictChoices` keeps some options of some choice points (a subspace).
- :class:`CheckChoicePoints` verifies that every choice point is well formed.
- :class:`SelectArchitecture` specializes to the architecture of a search's front that a rule
  picks (the first step of :func:`tvm_nacos.pipeline.architecture_pipeline`).
- NAS moves expose architecture choices in any module (see :mod:`.expose_base`):
  :class:`ExposeKernelSize`, :class:`ExposeGrouping`, :class:`ExposeBottleneck`,
  :class:`ExposeDepthwiseSeparable`, :class:`ExposeSkip`, :class:`ExposeWidth` on convolutions;
  :class:`ExposeMLPWidth`, :class:`ExposeHeads` and :class:`ExposeLowRank` on linear layers (``matmul`` by a
  constant weight, as in transformers); write a new one by subclassing :class:`ExposePass`.
"""

from tvm_nacos.passes.check_choice_points import CheckChoicePoints
from tvm_nacos.passes.expose_base import ExposePass, MatchContext, Region
from tvm_nacos.passes.expose_bottleneck import ExposeBottleneck
from tvm_nacos.passes.expose_depthwise_separable import ExposeDepthwiseSeparable
from tvm_nacos.passes.expose_grouping import ExposeGrouping
from tvm_nacos.passes.expose_heads import ExposeHeads
from tvm_nacos.passes.expose_kernel_size import ExposeKernelSize
from tvm_nacos.passes.expose_low_rank import ExposeLowRank
from tvm_nacos.passes.expose_mlp_width import ExposeMLPWidth
from tvm_nacos.passes.expose_skip import ExposeSkip
from tvm_nacos.passes.expose_width import ExposeWidth
from tvm_nacos.passes.restrict_choices import RestrictChoices
from tvm_nacos.passes.select_architecture import SelectArchitecture
from tvm_nacos.passes.specialize_arch import SpecializeArch

__all__ = [
    "CheckChoicePoints",
    "ExposeBottleneck",
    "ExposeDepthwiseSeparable",
    "ExposeGrouping",
    "ExposeHeads",
    "ExposeKernelSize",
    "ExposeLowRank",
    "ExposeMLPWidth",
    "ExposePass",
    "ExposeSkip",
    "ExposeWidth",
    "MatchContext",
    "Region",
    "RestrictChoices",
    "SelectArchitecture",
    "SpecializeArch",
]
