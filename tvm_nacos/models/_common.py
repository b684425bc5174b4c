"""Helpers shared by the PyTorch models of the built-in spaces."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

from tvm_nacos.frontend.torch import Choice

__all__ = ["count_parameters", "materialize", "seeded"]

M = TypeVar("M", bound=nn.Module)


def seeded(build: Callable[[], M], seed: int) -> M:
    """Build a model with deterministic weights, without touching the global random state.

    Batch-norm layers get non-trivial affine weights and running statistics, so that a compiler
    that folds or drops them wrongly shows up in a numeric comparison.

    Parameters
    ----------
    build : Callable[[], torch.nn.Module]
        Constructs the model; its initializers draw from PyTorch's global generator.
    seed : int
        Seed of the weights.

    Returns
    -------
    torch.nn.Module
        The model, in eval mode.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = build()
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.running_mean.uniform_(-0.5, 0.5)
                    module.running_var.uniform_(0.5, 1.5)
                    if module.affine:
                        module.weight.uniform_(0.5, 1.5)
                        module.bias.uniform_(-0.5, 0.5)
    finally:
        torch.random.set_rng_state(state)
    return model.eval()


def materialize(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in which every ``Choice`` is replaced by the option it runs.

    The result holds no ``Choice`` module: it is a plain eager model of one architecture with
    the same weights, and its parameters are exactly those that architecture uses.

    Parameters
    ----------
    model : torch.nn.Module
        A model with ``Choice`` modules, usually after
        :func:`tvm_nacos.frontend.torch.apply_sample`. It is not modified.

    Returns
    -------
    torch.nn.Module
        The materialized copy, in the same training mode.
    """

    def resolve(module: nn.Module) -> nn.Module:
        while isinstance(module, Choice):
            module = module.option(module.active)
        return module

    result = resolve(copy.deepcopy(model))
    stack = [result]
    while stack:
        parent = stack.pop()
        for name, child in list(parent.named_children()):
            chosen = resolve(child)
            if chosen is not child:
                setattr(parent, name, chosen)
            stack.append(chosen)
    return result


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameter elements (batch-norm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
