"""A ResNet space with basic blocks: per-stage depth and width, per-block kernel.

The network (built by :mod:`tvm_nacos.models.resnet`) is a CIFAR-style ResNet: a stem Conv3x3
→ BN → ReLU, the stages of :data:`STAGES` made of basic blocks, global average pooling and a
linear classifier. A basic block is Conv kxk (C→h, stride) → BN → ReLU → Conv kxk (h→C') → BN,
plus the shortcut (identity, or Conv1x1 with stride → BN when the shape changes), then ReLU.
Choices, in space order for each stage ``s``:

- ``"stage{s}.width"``: the width multiplier of the stage, one of :data:`WIDTHS` (``w050``,
  ``w075``, ``w100``). It sets the inner width ``h = round(w * C)`` of every block of the stage
  (the output width C of the stage stays fixed, so that stages and shortcuts connect);
- ``"stage{s}.block{b}.kernel"``: the kernel of both convolutions of block ``b``, one of
  :data:`KERNELS` (``k3``, ``k5``);
- ``"stage{s}.block{b}.depth"`` for ``b >= 2``: ``keep`` or ``skip``. Skipping block ``b`` ends
  the stage there, so the choices of the later blocks exist only while block ``b`` is kept.

The first block of a stage is always kept. The default architecture keeps every block at full
width with 3×3 kernels (a ResNet-20 for the default :data:`MAX_DEPTH` of 3).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

from .builtin import BuiltinSpace, _check_int
from .mobilenet_v2 import DEPTH_OPTIONS, depth_label, kernel_label
from .space import ChoiceSpec, Condition, SearchSpace

__all__ = [
    "DEFAULT_KERNEL",
    "DEFAULT_WIDTH",
    "KERNELS",
    "MAX_DEPTH",
    "STAGES",
    "STEM_CHANNELS",
    "WIDTHS",
    "ResNetSpace",
    "inner_width",
    "width_label",
]

#: Kernel options (option name → kernel size).
KERNELS = {"k3": 3, "k5": 5}
#: Width-multiplier options (option name → multiplier of the blocks' inner width).
WIDTHS = {"w050": 0.5, "w075": 0.75, "w100": 1.0}
#: ``(output channels, stride of the first block)`` of each stage.
STAGES = ((16, 1), (32, 2), (64, 2))
#: Blocks per stage when all are kept.
MAX_DEPTH = 3
#: Width of the stem.
STEM_CHANNELS = 16
DEFAULT_KERNEL = "k3"
DEFAULT_WIDTH = "w100"


def width_label(stage: int) -> str:
    """``"stage{stage}.width"`` (1-based)."""
    return f"stage{stage}.width"


def inner_width(channels: int, width: str) -> int:
    """The inner width of a block of a stage of ``channels`` outputs under width option ``width``."""
    return max(1, int(round(WIDTHS[width] * channels)))


@functools.cache
def _space() -> SearchSpace:
    specs: list[ChoiceSpec] = []
    for stage in range(1, len(STAGES) + 1):
        specs.append(ChoiceSpec(width_label(stage), tuple(WIDTHS), DEFAULT_WIDTH))
        for block in range(1, MAX_DEPTH + 1):
            if block == 1:
                kernel_condition = Condition(width_label(stage), tuple(WIDTHS))
            else:
                parent = (
                    Condition(width_label(stage), tuple(WIDTHS))
                    if block == 2
                    else Condition(depth_label(stage, block - 1), ("keep",))
                )
                specs.append(ChoiceSpec(depth_label(stage, block), DEPTH_OPTIONS, "keep", parent))
                kernel_condition = Condition(depth_label(stage, block), ("keep",))
            specs.append(ChoiceSpec(kernel_label(stage, block), tuple(KERNELS), DEFAULT_KERNEL, kernel_condition))
    return SearchSpace(specs)


@dataclass(frozen=True)
class ResNetSpace(BuiltinSpace):
    """The basic-block ResNet space (see the module docstring).

    Parameters
    ----------
    resolution : int
        Height and width of the input (at least 8; the network downsamples 4×).
    num_classes : int
        Outputs of the classifier.
    """

    name: ClassVar[str] = "resnet"

    resolution: int = 32
    num_classes: int = 10

    def __post_init__(self) -> None:
        _check_int("resolution", self.resolution, 8)
        _check_int("num_classes", self.num_classes, 1)

    @property
    def space(self) -> SearchSpace:
        """Per stage width and depth, per block kernel; see the module docstring."""
        return _space()

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """``(1, 3, resolution, resolution)``."""
        return (1, 3, self.resolution, self.resolution)
