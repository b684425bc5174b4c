"""A small real image dataset for proxies and supernets: scikit-learn's bundled handwritten digits.

:func:`load_digits_data` turns scikit-learn's ``load_digits`` (1,797 grayscale 8×8 images of the
digits 0–9, UCI; the file ships inside the scikit-learn wheel, so nothing is downloaded) into
PyTorch tensors of the shape a network expects:

1. a stratified train/validation split (per class, a seeded permutation; ``val_fraction`` of each
   class goes to validation);
2. pixel values 0…16 scaled to [0, 1], resized to ``resolution × resolution`` with bilinear
   interpolation (``torch.nn.functional.interpolate``, ``align_corners=False``; antialiased when
   shrinking) and replicated to ``channels`` channels;
3. standardized with the mean and standard deviation of the *training* pixels (one scalar each:
   the channels are copies).

.. code-block:: python

    data = load_digits_data(resolution=32, channels=3, seed=0)   # the nas-bench-201 input shape
    x, y = data.minibatch(64, seed=0)                             # a fixed, seeded training batch
    for x, y in data.batches(64, generator=torch.Generator().manual_seed(0)):
        ...                                                        # one shuffled training epoch

Everything is deterministic for a seed; no global random state is used.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np

from tvm_nacos.accuracy.image_data import ImageData, stratified_split
from tvm_nacos.search_space.validation import check_int

__all__ = ["DigitsData", "load_digits_data"]

logger = logging.getLogger(__name__)

#: Side of the original digit images, in pixels.
DIGITS_SIDE = 8
#: Classes of the digits dataset.
DIGITS_CLASSES = 10
_MAX_PIXEL = 16.0


@functools.cache
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digit images (N, 8, 8) as float64 in 0…16 and their labels, read once per process."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float64)
    labels = np.asarray(bunch.target, dtype=np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


@dataclass(frozen=True, eq=False)
class DigitsData(ImageData):
    """The digits dataset as normalized float32 tensors; build it with :func:`load_digits_data`.

    An :class:`~tvm_nacos.accuracy.image_data.ImageData` (``minibatch``, ``batches``) that also
    records how the images were made.

    Attributes
    ----------
    x_train, x_val : torch.Tensor
        Images, float32, shape ``(n, channels, resolution, resolution)``, standardized with the
        training mean and standard deviation.
    y_train, y_val : torch.Tensor
        Labels 0…9, int64, shape ``(n,)``.
    num_classes : int
        10.
    resolution, channels : int
        Side and channels of the images.
    mean, std : float
        Training-pixel statistics used for the standardization (after scaling to [0, 1] and
        resizing).
    seed : int
        Seed of the split.
    """

    resolution: int = DIGITS_SIDE
    channels: int = 1
    mean: float = 0.0
    std: float = 1.0
    seed: int = 0


def load_digits_data(
    *, resolution: int = 32, channels: int = 3, val_fraction: float = 0.25, seed: int = 0
) -> DigitsData:
    """scikit-learn's bundled digits, split, resized, replicated and standardized as tensors.

    Parameters
    ----------
    resolution : int
        Side of the output images (8 keeps the originals; 32 is the ``nas-bench-201`` input).
    channels : int
        Channels of the output images (copies of the grayscale one); 3 for RGB networks.
    val_fraction : float
        Share of each class held out for validation, strictly between 0 and 1 (0.25: 1,347
        training and 450 validation images).
    seed : int
        Seed of the split.

    Returns
    -------
    DigitsData
        The tensors and their statistics.

    Raises
    ------
    TypeError
        If an integer option is not an int.
    ValueError
        If an option is out of range (the message gives the valid range).
    """
    import torch
    from torch.nn import functional as F

    resolution = check_int("resolution", resolution, 1)
    channels = check_int("channels", channels, 1)
    seed = check_int("seed", seed, 0)
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be a float strictly between 0 and 1, got {val_fraction!r}")

    images, labels = _raw_digits()
    train_idx, val_idx = stratified_split(labels, float(val_fraction), seed)

    def prepare(indices: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(images[indices] / _MAX_PIXEL).to(torch.float32).unsqueeze(1)
        if resolution != DIGITS_SIDE:
            x = F.interpolate(
                x, size=(resolution, resolution), mode="bilinear", align_corners=False,
                antialias=resolution < DIGITS_SIDE,
            )
        return x

    x_train, x_val = prepare(train_idx), prepare(val_idx)
    mean, std = float(x_train.mean()), float(x_train.std())
    x_train = ((x_train - mean) / std).expand(-1, channels, -1, -1).contiguous()
    x_val = ((x_val - mean) / std).expand(-1, channels, -1, -1).contiguous()
    logger.debug(
        "digits: %d train / %d val images of %dx%dx%d (split seed %d)",
        len(train_idx), len(val_idx), channels, resolution, resolution, seed,
    )
    return DigitsData(
        x_train=x_train,
        y_train=torch.from_numpy(labels[train_idx].copy()),
        x_val=x_val,
        y_val=torch.from_numpy(labels[val_idx].copy()),
        num_classes=DIGITS_CLASSES,
        resolution=resolution,
        channels=channels,
        mean=mean,
        std=std,
        seed=seed,
    )
