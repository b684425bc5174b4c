"""Image-classification data for the estimators: your own, as ``.npz`` files, numpy arrays or a ``DataLoader``.

The estimators that train or score networks (:class:`~tvm_nacos.accuracy.SupernetAccuracy`,
:class:`~tvm_nacos.accuracy.StandaloneAccuracy`, the zero-cost proxies) take an
:class:`ImageData`: a training and a validation split of images and integer labels. scikit-learn's
bundled digits (:func:`~tvm_nacos.accuracy.load_digits_data`) are the built-in demo; your data
comes in one of three ways:

- **files**: :meth:`ImageData.from_npz` reads ``.npz`` files, each with two arrays, ``images``
  (float, ``(N, C, H, W)``: channels first, as PyTorch and the Relax importer take them) and
  ``labels`` (integers ``0 … num_classes - 1``, ``(N,)``); a validation file, or a stratified
  split of the training file;
- **arrays**: :meth:`ImageData.from_arrays` takes the same as numpy arrays (or tensors);
- **a PyTorch ``DataLoader``**: :meth:`ImageData.from_loader` reads every ``(images, labels)``
  batch of a training and a validation loader once.

Images are used as given: normalize them the way your model was trained. Everything is checked
before any work (shape, dtype, NaN or infinite pixels, labels out of range, empty splits), and a
bad input is a :class:`DataError` that names the file or argument, the problem and what is valid.

.. code-block:: python

    numpy.savez("train.npz", images=x_train, labels=y_train)     # x: (N, C, H, W) float32
    numpy.savez("val.npz", images=x_val, labels=y_val)
    data = ImageData.from_npz("train.npz", "val.npz")
    estimator = SupernetAccuracy(my_space, data=data)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from tvm_nacos.errors import DataError
from tvm_nacos.search_space.validation import check_int

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

__all__ = ["DataError", "ImageData"]

logger = logging.getLogger(__name__)

Split = Literal["train", "val"]

#: The arrays a data file holds.
NPZ_KEYS = ("images", "labels")


def _as_numpy(value: Any, what: str) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as err:
        raise DataError(f"{what}: not an array ({type(value).__name__}): {err}") from None


def _checked(images: Any, labels: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``images`` as float32 ``(N, C, H, W)`` and ``labels`` as int64 ``(N,)``, or a :class:`DataError`."""
    x, y = _as_numpy(images, f"{what} images"), _as_numpy(labels, f"{what} labels")
    if x.ndim != 4:
        raise DataError(
            f"{what}: images must be 4-D (N, C, H, W), channels first; got shape {tuple(x.shape)}"
        )
    if len(x) == 0:
        raise DataError(f"{what}: no images (shape {tuple(x.shape)}); a split needs at least one")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise DataError(f"{what}: images must be numbers, got dtype {x.dtype}")
    x = x.astype(np.float32, copy=False)
    bad = ~np.isfinite(x)
    if bad.any():
        first = int(np.flatnonzero(bad.reshape(len(x), -1).any(axis=1))[0])
        raise DataError(
            f"{what}: {int(bad.sum())} NaN or infinite pixel values, the first in image {first}; "
            "every pixel must be finite"
        )
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(
            f"{what}: labels must be 1-D with one label per image ({len(x)}), got shape {tuple(y.shape)}"
        )
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise DataError(f"{what}: labels must be integers 0 … num_classes - 1, got dtype {y.dtype}")
    if y.min() < 0:
        raise DataError(f"{what}: labels must be >= 0, got {int(y.min())} (image {int(np.argmin(y))})")
    return x, y.astype(np.int64, copy=False)


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a stratified train/validation split: per class (in label order) a seeded
    permutation whose first ``val_fraction`` goes to validation; both index sets then shuffled."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = int(round(val_fraction * len(members)))
        val.append(members[:count])
        train.append(members[count:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(val))


@dataclass(frozen=True, eq=False)
class ImageData:
    """A training and a validation split of images and labels, as tensors.

    Build it with :meth:`from_arrays`, :meth:`from_npz` or :meth:`from_loader` (which check
    everything), or :func:`~tvm_nacos.accuracy.load_digits_data` for the built-in digits.

    Attributes
    ----------
    x_train, x_val : torch.Tensor
        Images, float32, ``(n, channels, height, width)``.
    y_train, y_val : torch.Tensor
        Labels ``0 … num_classes - 1``, int64, ``(n,)``.
    num_classes : int
        Classes (at least one more than the largest label).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    num_classes: int

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(channels, height, width)`` of every image."""
        return tuple(int(d) for d in self.x_train.shape[1:])  # type: ignore[return-value]

    def describe(self) -> str:
        """``"1347 train / 450 val images of 3x8x8, 10 classes"``."""
        channels, height, width = self.image_shape
        return (
            f"{len(self.y_train)} train / {len(self.y_val)} val images of {channels}x{height}x{width}, "
            f"{self.num_classes} classes"
        )

    # -- constructors --------------------------------------------------------------------------

    @classmethod
    def from_arrays(
        cls,
        train_images: Any,
        train_labels: Any,
        val_images: Any = None,
        val_labels: Any = None,
        *,
        num_classes: int | None = None,
        val_fraction: float = 0.25,
        seed: int = 0,
        source: str = "arrays",
    ) -> ImageData:
        """Data from arrays: images ``(N, C, H, W)``, labels ``(N,)``.

        Parameters
        ----------
        train_images, train_labels : array-like
            The training split (numpy arrays or tensors).
        val_images, val_labels : array-like, optional
            The validation split; without it, a stratified ``val_fraction`` of each class of the
            training arrays is held out (seeded by ``seed``).
        num_classes : int, optional
            Classes; by default one more than the largest label.
        val_fraction : float
            Share of each class held out when no validation split is given.
        seed : int
            Seed of that split.
        source : str
            How errors name the data (a file name, for example).

        Raises
        ------
        DataError
            For a wrong shape or dtype, non-finite pixels, labels out of range, an empty split,
            or splits whose images differ in shape; the message names the split and the problem.
        """
        import torch

        x_train, y_train = _checked(train_images, train_labels, f"{source}: training")
        if (val_images is None) != (val_labels is None):
            raise DataError(f"{source}: give both validation images and labels, or neither")
        if val_images is None:
            if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
                raise DataError(f"{source}: val_fraction must be strictly between 0 and 1, got {val_fraction!r}")
            train_idx, val_idx = stratified_split(y_train, float(val_fraction), check_int("seed", seed, 0))
            if len(val_idx) == 0 or len(train_idx) == 0:
                raise DataError(
                    f"{source}: {len(y_train)} images are too few to hold out {val_fraction:g} of each class; "
                    "give a validation split"
                )
            x_val, y_val = x_train[val_idx], y_train[val_idx]
            x_train, y_train = x_train[train_idx], y_train[train_idx]
        else:
            x_val, y_val = _checked(val_images, val_labels, f"{source}: validation")
            if x_val.shape[1:] != x_train.shape[1:]:
                raise DataError(
                    f"{source}: validation images are {x_val.shape[1:]} (C, H, W) but training images are "
                    f"{x_train.shape[1:]}; both splits must have one image shape"
                )
        largest = int(max(y_train.max(), y_val.max()))
        if num_classes is None:
            num_classes = largest + 1
        elif check_int("num_classes", num_classes, 1) <= largest:
            raise DataError(
                f"{source}: label {largest} is out of range for num_classes={num_classes} (valid labels: 0 … "
                f"{num_classes - 1})"
            )
        data = cls(
            x_train=torch.from_numpy(np.ascontiguousarray(x_train)),
            y_train=torch.from_numpy(np.ascontiguousarray(y_train)),
            x_val=torch.from_numpy(np.ascontiguousarray(x_val)),
            y_val=torch.from_numpy(np.ascontiguousarray(y_val)),
            num_classes=num_classes,
        )
        logger.info("%s: %s", source, data.describe())
        return data

    @classmethod
    def from_npz(
        cls,
        train: str | os.PathLike[str],
        val: str | os.PathLike[str] | None = None,
        *,
        num_classes: int | None = None,
        val_fraction: float = 0.25,
        seed: int = 0,
    ) -> ImageData:
        """Data from ``.npz`` files with the arrays ``images`` and ``labels`` (see the module docstring).

        Parameters
        ----------
        train : path
            The training file.
        val : path, optional
            The validation file; without it, a stratified split of the training file.
        num_classes, val_fraction, seed
            As in :meth:`from_arrays`.

        Raises
        ------
        DataError
            If a file is missing, empty, not an ``.npz`` archive, lacks ``images`` or ``labels``
            (the message lists the arrays it has), or its arrays are bad (as :meth:`from_arrays`).
        """
        train_x, train_y = cls._read_npz(train)
        val_x, val_y = cls._read_npz(val) if val is not None else (None, None)
        source = os.fspath(train) if val is None else f"{os.fspath(train)} + {os.fspath(val)}"
        return cls.from_arrays(
            train_x, train_y, val_x, val_y, num_classes=num_classes, val_fraction=val_fraction, seed=seed, source=source
        )

    @staticmethod
    def _read_npz(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
        name = os.fspath(path)
        if not os.path.isfile(name):
            raise DataError(f"data file {name!r} does not exist")
        if os.path.getsize(name) == 0:
            raise DataError(f"data file {name!r} is empty; expected an .npz archive with arrays {list(NPZ_KEYS)}")
        try:
            with np.load(name, allow_pickle=False) as archive:
                if not hasattr(archive, "files"):
                    raise DataError(f"data file {name!r} is a single array, not an .npz archive with {list(NPZ_KEYS)}")
                missing = [key for key in NPZ_KEYS if key not in archive.files]
                if missing:
                    raise DataError(
                        f"data file {name!r} lacks the array(s) {missing}; it has {sorted(archive.files)}, "
                        f"and a data file needs {list(NPZ_KEYS)}"
                    )
                return archive["images"], archive["labels"]
        except (OSError, ValueError) as err:
            if isinstance(err, DataError):
                raise
            raise DataError(f"cannot read data file {name!r} as an .npz archive: {err}") from None

    @classmethod
    def from_loader(
        cls,
        train: Iterable[Any],
        val: Iterable[Any] | None = None,
        *,
        num_classes: int | None = None,
        val_fraction: float = 0.25,
        seed: int = 0,
    ) -> ImageData:
        """Data from PyTorch ``DataLoader``\\ s (any iterables of ``(images, labels)`` batches), read once.

        Parameters
        ----------
        train : Iterable
            Batches of the training split.
        val : Iterable, optional
            Batches of the validation split; without it, a stratified split of the training one.
        num_classes, val_fraction, seed
            As in :meth:`from_arrays`.
        """

        def gather(loader: Iterable[Any], what: str) -> tuple[np.ndarray, np.ndarray]:
            images, labels = [], []
            for index, batch in enumerate(loader):
                if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                    raise DataError(f"{what} batch {index} is not an (images, labels) pair: {type(batch).__name__}")
                images.append(_as_numpy(batch[0], f"{what} batch {index} images"))
                labels.append(_as_numpy(batch[1], f"{what} batch {index} labels"))
            if not images:
                raise DataError(f"{what}: the loader gave no batches")
            try:
                return np.concatenate(images), np.concatenate(labels)
            except ValueError as err:
                raise DataError(f"{what}: batches of different image shapes: {err}") from None

        train_x, train_y = gather(train, "training loader")
        val_x, val_y = gather(val, "validation loader") if val is not None else (None, None)
        return cls.from_arrays(
            train_x, train_y, val_x, val_y, num_classes=num_classes, val_fraction=val_fraction, seed=seed,
            source="DataLoader",
        )

    # -- access --------------------------------------------------------------------------------

    def _split(self, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        if split == "train":
            return self.x_train, self.y_train
        if split == "val":
            return self.x_val, self.y_val
        raise ValueError(f"unknown split {split!r}; valid splits: 'train', 'val'")

    def minibatch(self, batch_size: int, *, seed: int = 0, split: Split = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """A fixed mini-batch: ``batch_size`` distinct images drawn with a seeded generator.

        Parameters
        ----------
        batch_size : int
            Images in the batch, at most the size of the split.
        seed : int
            Seed of the draw; the same seed gives the same batch.
        split : {"train", "val"}
            Where the images come from.

        Returns
        -------
        tuple[torch.Tensor, torch.Tensor]
            Images ``(batch_size, C, H, W)`` and labels ``(batch_size,)``.

        Raises
        ------
        ValueError
            If ``batch_size`` is below 1 or above the size of the split, or ``split`` is unknown.
        """
        import torch

        x, y = self._split(split)
        batch_size = check_int("batch_size", batch_size, 1)
        if batch_size > len(y):
            raise ValueError(f"batch_size {batch_size} exceeds the {len(y)} images of the {split!r} split")
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(check_int("seed", seed, 0)))
        chosen = order[:batch_size]
        return x[chosen], y[chosen]

    def batches(
        self,
        batch_size: int,
        *,
        generator: torch.Generator | None = None,
        split: Split = "train",
        drop_last: bool = False,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One pass over a split in mini-batches.

        Parameters
        ----------
        batch_size : int
            Images per batch.
        generator : torch.Generator, optional
            Shuffles the images when given (the caller seeds it and keeps it across epochs);
            without it, the images come in their stored order.
        split : {"train", "val"}
            The split to go over.
        drop_last : bool
            Leave out the last, smaller batch.

        Yields
        ------
        tuple[torch.Tensor, torch.Tensor]
            Images and labels of one batch.
        """
        import torch

        x, y = self._split(split)
        batch_size = check_int("batch_size", batch_size, 1)
        order = torch.randperm(len(y), generator=generator) if generator is not None else torch.arange(len(y))
        stop = len(y) - len(y) % batch_size if drop_last else len(y)
        for start in range(0, stop, batch_size):
            chosen = order[start : start + batch_size]
            yield x[chosen], y[chosen]
