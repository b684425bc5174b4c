"""The basic-block ResNet supernet in PyTorch (see :mod:`tvm_nacos.search_space.resnet`).

Layers: stem Conv3x3 (3→16) → BN → ReLU; the stages of
:data:`~tvm_nacos.search_space.resnet.STAGES`, each of up to
:data:`~tvm_nacos.search_space.resnet.MAX_DEPTH` basic blocks; global average pooling; Linear.

Choice modules, nested so that the IR's choice points carry the space's conditions:

- ``stage{s}.width`` wraps the whole stage, one option per width multiplier (the blocks of an
  option have that inner width);
- inside each width option (``site`` = the width option), ``stage{s}.block{b}.kernel`` wraps the
  body of block ``b`` (both convolutions; shortcut and final ReLU outside), and
  ``stage{s}.block{b}.depth`` (``b >= 2``) chooses between ``keep`` (block ``b``, then the
  ``depth`` choice of block ``b+1``) and ``skip`` (identity, which ends the stage).
"""

from __future__ import annotations

import torch
from torch import nn

from tvm_nacos.frontend.torch import Choice
from tvm_nacos.models._common import seeded
from tvm_nacos.search_space.mobilenet_v2 import depth_label, kernel_label
from tvm_nacos.search_space.resnet import (
    DEFAULT_KERNEL,
    DEFAULT_WIDTH,
    KERNELS,
    MAX_DEPTH,
    STAGES,
    STEM_CHANNELS,
    WIDTHS,
    inner_width,
    width_label,
)

__all__ = ["BasicBlock", "ResNetSupernet", "supernet"]


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False), nn.BatchNorm2d(c_out)]


class BasicBlock(nn.Module):
    """A basic block whose kernel is a choice: ``relu(body_k(x) + shortcut(x))``.

    Parameters
    ----------
    stage, block : int
        Position (1-based), for the label.
    c_in, c_out, hidden, stride : int
        Input, output and inner width, stride of the first convolution.
    site : str
        Site of the kernel choice (the width option the block belongs to).
    """

    def __init__(
        self, stage: int, block: int, c_in: int, c_out: int, hidden: int, stride: int, site: str
    ) -> None:
        super().__init__()
        self.body = Choice(
            kernel_label(stage, block),
            {
                name: nn.Sequential(*_conv_bn(c_in, hidden, k, stride), nn.ReLU(), *_conv_bn(hidden, c_out, k))
                for name, k in KERNELS.items()
            },
            default=DEFAULT_KERNEL,
            site=site,
        )
        if stride == 1 and c_in == c_out:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(*_conv_bn(c_in, c_out, 1, stride))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def _stage_tail(stage: int, block: int, channels: int, hidden: int, site: str) -> nn.Module:
    """The ``depth`` choice of ``block`` and, inside its ``keep`` option, the rest of the stage."""
    kept: list[nn.Module] = [BasicBlock(stage, block, channels, channels, hidden, 1, site)]
    if block < MAX_DEPTH:
        kept.append(_stage_tail(stage, block + 1, channels, hidden, site))
    return Choice(
        depth_label(stage, block), {"keep": nn.Sequential(*kept), "skip": nn.Identity()}, default="keep", site=site
    )


def _stage(stage: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    """The ``width`` choice of a stage; each option holds the whole stage at that width."""
    options = {}
    for name in WIDTHS:
        hidden = inner_width(c_out, name)
        blocks: list[nn.Module] = [BasicBlock(stage, 1, c_in, c_out, hidden, stride, name)]
        if MAX_DEPTH > 1:
            blocks.append(_stage_tail(stage, 2, c_out, hidden, name))
        options[name] = nn.Sequential(*blocks)
    return Choice(width_label(stage), options, default=DEFAULT_WIDTH)


class ResNetSupernet(nn.Module):
    """Stem, searchable stages, global pooling and classifier.

    Parameters
    ----------
    num_classes : int
        Outputs of the classifier.
    """

    def __init__(self, *, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(3, STEM_CHANNELS, 3), nn.ReLU())
        stages: list[nn.Module] = []
        c_in = STEM_CHANNELS
        for stage, (channels, stride) in enumerate(STAGES, start=1):
            stages.append(_stage(stage, c_in, channels, stride))
            c_in = channels
        self.stages = nn.Sequential(*stages)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.classifier(torch.flatten(self.global_pooling(x), 1))


def supernet(*, num_classes: int = 10, seed: int = 0) -> nn.Module:
    """The ResNet supernet with deterministic weights, in eval mode (see the module docstring)."""
    return seeded(lambda: ResNetSupernet(num_classes=num_classes), seed)
