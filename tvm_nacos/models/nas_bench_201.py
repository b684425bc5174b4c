"""The NAS-Bench-201 network in PyTorch: the supernet of the cell space and its modules.

It follows the benchmark's reference definition (``TinyNetwork`` with ``InferCell`` cells and
``ResNetBasicblock`` reductions in NATS-Bench / AutoDL-Projects), for C=16, N=5:

- stem: Conv3x3(3→C, no bias) → BN;
- stage 1: N cells of width C; reduction block (C→2C, stride 2); stage 2: N cells of width 2C;
  reduction block (2C→4C, stride 2); stage 3: N cells of width 4C;
- head: BN → ReLU → global average pool → Linear(4C → classes).

A cell has four nodes; node ``j`` is the sum of ``edge_{j<-i}(node_i)`` over ``i < j`` and node 3
is the output. Edge operations (all keep the width and the resolution):

- ``none``: zeros (``x * 0``, as the reference does);
- ``skip_connect``: identity;
- ``nor_conv_1x1`` / ``nor_conv_3x3``: ReLU → Conv (no bias) → BN;
- ``avg_pool_3x3``: AvgPool 3×3, stride 1, padding 1, ``count_include_pad=False``.

The reduction block is ReLU-Conv3x3(stride 2)-BN → ReLU-Conv3x3-BN, plus a shortcut
AvgPool2d(2) → Conv1x1 (no bias, no BN).

In the supernet every edge of every cell is a :class:`~tvm_nacos.frontend.torch.Choice` whose
label is the edge's (``"edge.2<-1"``, see :mod:`tvm_nacos.search_space.nas_bench_201`) and whose
site is the cell's (``"stage2.cell3"``): the six labels are the six decisions of the cell, each
applied at the 15 cells of the network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from tvm_nacos.frontend.torch import Choice
from tvm_nacos.models._common import seeded
from tvm_nacos.search_space.nas_bench_201 import DEFAULT_OP, EDGE_LABELS, EDGES, OPS

__all__ = ["Cell", "NasBench201Network", "ReLUConvBN", "ResNetBasicBlock", "Zero", "make_op", "supernet"]


class ReLUConvBN(nn.Sequential):
    """ReLU → Conv2d (no bias) → BatchNorm2d, the benchmark's ``nor_conv`` operation."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


class Zero(nn.Module):
    """The ``none`` operation: zeros of the input's shape, computed as ``x * 0`` like the reference."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(name: str, channels: int) -> nn.Module:
    """The edge operation ``name`` for a cell of width ``channels`` (stride 1).

    Raises
    ------
    ValueError
        For an unknown operation name; the message lists the valid ones.
    """
    factories: dict[str, Callable[[], nn.Module]] = {
        "none": Zero,
        "skip_connect": nn.Identity,
        "nor_conv_1x1": lambda: ReLUConvBN(channels, channels, 1),
        "nor_conv_3x3": lambda: ReLUConvBN(channels, channels, 3),
        "avg_pool_3x3": lambda: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
    }
    if name not in factories:
        raise ValueError(f"unknown NAS-Bench-201 operation {name!r}; valid operations: {list(OPS)}")
    return factories[name]()


def _edge_key(label: str) -> str:
    """Module name of an edge: ``"edge.2<-1"`` → ``"edge_2_1"`` (module names cannot hold dots)."""
    to_node, from_node = EDGES[EDGE_LABELS.index(label)]
    return f"edge_{to_node}_{from_node}"


class Cell(nn.Module):
    """A NAS-Bench-201 cell: node ``j`` sums its incoming edges, node 3 is the output.

    Parameters
    ----------
    edges : Mapping[str, torch.nn.Module]
        One module per edge label of :data:`~tvm_nacos.search_space.nas_bench_201.EDGE_LABELS`
        (a fixed operation or a ``Choice``).
    """

    def __init__(self, edges: Mapping[str, nn.Module]) -> None:
        super().__init__()
        missing = [label for label in EDGE_LABELS if label not in edges]
        if missing or len(edges) != len(EDGE_LABELS):
            raise ValueError(f"a cell needs exactly the edges {list(EDGE_LABELS)}, got {list(edges)}")
        self.edges = nn.ModuleDict({_edge_key(label): edges[label] for label in EDGE_LABELS})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for to_node in (1, 2, 3):
            total = None
            for (j, i), label in zip(EDGES, EDGE_LABELS, strict=True):
                if j != to_node:
                    continue
                out = self.edges[_edge_key(label)](nodes[i])
                total = out if total is None else total + out
            nodes.append(total)
        return nodes[-1]


class ResNetBasicBlock(nn.Module):
    """The benchmark's reduction block: two ReLU-Conv3x3-BN (the first with stride 2) plus an
    AvgPool2d(2) → Conv1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NasBench201Network(nn.Module):
    """The NAS-Bench-201 macro skeleton around cells made by ``make_cell``.

    Parameters
    ----------
    make_cell : Callable[[int, str], torch.nn.Module]
        ``make_cell(channels, site)`` builds the cell of width ``channels`` at ``site``
        (``"stage1.cell1"`` … ``"stage3.cell5"``).
    channels : int
        Width of the first stage (C).
    cells_per_stage : int
        Cells per stage (N).
    num_classes : int
        Outputs of the classifier.
    """

    def __init__(
        self,
        make_cell: Callable[[int, str], nn.Module],
        *,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        c = channels
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        layers: list[nn.Module] = []
        for stage, width in enumerate((c, 2 * c, 4 * c), start=1):
            if stage > 1:
                layers.append(ResNetBasicBlock(width // 2, width))
            layers.extend(make_cell(width, f"stage{stage}.cell{i}") for i in range(1, cells_per_stage + 1))
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * c), nn.ReLU())
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        x = self.global_pooling(self.lastact(x))
        return self.classifier(torch.flatten(x, 1))


def supernet(
    *, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10, seed: int = 0
) -> nn.Module:
    """The NAS-Bench-201 supernet: every edge of every cell is a ``Choice`` over the five operations.

    Parameters
    ----------
    channels, cells_per_stage, num_classes : int
        C, N and the classes; the benchmark uses 16, 5 and 10 (CIFAR-10).
    seed : int
        Seed of the weights (batch-norm statistics included).

    Returns
    -------
    torch.nn.Module
        The supernet in eval mode; its default architecture has ``nor_conv_3x3`` on every edge.
    """

    def make_cell(width: int, site: str) -> nn.Module:
        return Cell(
            {
                label: Choice(label, {op: make_op(op, width) for op in OPS}, default=DEFAULT_OP, site=site)
                for label in EDGE_LABELS
            }
        )

    return seeded(
        lambda: NasBench201Network(
            make_cell, channels=channels, cells_per_stage=cells_per_stage, num_classes=num_classes
        ),
        seed,
    )
