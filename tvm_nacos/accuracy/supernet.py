"""Weight-sharing accuracy: a NAS-Bench-201 supernet trained on the CPU, subnets scored with inherited weights.

:class:`SupernetAccuracy` trains one supernet of the NAS-Bench-201 cell space (every edge of
every cell holds all five operations; see :mod:`tvm_nacos.models.nas_bench_201`) on scikit-learn's
bundled digits (:mod:`tvm_nacos.accuracy.data`), then scores an architecture by the validation
accuracy of the subnet that inherits the supernet's weights, in percent.

Training uses the **sandwich rule** of Once-for-All / BigNAS: every step accumulates the gradients
of the *largest* subnet, the *smallest* subnet and ``num_random`` uniformly drawn subnets on the
same mini-batch, then takes one optimizer step. The NAS-Bench-201 cells are not nested the way
OFA's elastic kernels and widths are, so the two ends are defined by parameter count:

- largest (:data:`LARGEST`): ``nor_conv_3x3`` on every edge, the cell with the most parameters;
- smallest (:data:`SMALLEST`): ``skip_connect`` on edge 0→3 and ``none`` elsewhere, i.e. the
  cell with the fewest parameters, then the fewest operations, among those whose output depends on
  their input (the all-``none`` cell has as few parameters but cuts the network, so training it
  would teach the shared stem, reductions and head nothing).

Before a subnet is evaluated, the running statistics of the batch norms are recomputed for it on
``calib_batches`` training batches (OFA's ``set_running_statistics``): statistics gathered while
training many subnets fit none of them.

The benchmark network (C=16, N=5, 32×32) is too slow to train on two CPU cores, so the supernet
is a **smaller variant of the same network**, set by the constructor: ``channels`` (C, default
4), ``cells_per_stage`` (N, default 1) and the input ``resolution`` (default 8: the digits'
own size; stages at 8×8, 4×4 and 2×2). The search space, labels and options are exactly
``nas-bench-201``'s. The defaults are the setting ``bench/supernet_rho.py`` measures: the digits
are easy, and wider or longer-trained networks all reach ~98% on their own, so stand-alone
accuracy stops telling the cells apart (see BENCHMARKS.md for the figures).

:class:`StandaloneAccuracy` trains every architecture on its own (same network variant, data,
optimizer, schedule and epochs; weights initialized as the supernet's), the reference that
:class:`SupernetAccuracy` is measured against (``bench/supernet_rho.py``).

.. code-block:: python

    estimator = SupernetAccuracy(epochs=30, seed=0)      # trains on first use, or call fit()
    estimator.evaluate([sample])                         # validation accuracy, percent
    estimator.save("supernet.pt")
    same = SupernetAccuracy.load("supernet.pt")          # identical evaluations

Training is deterministic for a seed (on a given machine and thread count) unless
``max_train_secs`` stops it, which depends on the machine's speed.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from tvm_nacos.accuracy._torch import (
    ArchitectureCopier,
    batch_norms,
    reset_batch_norms,
    reset_layer_norms,
    sandwich_by_parameters,
    select,
    torch_threads,
)
from tvm_nacos.accuracy.base import AccuracyEstimator
from tvm_nacos.accuracy.data import load_digits_data
from tvm_nacos.accuracy.image_data import DataError, ImageData
from tvm_nacos.accuracy.weight_sharing import TrainingProgress, TrainingRecord, train_weight_sharing
from tvm_nacos.search_space import ArchSample, BuiltinSpace, NasBench201Space, SearchSpace, get
from tvm_nacos.search_space.validation import check_int, check_positive

__all__ = [
    "LARGEST",
    "SMALLEST",
    "TRAINING_VARIANTS",
    "StandaloneAccuracy",
    "SupernetAccuracy",
    "TrainingProgress",
    "TrainingRecord",
]

logger = logging.getLogger(__name__)

#: The largest NAS-Bench-201 cell (most parameters) and the smallest cell whose output depends on
#: its input (see :meth:`NasBench201Space.sandwich_samples`).
LARGEST, SMALLEST = NasBench201Space().sandwich_samples()
#: The optimizers training takes by name.
_OPTIMIZERS = ("sgd", "adamw")

_FORMAT = "tvm-nacos/supernet-accuracy"
_FORMAT_VERSION = 1
_EVAL_BATCH = 512


#: The network each built-in space trains by default when :class:`SupernetAccuracy` gets the
#: space by name: a smaller variant of the searched network (same labels and options) that trains
#: on the 8×8 digits in seconds on two CPU cores. NAS-Bench-201's variant is set by the
#: ``channels``, ``cells_per_stage`` and ``resolution`` arguments instead.
TRAINING_VARIANTS: dict[str, dict[str, Any]] = {
    "vit": {"resolution": 8, "patch_size": 2, "embed_dim": 32},
}

_NB201 = "nas-bench-201"
#: The space name of a supernet of your own (any ``nn.Module`` with ``Choice`` modules).
_CUSTOM = "custom"
_NB201_DEFAULTS = {"channels": 4, "cells_per_stage": 1, "resolution": 8}


def _network(
    space: str | BuiltinSpace, network_options: Mapping[str, Any] | None, nb201: Mapping[str, int | None]
) -> tuple[BuiltinSpace, dict[str, Any]]:
    """The built-in space the estimator trains, and the options of its network.

    For NAS-Bench-201 the network options are ``channels``, ``cells_per_stage`` and
    ``resolution`` (the benchmark's space has no options of its own); for every other space they
    are the space's options (:data:`TRAINING_VARIANTS` when the space is given by name).
    """
    if isinstance(space, str):
        if network_options is not None and space == _NB201:
            raise TypeError(
                f"network_options does not apply to {_NB201!r}; set channels, cells_per_stage and resolution"
            )
        builtin = get(space, **(network_options if network_options is not None else TRAINING_VARIANTS.get(space, {})))
    elif isinstance(space, BuiltinSpace):
        if network_options is not None:
            raise TypeError(
                f"network_options applies to a space given by name; {space.name!r} was given as a space object "
                f"with its options {space.options()}"
            )
        builtin = space
    else:
        raise TypeError(
            f"space must be a built-in space name, a BuiltinSpace or a supernet of your own (an nn.Module with "
            f"Choice modules), got {type(space).__name__} {space!r}"
        )
    if builtin.name == _NB201:
        return builtin, {key: _NB201_DEFAULTS[key] if value is None else value for key, value in nb201.items()}
    given = [key for key, value in nb201.items() if value is not None]
    if given:
        raise TypeError(
            f"{given} apply to {_NB201!r} only; the {builtin.name!r} network is set by the space's options "
            f"({sorted(builtin.options())}), e.g. get({builtin.name!r}, ...) or network_options"
        )
    return builtin, builtin.options()


def _user_space(model: nn.Module, data: ImageData | None, what: str) -> SearchSpace:
    """The space of a supernet of your own, once it is known to take ``data``'s images."""
    from tvm_nacos.frontend.torch import torch_search_space

    if data is None:
        raise DataError(f"{what}: a supernet of your own trains and scores on your images; give data=ImageData...")
    if not isinstance(data, ImageData):
        raise TypeError(f"data must be an ImageData (ImageData.from_npz, from_arrays, from_loader), got {type(data).__name__}")
    space = torch_search_space(model)
    if not space.labels:
        raise ValueError(f"{what}: the model has no Choice module (tvm_nacos.frontend.torch.Choice) to search")
    training = model.training
    try:
        with torch.no_grad():
            out = model.eval()(data.x_train[:2])
    except Exception as err:  # noqa: BLE001 - any failure of the user's forward is reported with the shape
        raise DataError(
            f"{what}: the supernet cannot take the data's images of {'x'.join(map(str, data.image_shape))} "
            f"(C, H, W): {type(err).__name__}: {err}"
        ) from None
    finally:
        model.train(training)
    if out.ndim != 2 or out.shape[1] < data.num_classes:
        raise DataError(
            f"{what}: the supernet returns {tuple(out.shape)} for 2 images; it needs (2, classes >= {data.num_classes})"
        )
    return space


@dataclass(frozen=True)
class _Setup:
    """The network, data and optimizer shared by supernet and stand-alone training."""

    space: str = _NB201
    network: tuple[tuple[str, Any], ...] = tuple(_NB201_DEFAULTS.items())
    epochs: int = 10
    max_train_secs: float | None = None
    batch_size: int = 64
    optimizer: Literal["sgd", "adamw"] = "sgd"
    learning_rate: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    val_fraction: float = 0.25
    seed: int = 0
    data_seed: int = 0
    num_threads: int = 1

    def __post_init__(self) -> None:
        if self.space == _NB201:
            options = dict(self.network)
            check_int("channels", options["channels"], 1)
            check_int("cells_per_stage", options["cells_per_stage"], 1)
            check_int("resolution", options["resolution"], 4)
        check_int("epochs", self.epochs, 1)
        check_positive("max_train_secs", self.max_train_secs, allow_none=True)
        check_int("batch_size", self.batch_size, 2)
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; valid: {list(_OPTIMIZERS)}")
        check_positive("learning_rate", self.learning_rate)
        check_positive("momentum", self.momentum, allow_zero=True)
        check_positive("weight_decay", self.weight_decay, allow_zero=True)
        check_int("seed", self.seed, 0)
        check_int("data_seed", self.data_seed, 0)
        check_int("num_threads", self.num_threads, 1)
        if isinstance(self.val_fraction, bool) or not isinstance(self.val_fraction, (int, float)) or not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be a float strictly between 0 and 1, got {self.val_fraction!r}")

    @classmethod
    def create(
        cls,
        space: str | BuiltinSpace | nn.Module,
        network_options: Mapping[str, Any] | None,
        nb201: Mapping[str, int | None],
        **training: Any,
    ) -> _Setup:
        if isinstance(space, nn.Module):
            given = [key for key, value in nb201.items() if value is not None]
            if given or network_options is not None:
                raise TypeError(
                    f"{given or ['network_options']} set a built-in space's network; a supernet of your own "
                    "is trained as given"
                )
            return cls(space=_CUSTOM, network=(("model", type(space).__name__),), **training)
        builtin, options = _network(space, network_options, nb201)
        return cls(space=builtin.name, network=tuple(options.items()), **training)

    def options(self) -> dict[str, Any]:
        """The estimator's constructor arguments that set this up."""
        options = dataclasses.asdict(self)
        network = dict(options.pop("network"))
        if self.space == _NB201:
            return {**options, **network}
        return {**options, "network_options": network}

    def builtin(self) -> BuiltinSpace:
        """The built-in space whose network trains (NAS-Bench-201's has no options)."""
        return get(self.space) if self.space == _NB201 else get(self.space, **dict(self.network))

    def tag(self) -> str:
        options = dict(self.network)
        if self.space == _NB201:
            return f"C={options['channels']},N={options['cells_per_stage']},{options['resolution']}px"
        return ",".join(f"{key}={value}" for key, value in options.items())

    def resolution(self) -> tuple[int, int]:
        """Channels and side of the images the network takes."""
        if self.space == _NB201:
            return 3, dict(self.network)["resolution"]
        _, channels, height, width = self.builtin().input_shape
        if height != width:
            raise ValueError(f"{self.space}: training on the digits needs a square input, got {height}x{width}")
        return channels, height

    def check_data(self, data: ImageData | None) -> ImageData | None:
        """``data`` if the trained network takes its images and has outputs for its classes."""
        if data is None:
            return None
        if not isinstance(data, ImageData):
            raise TypeError(f"data must be an ImageData (ImageData.from_npz, from_arrays, from_loader), got {type(data).__name__}")
        channels, side = self.resolution()
        if data.image_shape != (channels, side, side):
            raise DataError(
                f"the {self.space} network trained here takes images of {channels}x{side}x{side} (C, H, W), "
                f"but the data has {'x'.join(map(str, data.image_shape))}; build the space with a matching "
                "resolution (network_options or a space object), or resize the data"
            )
        outputs = dict(self.network).get("num_classes", 10)
        if data.num_classes > outputs:
            raise DataError(
                f"the data has {data.num_classes} classes but the {self.space} network has {outputs} outputs; "
                "set the space's num_classes"
            )
        return data

    def data(self) -> ImageData:
        channels, side = self.resolution()
        return load_digits_data(resolution=side, channels=channels, val_fraction=self.val_fraction, seed=self.data_seed)

    def supernet(self) -> nn.Module:
        """The supernet with PyTorch's initial normalization layers (γ=1, β=0, fresh statistics)."""
        if self.space == _NB201:
            from tvm_nacos.models.nas_bench_201 import supernet

            options = dict(self.network)
            model = supernet(
                channels=options["channels"], cells_per_stage=options["cells_per_stage"], num_classes=10, seed=self.seed
            )
        else:
            model = self.builtin().torch_supernet(seed=self.seed)
        return reset_layer_norms(reset_batch_norms(model))

    def make_optimizer(self, parameters: Any) -> torch.optim.Optimizer:
        if self.optimizer == "adamw":
            return torch.optim.AdamW(parameters, lr=self.learning_rate, weight_decay=self.weight_decay)
        return torch.optim.SGD(
            parameters,
            lr=self.learning_rate,
            momentum=self.momentum,
            nesterov=self.momentum > 0,
            weight_decay=self.weight_decay,
        )


def _accuracy_percent(model: nn.Module, data: ImageData) -> float:
    """Top-1 accuracy on the validation split, in percent (model in eval mode)."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for images, labels in data.batches(_EVAL_BATCH, split="val"):
            correct += int((model(images).argmax(dim=1) == labels).sum())
    return 100.0 * correct / len(data.y_val)


class SupernetAccuracy(AccuracyEstimator):
    """Validation accuracy (percent) of NAS-Bench-201 cells with weights inherited from a trained supernet.

    See the module docstring for the training recipe (sandwich rule, BN recalibration) and the
    network variant. The supernet trains on the first :meth:`evaluate` unless :meth:`fit` or
    :meth:`load` came first.

    Parameters
    ----------
    space : str, BuiltinSpace or torch.nn.Module
        The space whose supernet trains: ``"nas-bench-201"`` (the default), another built-in
        space by name (its network of :data:`TRAINING_VARIANTS`, or of ``network_options``), a
        space object with its options (its network exactly), or **a supernet of your own**: any
        ``nn.Module`` with :class:`~tvm_nacos.frontend.torch.Choice` modules, trained in place
        on ``data`` (required then); its sandwich ends are the options with the most and the
        fewest parameters.
    network_options : Mapping[str, Any], optional
        The options of the trained network for a space given by name other than NAS-Bench-201
        (``{"resolution": 8, "patch_size": 2, "embed_dim": 32}`` for ``"vit"``).
    data : ImageData, optional
        The images to train and validate on (:class:`~tvm_nacos.accuracy.ImageData`: your own
        ``.npz`` files, arrays or ``DataLoader``); scikit-learn's digits by default. Their
        shape must be the network's input, their classes at most its outputs.
    channels : int, optional
        NAS-Bench-201 only: width of the first stage (C; default 4); the benchmark's has 16.
    cells_per_stage : int, optional
        NAS-Bench-201 only: cells per stage (N; default 1); the benchmark's has 5.
    resolution : int, optional
        NAS-Bench-201 only: side of the input images (default 8; the 8×8 digits are resized
        to it). Other spaces take it from their options.
    epochs : int
        Passes over the training split (1,347 images at the default split).
    max_train_secs : float, optional
        Stop training after this many wall-clock seconds even if ``epochs`` are not done (the
        cosine schedule is then cut short). Makes training depend on the machine's speed.
    batch_size : int
        Images per step; every subnet of a step sees the same batch.
    optimizer : {"sgd", "adamw"}
        SGD with Nesterov momentum (the default, as NAS-Bench-201 trains), or AdamW (which
        transformers train better with: use it with a ``learning_rate`` near 1e-3).
    learning_rate, momentum, weight_decay : float
        The optimizer's; the learning rate follows a cosine from ``learning_rate`` to 0 over
        ``epochs``. ``momentum`` is SGD's only.
    num_random : int
        Uniformly drawn subnets per step, besides the largest and the smallest.
    calib_batches : int
        Training batches of ``batch_size`` images used to recompute batch-norm statistics for each
        evaluated subnet (a fixed, seeded selection).
    val_fraction : float
        Share of each class held out for validation.
    seed : int
        Seed of the weights, of the batch order and of the random subnets.
    data_seed : int
        Seed of the train/validation split and of the calibration images.
    num_threads : int
        PyTorch CPU threads while training and evaluating (the setting is restored after): the
        networks are tiny, and on a busy machine more threads wait on each other.
    distill : bool
        In-place distillation (Once-for-All, BigNAS): the subnets of a step other than the
        largest learn from the largest's predictions instead of the labels
        (:mod:`tvm_nacos.accuracy.weight_sharing`).
    checkpoint : path, optional
        Save the training after every epoch to this file, and continue from it when it exists
        (same options, else ``ValueError``): an interrupted training resumes after its last
        epoch and ends as an uninterrupted one would.
    progress : callable, optional
        Called with a :class:`~tvm_nacos.accuracy.weight_sharing.TrainingProgress` after every
        epoch.

    Raises
    ------
    TypeError, ValueError
        For a bad option; the message names it and the valid range (or choices).
    UnknownSpaceError
        For an unknown space name; the message lists the built-in spaces.
    """

    is_cheap: ClassVar[bool] = False

    def __init__(
        self,
        space: str | BuiltinSpace = _NB201,
        *,
        network_options: Mapping[str, Any] | None = None,
        data: ImageData | None = None,
        channels: int | None = None,
        cells_per_stage: int | None = None,
        resolution: int | None = None,
        epochs: int = 10,
        max_train_secs: float | None = None,
        batch_size: int = 64,
        optimizer: Literal["sgd", "adamw"] = "sgd",
        learning_rate: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        num_random: int = 2,
        calib_batches: int = 4,
        val_fraction: float = 0.25,
        seed: int = 0,
        data_seed: int = 0,
        num_threads: int = 1,
        distill: bool = False,
        checkpoint: str | os.PathLike[str] | None = None,
        progress: Callable[[TrainingProgress], None] | None = None,
    ) -> None:
        self.setup = _Setup.create(
            space,
            network_options,
            {"channels": channels, "cells_per_stage": cells_per_stage, "resolution": resolution},
            epochs=epochs,
            max_train_secs=max_train_secs,
            batch_size=batch_size,
            optimizer=optimizer,
            learning_rate=learning_rate,
            momentum=momentum,
            weight_decay=weight_decay,
            val_fraction=val_fraction,
            seed=seed,
            data_seed=data_seed,
            num_threads=num_threads,
        )
        self.num_random = check_int("num_random", num_random, 0)
        self.calib_batches = check_int("calib_batches", calib_batches, 1)
        if not isinstance(distill, bool):
            raise TypeError(f"distill must be True or False, got {distill!r}")
        self.distill = distill
        self.checkpoint = checkpoint
        self.progress = progress
        if isinstance(space, nn.Module):
            search = _user_space(space, data, f"custom/supernet({type(space).__name__})")
            super().__init__(search)
            self._model = space
            self._sandwich = sandwich_by_parameters(space, search)
            self._data: ImageData | None = data
        else:
            builtin = self.setup.builtin()
            super().__init__(builtin.space)
            self._model = self.setup.supernet()
            self._sandwich = builtin.sandwich_samples() or sandwich_by_parameters(self._model, builtin.space)
            self._data = self.setup.check_data(data)
        self._copier = ArchitectureCopier(self._model)
        self._record: TrainingRecord | None = None

    @property
    def name(self) -> str:
        """``"<space>/supernet(<network>)"``, e.g. ``"nas-bench-201/supernet(C=4,N=1,8px)"``."""
        return f"{self.setup.space}/supernet({self.setup.tag()})"

    @property
    def sandwich(self) -> tuple[ArchSample, ArchSample]:
        """The largest and the smallest architecture, trained at every step."""
        return self._sandwich

    @property
    def data(self) -> ImageData:
        """The images the supernet trains and validates on: the ``data`` given, or the digits."""
        if self._data is None:
            self._data = self.setup.data()
        return self._data

    @property
    def supernet(self) -> nn.Module:
        """The PyTorch supernet (its ``Choice`` modules point at the last subnet used)."""
        return self._model

    @property
    def record(self) -> TrainingRecord | None:
        """The training run, or ``None`` before training (after :meth:`load`: the saved run's)."""
        return self._record

    @property
    def trained(self) -> bool:
        """Whether the supernet has been trained (or loaded)."""
        return self._record is not None

    def options(self) -> dict[str, Any]:
        """The constructor's arguments that reproduce this estimator (JSON-compatible)."""
        options = {**self.setup.options(), "num_random": self.num_random, "calib_batches": self.calib_batches}
        return {**options, "distill": True} if self.distill else options

    def fit(self) -> SupernetAccuracy:
        """Train the supernet (further, from its current weights, if it was trained before).

        Clears the cache of evaluations.

        Returns
        -------
        SupernetAccuracy
            ``self``.
        """
        rng = np.random.default_rng(self.setup.seed)

        def sandwich() -> list[Mapping[str, str]]:
            return [*self._sandwich] + [self.space.sample(rng) for _ in range(self.num_random)]  # type: ignore[union-attr]

        logger.info(
            "%s: training, %d epochs%s, %d subnets per step",
            self.name,
            self.setup.epochs,
            "" if self.setup.max_train_secs is None else f" or {self.setup.max_train_secs:g} s",
            2 + self.num_random,
        )
        with torch_threads(self.setup.num_threads):
            self._record = train_weight_sharing(
                self._model, sandwich, self._copier.choices, self.data, self.setup, self.name, rng=rng,
                distill=self.distill, checkpoint=self.checkpoint, identity=self.options(), progress=self.progress,
            )
        self.clear_cache()
        logger.info(
            "%s: trained %d steps (%.2f epochs) in %.1f s, final loss %.4f",
            self.name,
            self._record.steps,
            self._record.epochs,
            self._record.train_secs,
            self._record.final_loss,
        )
        return self

    def _recalibrate(self, sample: ArchSample) -> None:
        """Recompute the batch-norm running statistics of the subnet ``sample`` on training batches."""
        select(self._copier.choices, sample)
        images, _ = self.data.minibatch(
            min(self.calib_batches * self.setup.batch_size, len(self.data.y_train)), seed=self.setup.data_seed
        )
        norms = list(batch_norms(self._model))
        momenta = [bn.momentum for bn in norms]
        for bn in norms:
            bn.reset_running_stats()
            bn.momentum = None  # a cumulative average over the calibration batches
        self._model.train()
        try:
            with torch.no_grad():
                for chunk in images.split(self.setup.batch_size):
                    self._model(chunk)
        finally:
            for bn, momentum in zip(norms, momenta, strict=True):
                bn.momentum = momentum
            self._model.eval()

    def estimate(self, samples: Sequence[ArchSample]) -> list[float]:
        if not self.trained:
            self.fit()
        start = time.perf_counter()
        scores = []
        with torch_threads(self.setup.num_threads):
            for sample in samples:
                self._recalibrate(sample)
                scores.append(_accuracy_percent(self._model, self.data))
                logger.debug("%s: %s -> %.2f%%", self.name, sample.id, scores[-1])
        logger.info("%s: evaluated %d subnets in %.1f s", self.name, len(samples), time.perf_counter() - start)
        return scores

    # -- persistence ----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the trained supernet, its options and its training record to ``path``.

        Raises
        ------
        RuntimeError
            If the supernet has not been trained yet (call :meth:`fit`).
        """
        if self._record is None:
            raise RuntimeError(f"{self.name}: the supernet is not trained; call fit() before save({str(path)!r})")
        torch.save(
            {
                "format": _FORMAT,
                "version": _FORMAT_VERSION,
                "options": self.options(),
                "record": self._record.to_dict(),
                "state_dict": self._model.state_dict(),
            },
            os.fspath(path),
        )
        logger.info("%s: saved to %s", self.name, os.fspath(path))

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, supernet: nn.Module | None = None, data: ImageData | None = None
    ) -> SupernetAccuracy:
        """A trained estimator read back from a file of :meth:`save`.

        Parameters
        ----------
        path : path
            The file.
        supernet : torch.nn.Module, optional
            For a supernet of your own: a model of the same class and shapes to load the weights
            into (the file holds weights, not code).
        data : ImageData, optional
            The data to score on (required with ``supernet``; a built-in space's estimator
            otherwise uses the digits).

        Raises
        ------
        ValueError
            If the file is not a saved ``SupernetAccuracy`` of a version this code reads, or it
            holds a supernet of your own and ``supernet`` is not given.
        """
        payload = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
            raise ValueError(f"{os.fspath(path)!r} is not a saved SupernetAccuracy (format {_FORMAT!r})")
        if payload.get("version") != _FORMAT_VERSION:
            raise ValueError(
                f"{os.fspath(path)!r} has SupernetAccuracy format version {payload.get('version')!r}; "
                f"this code reads version {_FORMAT_VERSION}"
            )
        options = dict(payload["options"])
        if options.get("space") == _CUSTOM:
            if supernet is None:
                raise ValueError(
                    f"{os.fspath(path)!r} holds the weights of a supernet of your own "
                    f"({options.get('network_options', {}).get('model')}); pass supernet= (and data=)"
                )
            options.pop("space")
            options.pop("network_options", None)
            estimator = cls(supernet, data=data, **options)
        else:
            estimator = cls(**options, **({"data": data} if data is not None else {}))
        estimator._model.load_state_dict(payload["state_dict"])
        estimator._record = TrainingRecord.from_dict(payload["record"])
        logger.info("%s: loaded from %s", estimator.name, os.fspath(path))
        return estimator


class StandaloneAccuracy(AccuracyEstimator):
    """Validation accuracy (percent) of NAS-Bench-201 cells, each trained from scratch on the digits.

    The reference for :class:`SupernetAccuracy`: the same network variant, data, optimizer and
    schedule, each architecture trained alone for ``epochs`` (or ``max_train_secs`` per
    architecture) from the initial weights it has inside the supernet of ``seed``, then evaluated
    with the batch-norm statistics of its own training. Expensive: one training per architecture.

    Parameters
    ----------
    space, network_options, data, channels, cells_per_stage, resolution, epochs, max_train_secs
        As in :class:`SupernetAccuracy`; ``max_train_secs`` bounds each architecture's training.
    batch_size, optimizer, learning_rate, momentum, weight_decay, val_fraction, seed, data_seed, num_threads
        As in :class:`SupernetAccuracy`.

    Attributes
    ----------
    records : dict[str, TrainingRecord]
        The training run of every architecture trained so far, by sample id.
    """

    is_cheap: ClassVar[bool] = False

    def __init__(
        self,
        space: str | BuiltinSpace = _NB201,
        *,
        network_options: Mapping[str, Any] | None = None,
        data: ImageData | None = None,
        channels: int | None = None,
        cells_per_stage: int | None = None,
        resolution: int | None = None,
        epochs: int = 10,
        max_train_secs: float | None = None,
        batch_size: int = 64,
        optimizer: Literal["sgd", "adamw"] = "sgd",
        learning_rate: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        val_fraction: float = 0.25,
        seed: int = 0,
        data_seed: int = 0,
        num_threads: int = 1,
        distill: bool = False,
        checkpoint: str | os.PathLike[str] | None = None,
        progress: Callable[[TrainingProgress], None] | None = None,
    ) -> None:
        self.setup = _Setup.create(
            space,
            network_options,
            {"channels": channels, "cells_per_stage": cells_per_stage, "resolution": resolution},
            epochs=epochs,
            max_train_secs=max_train_secs,
            batch_size=batch_size,
            optimizer=optimizer,
            learning_rate=learning_rate,
            momentum=momentum,
            weight_decay=weight_decay,
            val_fraction=val_fraction,
            seed=seed,
            data_seed=data_seed,
            num_threads=num_threads,
        )
        self._user_supernet: nn.Module | None = None
        if isinstance(space, nn.Module):
            super().__init__(_user_space(space, data, f"custom/standalone({type(space).__name__})"))
            self._user_supernet = copy.deepcopy(space)  # every architecture starts from these weights
            self._data: ImageData | None = data
        else:
            super().__init__(self.setup.builtin().space)
            self._data = self.setup.check_data(data)
        self._copier: ArchitectureCopier | None = None
        self.records: dict[str, TrainingRecord] = {}

    @property
    def name(self) -> str:
        """``"<space>/standalone(<network>)"``, e.g. ``"nas-bench-201/standalone(C=4,N=1,8px)"``."""
        return f"{self.setup.space}/standalone({self.setup.tag()})"

    def estimate(self, samples: Sequence[ArchSample]) -> list[float]:
        if self._data is None:
            self._data = self.setup.data()
        if self._copier is None:
            supernet = self._user_supernet if self._user_supernet is not None else self.setup.supernet()
            self._copier = ArchitectureCopier(supernet)
        scores = []
        for sample in samples:
            network = self._copier.copy(sample)
            with torch_threads(self.setup.num_threads):
                record = train_weight_sharing(network, lambda: [{}], [], self._data, self.setup, f"{self.name} {sample.id}")
                scores.append(_accuracy_percent(network, self._data))
            self.records[sample.id] = record
            logger.info(
                "%s: %s trained %d steps in %.1f s -> %.2f%%", self.name, sample.id, record.steps, record.train_secs, scores[-1]
            )
        return scores
