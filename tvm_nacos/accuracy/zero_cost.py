"""Zero-cost proxies: rank untrained networks from one mini-batch (synflow, NASWOT, grad_norm).

Each proxy is an :class:`~tvm_nacos.accuracy.AccuracyEstimator` over a built-in space. It builds
the architecture with randomly initialized weights (the space's supernet of ``seed``, the
sample's options copied out of it, batch norms reset to PyTorch's initial state γ=1, β=0), and
scores it with one forward (and backward) pass on a fixed mini-batch of real images: scikit-learn's
bundled digits (:mod:`tvm_nacos.accuracy.data`), resized and replicated to the space's input shape
(32×32×3 for ``nas-bench-201``). Scores are **ranking scores, higher is better**; they are not
accuracies or percentages and their scale means nothing across proxies.

=============  ===================================================================================
proxy          score
=============  ===================================================================================
``synflow``    Tanaka et al. 2020, as used for NAS by Abdelfattah et al. 2021: batch norms removed,
               every parameter replaced by its absolute value, float64, one all-ones input;
               ``R = sum(network(1))``; score ``Σ |θ · ∂R/∂θ|`` over the weights of every
               convolution and linear layer. Data-independent; 0 when no path links input and
               output (an all-``none`` cell).
``naswot``     Mellor et al. 2021 ("without training"): batch norms in training mode (batch
               statistics), one forward pass; for every ReLU the binary code ``input > 0`` of each
               image; ``K[i, j]`` = number of units on which images ``i`` and ``j`` agree (``N_A``
               minus the Hamming distance), summed over ReLUs; score ``log |det K|``
               (``-inf`` when ``K`` is singular: the network cannot tell some images apart).
``grad_norm``  Abdelfattah et al. 2021: batch norms in training mode, cross-entropy on the
               mini-batch, one backward pass; score ``Σ ‖∂L/∂W‖₂`` over the weight tensors of every
               convolution and linear layer (one L2 norm per layer, summed).
=============  ===================================================================================

.. code-block:: python

    from tvm_nacos.accuracy import ZeroCostProxy
    synflow = ZeroCostProxy.create("synflow", space="nas-bench-201", seed=0)
    synflow.evaluate([sample_a, sample_b])      # higher is better

Cost on one core, NAS-Bench-201 at 32×32, batch 64, mean over 1,000 random cells: 0.05 s
(synflow), 0.4 s (naswot), 0.7 s (grad_norm) per architecture, one mini-batch each, so the
proxies count as cheap (``is_cheap``). Scores are deterministic for a seed on a given machine and
thread count. Measured Spearman ρ against the benchmark's CIFAR-10 accuracy: ``bench/zero_cost_rho.py``.
"""

from __future__ import annotations

import abc
import logging
import math
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import torch
from torch import nn
from torch.nn import functional as F

from tvm_nacos.accuracy._torch import (
    ArchitectureCopier,
    conv_and_linear_weights,
    remove_batch_norms,
    reset_batch_norms,
    unclip_activations,
)
from tvm_nacos.accuracy.base import AccuracyEstimator
from tvm_nacos.accuracy.data import load_digits_data
from tvm_nacos.accuracy.image_data import DataError, ImageData
from tvm_nacos.search_space import ArchSample, BuiltinSpace, get
from tvm_nacos.search_space.validation import check_int

__all__ = ["GradNormProxy", "NaswotProxy", "SynflowProxy", "ZERO_COST_PROXIES", "ZeroCostProxy"]

logger = logging.getLogger(__name__)

ProxyName = Literal["synflow", "naswot", "grad_norm"]


def _builtin_space(space: str | BuiltinSpace) -> BuiltinSpace:
    if isinstance(space, BuiltinSpace):
        return space
    if isinstance(space, str):
        return get(space)
    raise TypeError(
        f"space must be a built-in space name, a BuiltinSpace or a supernet of your own (an nn.Module with "
        f"Choice modules), got {type(space).__name__} {space!r}"
    )


class ZeroCostProxy(AccuracyEstimator):
    """Base class of the zero-cost proxies; pick one with :meth:`create`.

    Parameters
    ----------
    space : str, BuiltinSpace or torch.nn.Module
        A built-in space (``"nas-bench-201"``, ``"mobilenet-v2"``, ``"resnet"``, ``"vit"``, or
        one built with options by :func:`tvm_nacos.search_space.get`); its input shape sets the
        image size and channels. Its networks must have at least 10 outputs (the digits'
        classes). Or a supernet of your own (any ``nn.Module`` with ``Choice`` modules, scored
        with its own initial weights, batch norms reset; ``data`` required).
    batch_size : int
        Images in the mini-batch (``naswot``, ``grad_norm``; ``synflow`` uses one all-ones input).
    seed : int
        Seed of the weights, of the train/validation split and of the mini-batch draw.
    data : ImageData, optional
        Where the mini-batch comes from (your images, :class:`~tvm_nacos.accuracy.ImageData`);
        the digits at the space's input size by default. Its images must have the space's
        input shape.

    Raises
    ------
    TypeError, ValueError
        For a bad option (the message names it); :class:`~tvm_nacos.errors.UnknownSpaceError`
        for an unknown space name (the message lists the valid ones).
    """

    is_cheap: ClassVar[bool] = True
    #: The proxy's name, as :meth:`create` takes it.
    proxy: ClassVar[str]

    def __init__(
        self,
        space: str | BuiltinSpace | nn.Module = "nas-bench-201",
        *,
        batch_size: int = 64,
        seed: int = 0,
        data: ImageData | None = None,
    ) -> None:
        self._user_supernet: nn.Module | None = None
        self.builtin: BuiltinSpace | None = None
        if isinstance(space, nn.Module):
            from tvm_nacos.accuracy.supernet import _user_space

            super().__init__(_user_space(space, data, f"custom/{self.proxy}"))
            self._user_supernet = space
            input_chw = data.image_shape  # type: ignore[union-attr]  # _user_space checked the data
        else:
            self.builtin = _builtin_space(space)
            super().__init__(self.builtin.space)
            _, channels, height, width = self.builtin.input_shape
            if height != width:
                raise ValueError(f"{self.builtin.name}: the proxies need a square input, got {height}x{width}")
            input_chw = (channels, height, width)
            if data is not None and data.image_shape != input_chw:
                raise DataError(
                    f"{self.builtin.name} takes images of {channels}x{height}x{width} (C, H, W), but the data has "
                    f"{'x'.join(map(str, data.image_shape))}"
                )
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.seed = check_int("seed", seed, 0)
        self._input_chw = input_chw
        self._data = data
        self._copier: ArchitectureCopier | None = None
        self._batch: tuple[torch.Tensor, torch.Tensor] | None = None

    @classmethod
    def create(cls, name: ProxyName, space: str | BuiltinSpace = "nas-bench-201", **options: Any) -> ZeroCostProxy:
        """The proxy called ``name``.

        Parameters
        ----------
        name : {"synflow", "naswot", "grad_norm"}
            The proxy.
        space : str or BuiltinSpace
            As in the constructor.
        **options
            The constructor's keyword options (``batch_size``, ``seed``).

        Raises
        ------
        ValueError
            For an unknown proxy name (the message lists the valid ones).
        """
        if name not in ZERO_COST_PROXIES:
            raise ValueError(f"unknown zero-cost proxy {name!r}; valid proxies: {list(ZERO_COST_PROXIES)}")
        return ZERO_COST_PROXIES[name](space, **options)

    @property
    def name(self) -> str:
        """``"<space>/<proxy>"``, for example ``"nas-bench-201/synflow"`` (``"custom/..."`` for your supernet)."""
        return f"{self.builtin.name if self.builtin is not None else 'custom'}/{self.proxy}"

    # -- the network and the data ---------------------------------------------------------------

    def network(self, sample: ArchSample) -> nn.Module:
        """A freshly initialized network of ``sample`` (batch norms at PyTorch's initial state).

        The weights are those of ``space.torch_reference(sample, seed=seed)`` except for the
        batch norms, which are reset; every call returns a new copy.
        """
        if self._copier is None:
            supernet = self._user_supernet if self.builtin is None else self.builtin.torch_supernet(seed=self.seed)
            self._copier = ArchitectureCopier(supernet)
        return reset_batch_norms(self._copier.copy(sample))

    def minibatch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The fixed mini-batch (images and labels) that the proxy scores every network on."""
        if self._batch is None:
            channels, side, _ = self._input_chw
            data = self._data or load_digits_data(resolution=side, channels=channels, seed=self.seed)
            self._batch = data.minibatch(min(self.batch_size, len(data.y_train)), seed=self.seed)
        return self._batch

    # -- scoring --------------------------------------------------------------------------------

    @abc.abstractmethod
    def score(self, network: nn.Module) -> float:
        """The proxy's score of one freshly initialized network (which it may modify)."""

    def estimate(self, samples: Sequence[ArchSample]) -> list[float]:
        start = time.perf_counter()
        scores = []
        for sample in samples:
            value = self.score(self.network(sample))
            logger.debug("%s: %s -> %.6g", self.name, sample.id, value)
            scores.append(value)
        logger.info("%s: scored %d architectures in %.1f s", self.name, len(samples), time.perf_counter() - start)
        return scores


class SynflowProxy(ZeroCostProxy):
    """Synaptic flow (Tanaka et al. 2020) of the untrained network: a data-free ranking score.

    Batch norms are removed (replaced by identities, as ``synflow`` with ``bn=False`` in
    Abdelfattah et al.'s code), clipping activations (``ReLU6``) become ``ReLU`` (a saturated
    ``ReLU6`` would stop the flow to every layer before it), all parameters made non-negative (``abs``) and the network run in
    float64, so the product of weights along every path cannot overflow or cancel. With an all-ones
    input of the space's shape, ``R = sum(output)`` and the score is ``Σ |θ · ∂R/∂θ|`` over the
    weights of the convolutions and linear layers. Values span many orders of magnitude (about
    1e6 to 1e50 on ``nas-bench-201``); 0 when no path links input and output.
    """

    proxy: ClassVar[str] = "synflow"

    def score(self, network: nn.Module) -> float:
        network = unclip_activations(remove_batch_norms(network)).double().train()
        with torch.no_grad():
            for param in network.parameters():
                param.abs_()
        network.zero_grad(set_to_none=True)
        ones = torch.ones((1, *self._input_chw), dtype=torch.float64)
        network(ones).sum().backward()
        total = 0.0
        for weight in conv_and_linear_weights(network):
            if weight.grad is not None:
                total += float((weight.detach() * weight.grad).abs().sum())
        return total


class NaswotProxy(ZeroCostProxy):
    """NASWOT (Mellor et al. 2021): log-determinant of the ReLU activation-pattern kernel.

    Batch norms are in training mode (batch statistics), as in the paper's code. A forward
    pre-hook on every ``nn.ReLU``/``nn.ReLU6`` records the binary code ``input > 0`` of each
    image; ``K = Σ_relu [c cᵀ + (1 - c)(1 - c)ᵀ]`` counts, for each pair of images, the units on
    which they agree. The score is ``log |det K|`` (natural log), ``-inf`` when ``K`` is singular.
    Accumulated in float64 so that counts stay exact.
    """

    proxy: ClassVar[str] = "naswot"

    def score(self, network: nn.Module) -> float:
        images, _ = self.minibatch()
        n = len(images)
        kernel = torch.zeros((n, n), dtype=torch.float64)
        relus = [m for m in network.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
        if not relus:
            raise ValueError(f"{self.name}: the network has no nn.ReLU or nn.ReLU6 module to read codes from")

        def record(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            nonlocal kernel
            # Codes as ±1: s sᵀ = agreements − disagreements, so K = (units + s sᵀ) / 2. Float32
            # holds the integer counts exactly up to 2**24 units per ReLU.
            signs = (inputs[0].detach().reshape(n, -1) > 0).to(torch.float32) * 2.0 - 1.0
            units = signs.shape[1]
            if units > 2**24:
                raise ValueError(f"{self.name}: a ReLU with {units} units per image exceeds float32's exact counts")
            kernel = kernel + (units + (signs @ signs.T).to(torch.float64)) / 2.0

        handles = [relu.register_forward_pre_hook(record) for relu in relus]
        try:
            network.train()
            with torch.no_grad():
                network(images)
        finally:
            for handle in handles:
                handle.remove()
        sign, logdet = torch.linalg.slogdet(kernel)
        return float(logdet) if float(sign) > 0 else -math.inf


class GradNormProxy(ZeroCostProxy):
    """Gradient norm at initialization (Abdelfattah et al. 2021).

    Batch norms in training mode; cross-entropy of the network's outputs on the mini-batch's
    labels, one backward pass; the score is the sum over convolution and linear layers of the
    L2 norm of the weight gradient. 0 when the output does not depend on the input.
    """

    proxy: ClassVar[str] = "grad_norm"

    def score(self, network: nn.Module) -> float:
        images, labels = self.minibatch()
        network.train()
        network.zero_grad(set_to_none=True)
        logits = network(images)
        if logits.ndim != 2 or logits.shape[1] <= int(labels.max()):
            raise ValueError(
                f"{self.name}: the network's output {tuple(logits.shape)} is not (batch, classes) with "
                f"at least {int(labels.max()) + 1} classes"
            )
        F.cross_entropy(logits, labels).backward()
        total = 0.0
        for weight in conv_and_linear_weights(network):
            if weight.grad is not None:
                total += float(weight.grad.norm())
        return total


#: The proxies by name.
ZERO_COST_PROXIES: dict[str, type[ZeroCostProxy]] = {
    cls.proxy: cls for cls in (SynflowProxy, NaswotProxy, GradNormProxy)
}
