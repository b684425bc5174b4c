"""The weight-sharing training loop: sandwich steps, in-place distillation, checkpoints, progress.

:class:`~tvm_nacos.accuracy.SupernetAccuracy` trains any supernet built with
:class:`~tvm_nacos.frontend.torch.Choice` (the built-in spaces' and yours) here, and
:class:`~tvm_nacos.accuracy.supernet.StandaloneAccuracy` trains each architecture alone with the
same loop. Every step accumulates the gradients of several subnets on one mini-batch (the
sandwich rule: the largest, the smallest and random ones), then steps once; the learning rate
follows a cosine over the epochs.

- **In-place distillation** (Once-for-All, BigNAS; ``distill=True``): the first subnet of each
  step (the largest) learns from the labels; the others learn from its predictions on the same
  batch (soft cross-entropy against its detached softmax), so the small subnets follow the best
  teacher the supernet has, at no extra forward pass.
- **Checkpoints** (``checkpoint=PATH``): after every epoch the weights, the optimizer, the batch
  order's and the subnet sampler's random states, the step and the time spent are written
  atomically; a training started again with the same path and options continues after the last
  epoch saved and ends with the weights an uninterrupted training would have (same machine and
  threads). A checkpoint of other options is refused, naming them.
- **Progress** (``progress=callback``): a :class:`TrainingProgress` after every epoch.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tvm_nacos.accuracy._torch import select
from tvm_nacos.accuracy.image_data import ImageData

__all__ = ["TrainingProgress", "TrainingRecord", "train_weight_sharing"]

logger = logging.getLogger(__name__)

_CHECKPOINT_FORMAT = "tvm-nacos/weight-sharing-training"
_CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class TrainingRecord:
    """What one training run did.

    Attributes
    ----------
    steps : int
        Optimizer steps taken.
    epochs : float
        Passes over the training split (fractional when ``max_train_secs`` stopped it).
    train_secs : float
        Wall-clock seconds of training (of every run of a resumed training).
    cpu_secs : float
        CPU seconds of the process during training (all threads).
    stopped_by : {"epochs", "max_train_secs"}
        Which budget ended training.
    final_loss : float
        Mean loss over the subnets of the last step (``nan`` when no step ran).
    resumed_at_epoch : int
        The epochs a checkpoint had done when this run started (0: from the start).
    """

    steps: int
    epochs: float
    train_secs: float
    cpu_secs: float
    stopped_by: Literal["epochs", "max_train_secs"]
    final_loss: float
    resumed_at_epoch: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingRecord:
        """The record of :meth:`to_dict` (fields added later take their defaults)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})


@dataclass(frozen=True)
class TrainingProgress:
    """Where a training stands, after an epoch.

    Attributes
    ----------
    what : str
        What trains (the estimator's name).
    epoch, epochs : int
        Epochs done, and planned.
    steps : int
    loss : float
        Mean loss over the subnets of the epoch's last step.
    elapsed_secs : float
        Wall seconds of training so far (earlier runs of a resumed training included).
    eta_secs : float or None
        Seconds left at the rate so far.
    """

    what: str
    epoch: int
    epochs: int
    steps: int
    loss: float
    elapsed_secs: float
    eta_secs: float | None


def _soft_cross_entropy(logits: torch.Tensor, teacher_probs: torch.Tensor) -> torch.Tensor:
    return -(teacher_probs * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


class _Checkpoint:
    """The file of one training's state (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], identity: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self.identity = dict(identity)

    def load(self) -> dict[str, Any] | None:
        """The saved state, or ``None`` when there is no file.

        Raises
        ------
        ValueError
            The file is not such a checkpoint, or it was written by a training with other options.
        """
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
            raise ValueError(f"{str(self.path)!r} is not a readable training checkpoint ({err}); delete it") from err
        if not isinstance(state, dict) or state.get("format") != _CHECKPOINT_FORMAT:
            raise ValueError(f"{str(self.path)!r} is not a training checkpoint of tvm-nacos ({_CHECKPOINT_FORMAT})")
        if state.get("version") != _CHECKPOINT_VERSION:
            raise ValueError(f"{str(self.path)!r} has checkpoint version {state.get('version')!r}; "
                             f"this code reads {_CHECKPOINT_VERSION}: delete it to train from the start")
        if state["identity"] != self.identity:
            differ = sorted(k for k in set(state["identity"]) | set(self.identity)
                            if state["identity"].get(k) != self.identity.get(k))
            raise ValueError(
                f"{str(self.path)!r} is the checkpoint of a training with other options ({differ}: "
                f"{ {k: state['identity'].get(k) for k in differ} } there, { {k: self.identity.get(k) for k in differ} } "
                "here); delete it or give another checkpoint path"
            )
        return state

    def save(self, state: Mapping[str, Any]) -> None:
        """Write ``state`` atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        torch.save({"format": _CHECKPOINT_FORMAT, "version": _CHECKPOINT_VERSION, "identity": self.identity,
                    **state}, tmp)
        os.replace(tmp, self.path)


def train_weight_sharing(
    model: nn.Module,
    subnets_of_step: Callable[[], Sequence[Mapping[str, str]]],
    choices: Sequence[Any],
    data: ImageData,
    setup: Any,
    what: str,
    *,
    rng: np.random.Generator | None = None,
    distill: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    identity: Mapping[str, Any] | None = None,
    progress: Callable[[TrainingProgress], None] | None = None,
) -> TrainingRecord:
    """Train ``model`` (see the module docstring).

    Parameters
    ----------
    model : nn.Module
    subnets_of_step : callable
        The subnets of one step (for a model without choices: one empty sample); the first is
        the teacher with ``distill``.
    choices : sequence
        The model's ``Choice`` modules, to select each subnet.
    data : ImageData
    setup : object
        ``seed``, ``epochs``, ``batch_size``, ``learning_rate``, ``max_train_secs`` and
        ``make_optimizer(parameters)``.
    what : str
        For logs and progress.
    rng : numpy.random.Generator, optional
        The generator ``subnets_of_step`` draws from: its state is checkpointed.
    distill : bool
        In-place distillation from the first subnet of each step.
    checkpoint : path, optional
        Save after every epoch; continue from the file when it exists.
    identity : Mapping, optional
        What a checkpoint must match to be continued (the training's options).
    progress : callable, optional
        Called with a :class:`TrainingProgress` after every epoch.
    """
    generator = torch.Generator().manual_seed(setup.seed)
    optimizer = setup.make_optimizer(model.parameters())
    steps_per_epoch = max(1, len(data.y_train) // setup.batch_size)
    total_steps = setup.epochs * steps_per_epoch
    store = None if checkpoint is None else _Checkpoint(checkpoint, {**dict(identity or {}), "distill": distill})
    start, cpu_start = time.perf_counter(), time.process_time()
    step, first_epoch, secs_before, cpu_before, last_loss, stopped_by = 0, 0, 0.0, 0.0, math.nan, "epochs"
    saved = store.load() if store is not None else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        generator.set_state(saved["generator"])
        if rng is not None:
            rng.bit_generator.state = saved["rng"]
        step, first_epoch, last_loss = int(saved["step"]), int(saved["epoch"]), float(saved["loss"])
        secs_before, cpu_before = float(saved["train_secs"]), float(saved["cpu_secs"])
        logger.info("%s: continuing the training in %s after epoch %d of %d", what, store.path, first_epoch,
                    setup.epochs)
    model.train()
    for epoch in range(first_epoch, setup.epochs):
        for images, labels in data.batches(setup.batch_size, generator=generator, drop_last=True):
            if setup.max_train_secs is not None and secs_before + time.perf_counter() - start >= setup.max_train_secs:
                stopped_by = "max_train_secs"
                break
            for group in optimizer.param_groups:
                group["lr"] = setup.learning_rate * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
            optimizer.zero_grad(set_to_none=True)
            losses = []
            teacher = None
            for sample in subnets_of_step():
                select(list(choices), sample)
                logits = model(images)
                if teacher is None:
                    loss = F.cross_entropy(logits, labels)
                    if distill:
                        teacher = F.softmax(logits.detach(), dim=1)
                else:
                    loss = _soft_cross_entropy(logits, teacher)
                loss.backward()
                losses.append(float(loss.detach()))
            optimizer.step()
            step += 1
            last_loss = float(np.mean(losses))
        if stopped_by != "epochs":
            break
        elapsed = secs_before + time.perf_counter() - start
        if store is not None:
            store.save({
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
                "rng": None if rng is None else rng.bit_generator.state, "step": step, "epoch": epoch + 1,
                "loss": last_loss, "train_secs": elapsed, "cpu_secs": cpu_before + time.process_time() - cpu_start,
            })
        done = epoch + 1 - first_epoch
        eta = (setup.epochs - epoch - 1) * (time.perf_counter() - start) / done
        logger.debug("%s: epoch %d/%d, loss %.4f", what, epoch + 1, setup.epochs, last_loss)
        if progress is not None:
            progress(TrainingProgress(what, epoch + 1, setup.epochs, step, last_loss, elapsed, eta))
    model.eval()
    return TrainingRecord(
        steps=step,
        epochs=step / steps_per_epoch,
        train_secs=secs_before + time.perf_counter() - start,
        cpu_secs=cpu_before + time.process_time() - cpu_start,
        stopped_by=stopped_by,  # type: ignore[arg-type]
        final_loss=last_loss,
        resumed_at_epoch=first_epoch,
    )
