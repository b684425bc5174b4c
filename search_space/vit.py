"""A Vision Transformer space in the style of HAT and AutoFormer: per-block heads, MLP ratio and depth.

The network (built by :mod:`tvm_nacos.models.vit`) is a small pre-norm ViT: a patch embedding
(Conv ``patch_size``×``patch_size`` with stride ``patch_size``, 3 → ``embed_dim``), a learned
position embedding, up to :data:`MAX_DEPTH` transformer blocks, a final LayerNorm, the mean
over the tokens and a linear classifier (no class token). A block is

.. code-block:: text

    x = x + proj(attention_h(LayerNorm(x)))          # h heads of head_dim = embed_dim // 4
    x = x + fc2(GELU(fc1_r(LayerNorm(x))))           # hidden width r * embed_dim

The embedding width stays fixed (every block reads and writes ``embed_dim`` features, so blocks
and skips connect); the head size stays fixed (``embed_dim // max heads``), so fewer heads make
the attention narrower, as in HAT. Choices, in space order for each block ``b``:

- ``"block{b}.depth"`` for ``b >= 2``: ``keep`` or ``skip``. Skipping block ``b`` ends the
  network's blocks there, so the choices of the later blocks exist only while block ``b`` is
  kept (a depth of 1 to :data:`MAX_DEPTH` blocks);
- ``"block{b}.heads"``: the attention heads, one of :data:`HEADS` (``h1``, ``h2``, ``h4``);
- ``"block{b}.mlp_ratio"``: the MLP's hidden width over ``embed_dim``, one of :data:`MLP_RATIOS`
  (``r1``, ``r2``, ``r4``).

The first block is always kept. The default architecture is the largest: every block kept,
4 heads, MLP ratio 4 (ViT's). At the default options (32×32 input, patch 4: 64 tokens, width
64) one inference takes well under a millisecond to a few milliseconds on two cores, depending
on the architecture and on how well its kernels are tuned.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

from .builtin import BuiltinSpace, _check_int
from .mobilenet_v2 import DEPTH_OPTIONS
from .sample import ArchSample
from .space import ChoiceSpec, Condition, SearchSpace

__all__ = [
    "DEFAULT_HEADS",
    "DEFAULT_MLP_RATIO",
    "HEADS",
    "MAX_DEPTH",
    "MLP_RATIOS",
    "ViTSpace",
    "depth_label",
    "heads_label",
    "mlp_ratio_label",
]

#: Attention-head options (option name → heads).
HEADS = {"h1": 1, "h2": 2, "h4": 4}
#: MLP-ratio options (option name → hidden width over the embedding width).
MLP_RATIOS = {"r1": 1, "r2": 2, "r4": 4}
#: Blocks when all are kept.
MAX_DEPTH = 4
DEFAULT_HEADS = "h4"
DEFAULT_MLP_RATIO = "r4"


def heads_label(block: int) -> str:
    """``"block{block}.heads"`` (1-based)."""
    return f"block{block}.heads"


def mlp_ratio_label(block: int) -> str:
    """``"block{block}.mlp_ratio"`` (1-based)."""
    return f"block{block}.mlp_ratio"


def depth_label(block: int) -> str:
    """``"block{block}.depth"`` (1-based, ``block >= 2``)."""
    return f"block{block}.depth"


@functools.cache
def _space() -> SearchSpace:
    specs: list[ChoiceSpec] = []
    for block in range(1, MAX_DEPTH + 1):
        kept = None
        if block >= 2:
            parent = None if block == 2 else Condition(depth_label(block - 1), ("keep",))
            specs.append(ChoiceSpec(depth_label(block), DEPTH_OPTIONS, "keep", parent))
            kept = Condition(depth_label(block), ("keep",))
        specs.append(ChoiceSpec(heads_label(block), tuple(HEADS), DEFAULT_HEADS, kept))
        specs.append(ChoiceSpec(mlp_ratio_label(block), tuple(MLP_RATIOS), DEFAULT_MLP_RATIO, kept))
    return SearchSpace(specs)


@dataclass(frozen=True)
class ViTSpace(BuiltinSpace):
    """A Vision Transformer space, HAT / AutoFormer-style: per block heads, MLP ratio and depth (see the module docstring).

    Parameters
    ----------
    resolution : int
        Height and width of the input; a multiple of ``patch_size``.
    patch_size : int
        Side of the square patches (tokens = ``(resolution // patch_size) ** 2``).
    embed_dim : int
        Width of the tokens; a multiple of the largest head count (4), which sets the head size.
    num_classes : int
        Outputs of the classifier.
    """

    name: ClassVar[str] = "vit"

    resolution: int = 32
    patch_size: int = 4
    embed_dim: int = 64
    num_classes: int = 10

    def __post_init__(self) -> None:
        _check_int("resolution", self.resolution, 1)
        _check_int("patch_size", self.patch_size, 1)
        _check_int("embed_dim", self.embed_dim, max(HEADS.values()))
        _check_int("num_classes", self.num_classes, 1)
        if self.resolution % self.patch_size:
            raise ValueError(
                f"resolution must be a multiple of patch_size, got resolution={self.resolution} "
                f"and patch_size={self.patch_size}"
            )
        if self.embed_dim % max(HEADS.values()):
            raise ValueError(
                f"embed_dim must be a multiple of {max(HEADS.values())} (the most heads), got {self.embed_dim}"
            )

    @property
    def space(self) -> SearchSpace:
        """Per block depth, heads and MLP ratio; see the module docstring."""
        return _space()

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """``(1, 3, resolution, resolution)``."""
        return (1, 3, self.resolution, self.resolution)

    @property
    def head_dim(self) -> int:
        """Features per attention head: ``embed_dim`` over the most heads."""
        return self.embed_dim // max(HEADS.values())

    @property
    def num_tokens(self) -> int:
        """Tokens of the sequence: ``(resolution // patch_size) ** 2``."""
        return (self.resolution // self.patch_size) ** 2

    def sandwich_samples(self) -> tuple[ArchSample, ArchSample]:
        """The largest architecture (every block, 4 heads, ratio 4) and the smallest (one block, 1 head, ratio 1)."""
        largest = {depth_label(block): "keep" for block in range(2, MAX_DEPTH + 1)}
        for block in range(1, MAX_DEPTH + 1):
            largest[heads_label(block)] = max(HEADS, key=HEADS.__getitem__)
            largest[mlp_ratio_label(block)] = max(MLP_RATIOS, key=MLP_RATIOS.__getitem__)
        smallest = {heads_label(1): "h1", mlp_ratio_label(1): "r1", depth_label(2): "skip"}
        return _space().canonicalize(largest), _space().canonicalize(smallest)
