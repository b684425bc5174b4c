"""The Vision Transformer supernet in PyTorch (see :mod:`tvm_nacos.search_space.vit`).

Layers: patch embedding (Conv ``p``×``p``, stride ``p``) and a learned position embedding; up
to :data:`~tvm_nacos.search_space.vit.MAX_DEPTH` pre-norm transformer blocks; LayerNorm; the
mean over the tokens; Linear. Attention and MLP are written with ``nn.Linear``, ``reshape``,
``matmul`` and ``softmax``, the way ``transformers``' models are, so the IR holds the same
kernels as an imported BERT or ViT: dense ``matmul``\\s, batched ``matmul``\\s, softmax,
LayerNorm, GELU.

Choice modules, nested so that the IR's choice points carry the space's conditions:

- ``block{b}.heads`` wraps the attention (its q/k/v and output projections), one option per
  head count, each with head size ``embed_dim // 4``;
- ``block{b}.mlp_ratio`` wraps the MLP (Linear → GELU → Linear), one option per hidden width;
- ``block{b}.depth`` (``b >= 2``) chooses between ``keep`` (block ``b``, then the ``depth``
  choice of block ``b+1``) and ``skip`` (identity, which ends the blocks).

The LayerNorms and residual additions sit outside the choices: they belong to the block, not to
one option.
"""

from __future__ import annotations

import torch
from torch import nn

from tvm_nacos.frontend.torch import Choice
from tvm_nacos.models._common import seeded
from tvm_nacos.search_space.vit import (
    DEFAULT_HEADS,
    DEFAULT_MLP_RATIO,
    HEADS,
    MAX_DEPTH,
    MLP_RATIOS,
    ViTSpace,
    depth_label,
    heads_label,
    mlp_ratio_label,
)

__all__ = ["Attention", "MLP", "TransformerBlock", "ViTSupernet", "supernet"]


class Attention(nn.Module):
    """Multi-head self-attention with ``heads`` heads of ``head_dim`` features.

    Parameters
    ----------
    dim : int
        Width of the tokens in and out.
    heads, head_dim : int
        Heads and features per head; q, k and v are ``heads * head_dim`` wide.
    """

    def __init__(self, dim: int, heads: int, head_dim: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.qkv = nn.Linear(dim, 3 * heads * head_dim)
        self.proj = nn.Linear(heads * head_dim, dim)
        self.scale = head_dim**-0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attention = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * self.scale, dim=-1)
        out = torch.matmul(attention, v).transpose(1, 2).reshape(batch, tokens, self.heads * self.head_dim)
        return self.proj(out)


class MLP(nn.Module):
    """Linear (``dim`` → ``hidden``) → GELU → Linear (``hidden`` → ``dim``)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class TransformerBlock(nn.Module):
    """A pre-norm block whose heads and MLP ratio are choices: ``x + attn(ln(x))``, then ``x + mlp(ln(x))``.

    Parameters
    ----------
    block : int
        Position (1-based), for the labels.
    dim, head_dim : int
        Token width and features per head.
    """

    def __init__(self, block: int, dim: int, head_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = Choice(
            heads_label(block),
            {name: Attention(dim, heads, head_dim) for name, heads in HEADS.items()},
            default=DEFAULT_HEADS,
        )
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Choice(
            mlp_ratio_label(block),
            {name: MLP(dim, ratio * dim) for name, ratio in MLP_RATIOS.items()},
            default=DEFAULT_MLP_RATIO,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def _blocks_from(block: int, dim: int, head_dim: int) -> nn.Module:
    """The ``depth`` choice of ``block`` and, inside its ``keep`` option, the blocks after it."""
    kept: list[nn.Module] = [TransformerBlock(block, dim, head_dim)]
    if block < MAX_DEPTH:
        kept.append(_blocks_from(block + 1, dim, head_dim))
    return Choice(depth_label(block), {"keep": nn.Sequential(*kept), "skip": nn.Identity()}, default="keep")


class ViTSupernet(nn.Module):
    """Patch and position embedding, searchable blocks, LayerNorm, token mean and classifier.

    Parameters
    ----------
    space : ViTSpace
        The space's options: resolution, patch size, embedding width and classes.
    """

    def __init__(self, space: ViTSpace) -> None:
        super().__init__()
        dim = space.embed_dim
        self.patch_embedding = nn.Conv2d(3, dim, space.patch_size, stride=space.patch_size)
        self.position_embedding = nn.Parameter(0.02 * torch.randn(1, space.num_tokens, dim))
        blocks: list[nn.Module] = [TransformerBlock(1, dim, space.head_dim)]
        if MAX_DEPTH > 1:
            blocks.append(_blocks_from(2, dim, space.head_dim))
        self.blocks = nn.Sequential(*blocks)
        self.norm = nn.LayerNorm(dim)
        self.classifier = nn.Linear(dim, space.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embedding(x).flatten(2).transpose(1, 2) + self.position_embedding
        tokens = self.norm(self.blocks(tokens))
        return self.classifier(tokens.mean(dim=1))


def _randomize_layer_norms(model: nn.Module) -> nn.Module:
    """Non-trivial LayerNorm affine weights, so a compiler that drops or misplaces them shows up."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    return model


def supernet(space: ViTSpace | None = None, *, seed: int = 0) -> nn.Module:
    """The ViT supernet of ``space`` (the default options if ``None``) with deterministic weights, in eval mode."""
    space = space if space is not None else ViTSpace()
    return seeded(lambda: _randomize_layer_norms(ViTSupernet(space)), seed)
