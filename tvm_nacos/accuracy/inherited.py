"""Accuracy with inherited weights, run by TVM: the validation accuracy of each architecture of a Relax module.

For a module you bring (a trained model imported with ``tvm_nacos.from_torch`` and its NAS moves
exposed with the ``Expose*`` passes, ``init="inherit"``, or any module with choice points),
:class:`InheritedAccuracy` scores an architecture by what the very module the search compiles
predicts: the architecture is specialized (:class:`~tvm_nacos.passes.SpecializeArch`),
compiled for the CPU without tuning, and run on your validation images; the score is top-1
accuracy in percent. No PyTorch is needed, and what is scored is what ships.

Each architecture costs one compile (about a second for a small CNN) and one pass over the
validation images in batches of the module's own batch size.

.. code-block:: python

    mod = ExposeKernelSize(init="inherit")(from_torch(trained_model, (x,)))
    data = ImageData.from_npz("train.npz", "val.npz")
    accuracy = InheritedAccuracy(mod, data)
    accuracy.evaluate([sample])                   # [percent of the validation images right]

With ``recalibrate_batches=k``, each architecture's batch norms get new running statistics
from ``k`` batches of the training images first (:func:`~tvm_nacos.accuracy.relax_batch_norm.recalibrate_batch_norms`,
on the Relax module before the batch norms are folded): an option whose weights are derived
rather than trained (a slimmer width, a cut kernel, a skipped block) changes what its batch norms
see. Without it (the default) the statistics are the trained model's. No fine-tuning is done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from tvm_nacos.accuracy.base import AccuracyEstimator
from tvm_nacos.accuracy.image_data import DataError, ImageData
from tvm_nacos.search_space import ArchSample

__all__ = ["InheritedAccuracy"]

logger = logging.getLogger(__name__)


class InheritedAccuracy(AccuracyEstimator):
    """Top-1 validation accuracy (percent) of each architecture of ``mod``, compiled and run by TVM.

    Parameters
    ----------
    mod : tvm.IRModule
        A module with choice points whose ``main`` takes one float32 image batch ``(B, C, H, W)``
        and returns class scores ``(B, classes)``.
    data : ImageData
        The validation split (``x_val``, ``y_val``) is scored; its images must have the module's
        ``(C, H, W)``.
    target : target, optional
        Where the architectures run; the host CPU by default.
    max_images : int, optional
        Score the first ``max_images`` validation images only (faster, coarser).
    recalibrate_batches : int
        Batches of training images to recalibrate each architecture's batch norms on (0: keep
        the module's statistics).
    recalibrate_batch_size : int
        Images per recalibration batch.

    Raises
    ------
    DataError
        If the images do not fit the module's input, or the module has fewer outputs than the
        data has classes.
    """

    is_cheap: ClassVar[bool] = False

    def __init__(
        self, mod: Any, data: ImageData, *, target: Any = None, max_images: int | None = None,
        recalibrate_batches: int = 0, recalibrate_batch_size: int = 32,
    ) -> None:
        from tvm_nacos.analysis import search_space
        from tvm_nacos.target import as_target

        super().__init__(search_space(mod))
        if not isinstance(data, ImageData):
            raise TypeError(f"data must be an ImageData (ImageData.from_npz, from_arrays, from_loader), got {type(data).__name__}")
        self.mod = mod
        self.data = data
        self.target = as_target(target)
        params = mod["main"].params
        if len(params) != 1:
            raise DataError(f"InheritedAccuracy needs a main that takes one image batch; it takes {len(params)} inputs")
        shape = [int(d) for d in params[0].ty.shape.values]
        if len(shape) != 4 or tuple(shape[1:]) != data.image_shape:
            raise DataError(
                f"the module takes {tuple(shape)} but the images are {data.image_shape} (C, H, W); "
                "give images of the module's input shape"
            )
        self.batch = shape[0]
        self.dtype = str(params[0].ty.dtype)
        count = len(data.y_val)
        self.max_images = count if max_images is None else min(count, int(max_images))
        if self.max_images < 1:
            raise DataError(f"max_images must be at least 1, got {max_images!r}")
        if recalibrate_batches < 0 or recalibrate_batch_size < 2:
            raise ValueError(
                f"recalibrate_batches must be >= 0 and recalibrate_batch_size >= 2, got {recalibrate_batches} "
                f"and {recalibrate_batch_size}"
            )
        self.recalibrate_batches = recalibrate_batches
        self.recalibrate_batch_size = recalibrate_batch_size

    @property
    def name(self) -> str:
        """``"inherited/<n> val images"``."""
        return f"inherited/{self.max_images} val images"

    def predictions(self, sample: ArchSample) -> np.ndarray:
        """The class TVM predicts for each scored validation image of architecture ``sample``."""
        import tvm
        from tvm import relax

        from tvm_nacos.target import device_for
        from tvm_nacos.tuning.compile import compile_architecture

        if self.recalibrate_batches:
            from tvm_nacos.accuracy.relax_batch_norm import recalibrate_batch_norms
            from tvm_nacos.passes import SpecializeArch

            specialized = recalibrate_batch_norms(SpecializeArch(sample)(self.mod), self.calibration_batches(), target=self.target)
            compiled = compile_architecture(specialized, self.target)
        else:
            compiled = compile_architecture(self.mod, self.target, sample=sample)
        device = device_for(self.target)
        vm = relax.VirtualMachine(compiled.executable, device)
        images = self.data.x_val[: self.max_images].numpy().astype(self.dtype)
        predicted = []
        for start in range(0, len(images), self.batch):
            chunk = images[start : start + self.batch]
            filled = len(chunk)
            if filled < self.batch:  # the module's batch is static: pad the last chunk
                chunk = np.concatenate([chunk, np.zeros((self.batch - filled, *chunk.shape[1:]), chunk.dtype)])
            scores = vm["main"](tvm.runtime.tensor(chunk, device)).numpy()
            if scores.ndim != 2 or scores.shape[1] < self.data.num_classes:
                raise DataError(
                    f"{self.name}: the module returns {scores.shape}, not (batch, classes >= {self.data.num_classes})"
                )
            predicted.append(scores[:filled].argmax(axis=1))
        return np.concatenate(predicted)

    def calibration_batches(self) -> list[np.ndarray]:
        """The training images batch norms are recalibrated on: ``recalibrate_batches`` batches
        of ``recalibrate_batch_size``, the first training images in order."""
        images = self.data.x_train.numpy().astype(self.dtype)
        size = min(self.recalibrate_batch_size, len(images))
        count = min(self.recalibrate_batches, len(images) // size)
        return [images[i * size : (i + 1) * size] for i in range(count)]

    def estimate(self, samples: Sequence[ArchSample]) -> list[float]:
        labels = self.data.y_val[: self.max_images].numpy()
        scores = []
        for sample in samples:
            start = time.perf_counter()
            correct = int((self.predictions(sample) == labels).sum())
            scores.append(100.0 * correct / len(labels))
            logger.debug("%s: %s -> %.2f%% in %.2f s", self.name, sample.id, scores[-1], time.perf_counter() - start)
        return scores
