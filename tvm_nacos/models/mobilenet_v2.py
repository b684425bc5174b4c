"""The MobileNetV2 macro supernet (ProxylessNAS / Once-for-All style) in PyTorch.

Layers (widths at ``width_mult`` 1, rounded to multiples of 8 for other multipliers):

- stem: Conv3x3 (3→32, stride 2) → BN → ReLU6;
- a fixed MBConv1 block: depthwise Conv3x3 (32) → BN → ReLU6 → Conv1x1 (32→16) → BN;
- the stages of :data:`~tvm_nacos.search_space.mobilenet_v2.STAGES`, each of up to
  :data:`~tvm_nacos.search_space.mobilenet_v2.MAX_DEPTH` MBConv blocks; a block is Conv1x1
  (C→eC) → BN → ReLU6 → depthwise Conv kxk (eC, stride of the block) → BN → ReLU6 → Conv1x1
  (eC→C') → BN, with an identity shortcut when the stride is 1 and C = C';
- Conv1x1 (→1280) → BN → ReLU6 → global average pool → Linear.

Choice modules, nested so that the IR's choice points carry the space's conditions:

- ``stage{s}.block{b}.expand`` wraps the block body (shortcut outside), one option per ratio;
- ``stage{s}.block{b}.kernel`` wraps the depthwise Conv-BN-ReLU6 inside each expansion option,
  one site per expansion (``site="e3"``…): one decision, applied to whichever expansion runs;
- ``stage{s}.block{b}.depth`` (``b >= 2``): ``keep`` runs block ``b`` followed by the
  ``depth`` choice of block ``b+1``; ``skip`` is the identity and ends the stage.
"""

from __future__ import annotations

import torch
from torch import nn

from tvm_nacos.frontend.torch import Choice
from tvm_nacos.models._common import seeded
from tvm_nacos.search_space.mobilenet_v2 import (
    DEFAULT_EXPAND,
    DEFAULT_KERNEL,
    EXPANDS,
    KERNELS,
    MAX_DEPTH,
    STAGES,
    depth_label,
    expand_label,
    kernel_label,
)

__all__ = ["ConvBNReLU6", "MBConvBlock", "MobileNetV2Supernet", "make_divisible", "supernet"]

#: Widths of the stem, of the fixed first block and of the feature-mix layer at width_mult 1.
STEM_CHANNELS = 32
FIRST_BLOCK_CHANNELS = 16
LAST_CHANNELS = 1280


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a width to the nearest multiple of ``divisor``, never below 90% of ``value`` (MobileNetV2's rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class ConvBNReLU6(nn.Sequential):
    """Conv2d (no bias, "same" padding) → BatchNorm2d → ReLU6."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU6(),
        )


def _body(c_in: int, c_out: int, stride: int, expand: int, depthwise: nn.Module) -> nn.Sequential:
    """Expand Conv1x1 → ``depthwise`` → project Conv1x1 → BN (the expand step is left out for ratio 1)."""
    hidden = c_in * expand
    layers: list[nn.Module] = [] if expand == 1 else [ConvBNReLU6(c_in, hidden, 1)]
    layers += [depthwise, nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers)


class MBConvBlock(nn.Module):
    """An inverted-residual block whose expansion and kernel are choices.

    Parameters
    ----------
    stage, block : int
        Position (1-based), for the labels.
    c_in, c_out, stride : int
        Input and output width, stride of the depthwise convolution.
    """

    def __init__(self, stage: int, block: int, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        options = {}
        for e_name, expand in EXPANDS.items():
            hidden = c_in * expand
            depthwise = Choice(
                kernel_label(stage, block),
                {k_name: ConvBNReLU6(hidden, hidden, k, stride, groups=hidden) for k_name, k in KERNELS.items()},
                default=DEFAULT_KERNEL,
                site=e_name,
            )
            options[e_name] = _body(c_in, c_out, stride, expand, depthwise)
        self.body = Choice(expand_label(stage, block), options, default=DEFAULT_EXPAND)
        self.use_shortcut = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.use_shortcut else out


def _stage_tail(stage: int, block: int, channels: int) -> nn.Module:
    """The ``depth`` choice of ``block`` and, inside its ``keep`` option, the rest of the stage."""
    kept: list[nn.Module] = [MBConvBlock(stage, block, channels, channels, 1)]
    if block < MAX_DEPTH:
        kept.append(_stage_tail(stage, block + 1, channels))
    return Choice(depth_label(stage, block), {"keep": nn.Sequential(*kept), "skip": nn.Identity()}, default="keep")


class MobileNetV2Supernet(nn.Module):
    """Stem, fixed MBConv1 block, searchable stages, feature-mix layer and classifier.

    Parameters
    ----------
    width_mult : float
        Multiplier of every width.
    num_classes : int
        Outputs of the classifier.
    """

    def __init__(self, *, width_mult: float = 1.0, num_classes: int = 10) -> None:
        super().__init__()
        stem = make_divisible(STEM_CHANNELS * width_mult)
        first = make_divisible(FIRST_BLOCK_CHANNELS * width_mult)
        last = make_divisible(LAST_CHANNELS * max(1.0, width_mult))
        self.stem = ConvBNReLU6(3, stem, 3, stride=2)
        self.first_block = _body(stem, first, 1, 1, ConvBNReLU6(stem, stem, 3, groups=stem))
        stages: list[nn.Module] = []
        c_in = first
        for stage, (channels, stride) in enumerate(STAGES, start=1):
            c_out = make_divisible(channels * width_mult)
            blocks: list[nn.Module] = [MBConvBlock(stage, 1, c_in, c_out, stride)]
            if MAX_DEPTH > 1:
                blocks.append(_stage_tail(stage, 2, c_out))
            stages.append(nn.Sequential(*blocks))
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.feature_mix = ConvBNReLU6(c_in, last, 1)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(last, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.feature_mix(self.stages(self.first_block(self.stem(x))))
        return self.classifier(torch.flatten(self.global_pooling(x), 1))


def supernet(*, width_mult: float = 1.0, num_classes: int = 10, seed: int = 0) -> nn.Module:
    """The MobileNetV2 supernet with deterministic weights, in eval mode (see the module docstring)."""
    return seeded(lambda: MobileNetV2Supernet(width_mult=width_mult, num_classes=num_classes), seed)
