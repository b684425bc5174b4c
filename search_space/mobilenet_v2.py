"""A MobileNetV2 macro space in the style of ProxylessNAS and Once-for-All.

The network (built by :mod:`tvm_nacos.models.mobilenet_v2`): a stem Conv3x3 (stride 2), a fixed
MBConv1 block, five stages of inverted-residual (MBConv) blocks, a 1×1 feature-mix convolution,
global average pooling and a linear classifier. Per stage, in the order of :data:`STAGES`:

- ``"stage{s}.block{b}.expand"``: the expansion ratio of block ``b``, one of :data:`EXPANDS`
  (``e3``, ``e4``, ``e6``);
- ``"stage{s}.block{b}.kernel"``: its depthwise kernel, one of :data:`KERNELS` (``k3``, ``k5``,
  ``k7``); conditional on the expansion (it is the kernel of the depthwise convolution inside the
  expanded block, so it exists under every expansion);
- ``"stage{s}.block{b}.depth"`` for ``b >= 2``: ``keep`` or ``skip``. Skipping block ``b`` ends
  the stage there, so ``stage{s}.block{b+1}.depth`` and the kernel and expansion of the blocks it
  drops exist only while block ``b`` is kept: a stage has depth 1 to :data:`MAX_DEPTH`.

The first block of a stage (which changes the width and, for most stages, the resolution) is
always kept. The default architecture is MobileNetV2's: every block kept, kernel 3, expansion 6.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

from .builtin import BuiltinSpace, _check_int
from .space import ChoiceSpec, Condition, SearchSpace

__all__ = [
    "DEFAULT_EXPAND",
    "DEFAULT_KERNEL",
    "DEPTH_OPTIONS",
    "EXPANDS",
    "KERNELS",
    "MAX_DEPTH",
    "STAGES",
    "MobileNetV2Space",
    "depth_label",
    "expand_label",
    "kernel_label",
]

#: Depthwise kernel options (option name → kernel size).
KERNELS = {"k3": 3, "k5": 5, "k7": 7}
#: Expansion ratio options (option name → ratio).
EXPANDS = {"e3": 3, "e4": 4, "e6": 6}
#: Options of a skippable block.
DEPTH_OPTIONS = ("keep", "skip")
#: ``(output channels at width_mult 1, stride of the first block)`` of each stage.
STAGES = ((24, 2), (32, 2), (64, 2), (96, 1), (160, 2))
#: Blocks per stage when all are kept.
MAX_DEPTH = 3
DEFAULT_KERNEL = "k3"
DEFAULT_EXPAND = "e6"


def expand_label(stage: int, block: int) -> str:
    """``"stage{stage}.block{block}.expand"`` (1-based)."""
    return f"stage{stage}.block{block}.expand"


def kernel_label(stage: int, block: int) -> str:
    """``"stage{stage}.block{block}.kernel"`` (1-based)."""
    return f"stage{stage}.block{block}.kernel"


def depth_label(stage: int, block: int) -> str:
    """``"stage{stage}.block{block}.depth"`` (1-based, ``block >= 2``)."""
    return f"stage{stage}.block{block}.depth"


@functools.cache
def _space() -> SearchSpace:
    specs: list[ChoiceSpec] = []
    for stage in range(1, len(STAGES) + 1):
        for block in range(1, MAX_DEPTH + 1):
            kept = None
            if block >= 2:
                parent = None if block == 2 else Condition(depth_label(stage, block - 1), ("keep",))
                specs.append(ChoiceSpec(depth_label(stage, block), DEPTH_OPTIONS, "keep", parent))
                kept = Condition(depth_label(stage, block), ("keep",))
            specs.append(ChoiceSpec(expand_label(stage, block), tuple(EXPANDS), DEFAULT_EXPAND, kept))
            specs.append(
                ChoiceSpec(
                    kernel_label(stage, block),
                    tuple(KERNELS),
                    DEFAULT_KERNEL,
                    Condition(expand_label(stage, block), tuple(EXPANDS)),
                )
            )
    return SearchSpace(specs)


@dataclass(frozen=True)
class MobileNetV2Space(BuiltinSpace):
    """The MobileNetV2 / ProxylessNAS / OFA-style macro space (see the module docstring).

    Parameters
    ----------
    resolution : int
        Height and width of the input (at least 32; the network downsamples 32×). The default
        64 keeps one architecture quick to compile and run on a CPU.
    width_mult : float
        Multiplier of every layer's width (rounded to multiples of 8, as in MobileNetV2).
    num_classes : int
        Outputs of the classifier.

    Examples
    --------
    >>> MobileNetV2Space().space.size
    368484741360099
    """

    name: ClassVar[str] = "mobilenet-v2"

    resolution: int = 64
    width_mult: float = 1.0
    num_classes: int = 10

    def __post_init__(self) -> None:
        _check_int("resolution", self.resolution, 32)
        _check_int("num_classes", self.num_classes, 1)
        if isinstance(self.width_mult, bool) or not isinstance(self.width_mult, (int, float)):
            raise TypeError(
                f"width_mult must be a float, got {type(self.width_mult).__name__} {self.width_mult!r}"
            )
        if not 0.0 < self.width_mult <= 4.0:
            raise ValueError(f"width_mult must be in (0, 4], got {self.width_mult!r}")

    @property
    def space(self) -> SearchSpace:
        """Per block expansion and kernel, per stage depth; see the module docstring."""
        return _space()

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """``(1, 3, resolution, resolution)``."""
        return (1, 3, self.resolution, self.resolution)
