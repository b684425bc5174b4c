"""PyTorch helpers shared by the proxies and the supernet: one architecture out of a supernet, BN handling."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping

import torch
from torch import nn

from tvm_nacos.frontend.torch import Choice
from tvm_nacos.search_space import ArchSample, SearchSpace

__all__ = [
    "ArchitectureCopier",
    "batch_norms",
    "conv_and_linear_weights",
    "remove_batch_norms",
    "reset_batch_norms",
    "torch_threads",
    "reset_layer_norms",
    "sandwich_by_parameters",
    "unclip_activations",
    "select",
]


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run PyTorch's CPU operators on ``count`` threads inside the block, then restore the setting.

    The estimators' networks are tiny: a second intra-op thread gains little, and where another
    process keeps the cores busy, PyTorch's threads wait on each other and a training that takes
    20 s alone took minutes (measured beside a benchmark on this 2-core machine).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def batch_norms(model: nn.Module) -> Iterator[nn.modules.batchnorm._BatchNorm]:
    """The batch-norm layers of ``model`` (every dimensionality)."""
    return (m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))


def reset_batch_norms(model: nn.Module) -> nn.Module:
    """Give every batch norm PyTorch's initial state: γ=1, β=0, running mean 0 and variance 1.

    The built-in spaces' networks randomize those values so that a compiler that mishandles
    batch norm shows up in numeric checks; proxies and training start from the usual init.
    """
    for bn in batch_norms(model):
        bn.reset_parameters()
    return model


def reset_layer_norms(model: nn.Module) -> nn.Module:
    """Give every LayerNorm PyTorch's initial affine weights (γ=1, β=0), as :func:`reset_batch_norms` does for batch norms."""
    for module in model.modules():
        if isinstance(module, nn.LayerNorm):
            module.reset_parameters()
    return model


def sandwich_by_parameters(supernet: nn.Module, space: SearchSpace) -> tuple[ArchSample, ArchSample]:
    """The largest and the smallest architecture of a supernet, picked choice by choice by parameters.

    For every label, the option whose modules hold the most (the fewest) parameters, summed over
    the sites where the label occurs; ties go to the earlier option. With nested choices this
    picks, for example, ``keep`` over ``skip`` for the largest and ``skip`` for the smallest.

    Parameters
    ----------
    supernet : torch.nn.Module
        A model with ``Choice`` modules.
    space : SearchSpace
        Its space.

    Returns
    -------
    tuple[ArchSample, ArchSample]
        The two architectures, canonical in ``space``.
    """
    counts: dict[str, dict[str, int]] = {}
    for choice in supernet.modules():
        if isinstance(choice, Choice):
            per_option = counts.setdefault(choice.label, {})
            for option in choice.option_names:
                size = sum(p.numel() for p in choice.option(option).parameters())
                per_option[option] = per_option.get(option, 0) + size
    largest, smallest = {}, {}
    for label in space.labels:
        options = list(space[label].options)
        sizes = [counts.get(label, {}).get(option, 0) for option in options]
        largest[label] = options[max(range(len(options)), key=lambda i: (sizes[i], -i))]
        smallest[label] = options[min(range(len(options)), key=lambda i: (sizes[i], i))]
    return space.canonicalize(largest), space.canonicalize(smallest)


def select(choices: list[Choice], sample: Mapping[str, str]) -> None:
    """Point every ``Choice`` at the option ``sample`` picks (the default for labels it leaves out).

    The sample must already be valid for the model (estimators validate it against their space).
    """
    for choice in choices:
        choice.selected = sample.get(choice.label)


def _resolve(module: nn.Module) -> nn.Module:
    while isinstance(module, Choice):
        module = module.option(module.active)
    return module


class ArchitectureCopier:
    """Copies one architecture out of a supernet, copying only the modules it uses.

    ``tvm_nacos.models._common.materialize`` deep-copies the whole supernet (all options) before
    it drops the unselected ones; for the NAS-Bench-201 supernet that is ~20× slower than the
    proxies' forward pass on small inputs. Here the selected options are swapped into their
    parents for the time of the copy, so only they are copied. The result equals
    ``BuiltinSpace.torch_reference(sample, seed=...)`` of the same seed, module for module.

    Parameters
    ----------
    supernet : torch.nn.Module
        A model with ``Choice`` modules; it is not modified (the swap is undone).
    """

    def __init__(self, supernet: nn.Module) -> None:
        self.supernet = supernet
        self.choices = [m for m in supernet.modules() if isinstance(m, Choice)]
        # Every Choice's parent and attribute name, nested ones included (their parents are
        # inside options).
        self._slots = [
            (parent, name, child)
            for parent in supernet.modules()
            for name, child in parent.named_children()
            if isinstance(child, Choice)
        ]

    def copy(self, sample: Mapping[str, str]) -> nn.Module:
        """A deep copy of the architecture ``sample``, free of ``Choice`` modules.

        Parameters
        ----------
        sample : Mapping[str, str]
            A valid architecture of the supernet's space.

        Returns
        -------
        torch.nn.Module
            The copy, in the supernet's training mode.
        """
        select(self.choices, sample)
        swapped: list[tuple[nn.Module, str, nn.Module]] = []
        try:
            for parent, name, child in self._slots:
                setattr(parent, name, _resolve(child))
                swapped.append((parent, name, child))
            return copy.deepcopy(_resolve(self.supernet))
        finally:
            for parent, name, child in reversed(swapped):
                setattr(parent, name, child)


def remove_batch_norms(model: nn.Module) -> nn.Module:
    """Replace every batch norm of ``model`` by ``nn.Identity`` (in place), as synflow does."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(parent, name, nn.Identity())
    return model


def unclip_activations(model: nn.Module) -> nn.Module:
    """Replace every clipping activation (``ReLU6``, ``Hardtanh``) of ``model`` by ``nn.ReLU`` (in place).

    Synflow runs the network on an all-ones input with non-negative weights, where every
    activation is positive and grows layer by layer: a ``ReLU6`` saturates at 6, its gradient is
    zero, and no synaptic flow reaches the layers before it (every MobileNetV2 would score its
    last layers only, the same for all architectures). ``ReLU`` is the identity on positive
    inputs, the linearization synflow intends.
    """
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Hardtanh):  # nn.ReLU6 is a Hardtanh
                setattr(parent, name, nn.ReLU())
    return model


def conv_and_linear_weights(model: nn.Module) -> Iterator[torch.Tensor]:
    """The weights of the convolutions and linear layers, the parameters the proxies score."""
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            yield module.weight
