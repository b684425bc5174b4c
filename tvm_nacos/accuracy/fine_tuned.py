"""Accuracy after a short fine-tune: each architecture of a Relax module trained a few epochs more.

:class:`~tvm_nacos.accuracy.InheritedAccuracy` scores an architecture with the weights it
inherits from the trained model, before it has adapted to its new shape. :class:`FineTunedAccuracy`
trains it first: the architecture is specialized, its batch norms folded, and run by PyTorch
(:class:`~tvm_nacos.accuracy.relax_torch.RelaxAsTorch`, every weight trainable) for ``epochs``
passes over the training images from the inherited weights (Adam, cosine learning rate), then
scored on the validation images. It costs a training per architecture (seconds for a small CNN):
the reference that inherited-weight accuracy is checked against (``bench/inherited_vs_finetuned.py``),
and a slower, closer estimate where the budget allows.

.. code-block:: python

    accuracy = FineTunedAccuracy(exposed_mod, data, epochs=2)
    accuracy.evaluate([sample])        # percent, after 2 epochs of fine-tuning
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch.nn import functional as F

from tvm_nacos.accuracy._torch import torch_threads
from tvm_nacos.accuracy.base import AccuracyEstimator
from tvm_nacos.accuracy.image_data import ImageData
from tvm_nacos.search_space import ArchSample
from tvm_nacos.search_space.validation import check_int, check_positive

__all__ = ["FineTunedAccuracy"]

logger = logging.getLogger(__name__)


class FineTunedAccuracy(AccuracyEstimator):
    """Top-1 validation accuracy (percent) of each architecture of ``mod`` after a short fine-tune.

    Parameters
    ----------
    mod : tvm.IRModule
        A module with choice points whose ``main`` takes one image batch and returns class scores,
        its weights bound as constants (an imported model with Expose passes applied).
    data : ImageData
        Trains on its training split, scores its validation split.
    epochs : int
        Passes over the training images (0: no training, the inherited weights as PyTorch runs them).
    learning_rate : float
        Adam's, following a cosine to 0 over the epochs.
    batch_size : int
    seed : int
        Seed of the batch order.
    num_threads : int
        PyTorch CPU threads while training (restored after).

    Attributes
    ----------
    train_secs : dict[str, float]
        Seconds each scored architecture took (specialize, train, score), by id.
    """

    is_cheap: ClassVar[bool] = False

    def __init__(
        self, mod: Any, data: ImageData, *, epochs: int = 2, learning_rate: float = 1e-3, batch_size: int = 64,
        seed: int = 0, num_threads: int = 1,
    ) -> None:
        from tvm_nacos.analysis import search_space

        super().__init__(search_space(mod))
        if not isinstance(data, ImageData):
            raise TypeError(f"data must be an ImageData (ImageData.from_npz, from_arrays, from_loader), got {type(data).__name__}")
        self.mod = mod
        self.data = data
        self.epochs = check_int("epochs", epochs, 0)
        self.learning_rate = check_positive("learning_rate", learning_rate)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.seed = check_int("seed", seed, 0)
        self.num_threads = check_int("num_threads", num_threads, 1)
        self.train_secs: dict[str, float] = {}

    @property
    def name(self) -> str:
        """``"fine-tuned/<epochs> epochs"``."""
        return f"fine-tuned/{self.epochs} epochs"

    def network(self, sample: ArchSample) -> torch.nn.Module:
        """Architecture ``sample`` as a PyTorch module with its inherited weights, trainable."""
        from tvm_nacos.accuracy.relax_torch import RelaxAsTorch
        from tvm_nacos.tuning.tasks import specialize_for_inference

        return RelaxAsTorch(specialize_for_inference(self.mod, sample=sample))

    def fine_tune(self, network: torch.nn.Module) -> torch.nn.Module:
        """``epochs`` of Adam on the training images (in place); returns ``network``."""
        parameters = [p for p in network.parameters() if p.requires_grad]
        if not self.epochs or not parameters:
            return network
        optimizer = torch.optim.Adam(parameters, lr=self.learning_rate)
        generator = torch.Generator().manual_seed(self.seed)
        total = self.epochs * math.ceil(len(self.data.y_train) / self.batch_size)
        step = 0
        network.train()
        for _ in range(self.epochs):
            for images, labels in self.data.batches(self.batch_size, generator=generator):
                for group in optimizer.param_groups:
                    group["lr"] = self.learning_rate * 0.5 * (1.0 + math.cos(math.pi * step / total))
                optimizer.zero_grad(set_to_none=True)
                F.cross_entropy(network(images), labels).backward()
                optimizer.step()
                step += 1
        network.eval()
        return network

    def predictions(self, network: torch.nn.Module) -> np.ndarray:
        """The class ``network`` predicts for each validation image."""
        with torch.no_grad():
            return np.concatenate([network(images).argmax(dim=1).numpy()
                                   for images, _ in self.data.batches(512, split="val")])

    def estimate(self, samples: Sequence[ArchSample]) -> list[float]:
        labels = self.data.y_val.numpy()
        scores = []
        with torch_threads(self.num_threads):
            for sample in samples:
                start = time.perf_counter()
                network = self.fine_tune(self.network(sample))
                scores.append(100.0 * int((self.predictions(network) == labels).sum()) / len(labels))
                self.train_secs[sample.id] = time.perf_counter() - start
                logger.debug("%s: %s -> %.2f%% in %.1f s", self.name, sample.id, scores[-1], self.train_secs[sample.id])
        return scores
