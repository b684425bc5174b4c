"""NASWOT computed by TVM on a Relax module: a data-light proxy for every model with choice points.

Mellor et al.'s NASWOT scores an untrained network by how differently its ReLUs respond to the
images of one mini-batch. :class:`RelaxNaswot` computes it on the module the search compiles,
without PyTorch: each architecture is specialized (:class:`~tvm_nacos.passes.SpecializeArch`),
its batch norms switched to batch statistics (training mode, as in the paper's code and
:class:`~tvm_nacos.accuracy.zero_cost.NaswotProxy`), and its ``main`` rewritten by
:func:`relu_codes_module` to return, for every ReLU (``relax.nn.relu``, and ``clip`` from 0 such
as ReLU6), the code ``activation > 0`` of each image. One forward pass on the CPU; the kernel
``K[i, j]`` (units on which images ``i`` and ``j`` agree, summed over ReLUs) and its
``log |det K|`` are computed from the codes in numpy (float64 sums of exact float32 counts).

.. code-block:: python

    mod = ExposeWidth()(from_torch(model, (x,)))          # any module with choice points
    naswot = RelaxNaswot(mod, data=ImageData.from_npz("train.npz"))
    naswot.evaluate([sample])                             # higher is better
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from tvm_nacos._compat import expr_type
from tvm_nacos.accuracy.base import AccuracyEstimator
from tvm_nacos.accuracy.image_data import DataError, ImageData
from tvm_nacos.search_space import ArchSample

__all__ = ["RelaxNaswot", "naswot_from_codes", "relu_codes_module"]

logger = logging.getLogger(__name__)


def relu_codes_module(mod: Any, func_name: str = "main") -> Any:
    """``mod`` with ``func_name`` returning the ReLU codes of its forward pass instead of its output.

    Batch norms use the batch's statistics (``training=True``); every ``relax.nn.relu`` (and
    every ``clip`` whose lower bound is 0) gets its output's code ``> 0`` as a ``bool`` tensor
    of shape ``(batch, units)``; the function returns the tuple of codes, in program order.

    Raises
    ------
    ValueError
        If the function has no ReLU.
    """
    import tvm
    from tvm import relax

    from tvm_nacos.ir.rewrite import batch_norm_call, rewrite_calls

    relu_op = tvm.ir.Op.get("relax.nn.relu")
    clip_op = tvm.ir.Op.get("relax.clip")
    batch_norm_op = tvm.ir.Op.get("relax.nn.batch_norm")

    def read_codes(call: Any, builder: Any, codes: list) -> Any:
        if call.op == batch_norm_op and not call.attrs.training:
            return batch_norm_call(call, training=True)
        if call.op == relu_op or (call.op == clip_op and _is_zero(call.args[1])):
            out = builder.emit(call)
            shape = [int(d) for d in expr_type(out).shape.values]
            flat = relax.op.reshape(out, (shape[0], int(np.prod(shape[1:]))))
            codes.append(builder.emit(relax.op.greater(flat, relax.const(0.0, expr_type(out).dtype))))
            return out
        return call

    mod, count = rewrite_calls(mod, func_name, read_codes, return_outputs=True)
    if not count:
        raise ValueError(f"NASWOT needs ReLUs: {func_name} has no relax.nn.relu or clip from 0")
    return mod


def _is_zero(expr: Any) -> bool:
    value = getattr(expr, "value", None)
    try:
        return float(value) == 0.0
    except (TypeError, ValueError):
        return False


def naswot_from_codes(codes: Sequence[np.ndarray]) -> float:
    """``log |det K|`` with ``K = Σ [c cᵀ + (1 - c)(1 - c)ᵀ]`` over the ReLUs' codes ``c``
    (``(batch, units)`` booleans); ``-inf`` when ``K`` is singular."""
    n = len(codes[0])
    kernel = np.zeros((n, n), dtype=np.float64)
    for code in codes:
        signs = code.reshape(n, -1).astype(np.float32) * 2.0 - 1.0
        units = signs.shape[1]
        if units > 2**24:
            raise ValueError(f"a ReLU with {units} units per image exceeds float32's exact counts")
        kernel += (units + (signs @ signs.T).astype(np.float64)) / 2.0
    sign, logdet = np.linalg.slogdet(kernel)
    return float(logdet) if sign > 0 else -math.inf


class RelaxNaswot(AccuracyEstimator):
    """NASWOT of each architecture of a Relax module, computed by TVM (see the module docstring).

    Parameters
    ----------
    mod : tvm.IRModule
        A module with choice points whose ``main`` takes one float32 image batch ``(B, C, H, W)``.
    data : ImageData, optional
        The mini-batch is drawn from its training images (scikit-learn's digits at the module's
        input size by default).
    batch_size : int
        Images in the mini-batch (NASWOT's kernel is ``batch_size × batch_size``).
    seed : int
        Which images.
    target : target, optional
        Where the forward pass runs; the host CPU by default.

    Raises
    ------
    DataError
        If the images do not fit the module's input.
    """

    is_cheap: ClassVar[bool] = True

    def __init__(
        self, mod: Any, data: ImageData | None = None, *, batch_size: int = 64, seed: int = 0, target: Any = None,
    ) -> None:
        from tvm_nacos.analysis import search_space
        from tvm_nacos.target import as_target

        super().__init__(search_space(mod))
        params = mod["main"].params
        if len(params) != 1:
            raise DataError(f"RelaxNaswot needs a main that takes one image batch; it takes {len(params)} inputs")
        shape = [int(d) for d in expr_type(params[0]).shape.values]
        if len(shape) != 4:
            raise DataError(f"RelaxNaswot needs a main that takes (B, C, H, W) images; it takes shape {shape}")
        if batch_size < 2:
            raise ValueError(f"batch_size must be at least 2 (NASWOT compares images), got {batch_size}")
        self.mod = mod
        self.input_chw = tuple(shape[1:])
        self.batch_size = batch_size
        self.seed = seed
        self.target = as_target(target)
        self._data = data
        self._images: np.ndarray | None = None

    @property
    def name(self) -> str:
        return "naswot (TVM)"

    def images(self) -> np.ndarray:
        """The mini-batch, ``(batch_size, C, H, W)`` float32."""
        if self._images is None:
            channels, side, width = self.input_chw
            if self._data is None:
                from tvm_nacos.accuracy.data import load_digits_data

                self._data = load_digits_data(resolution=side, channels=channels, seed=self.seed)
            if tuple(self._data.x_train.shape[1:]) != self.input_chw:
                raise DataError(
                    f"the images are {tuple(self._data.x_train.shape[1:])}, the module takes {self.input_chw}"
                )
            images, _ = self._data.minibatch(min(self.batch_size, len(self._data.y_train)), seed=self.seed)
            self._images = np.ascontiguousarray(np.asarray(images, dtype=np.float32))
        return self._images

    def codes(self, sample: ArchSample) -> list[np.ndarray]:
        """The ReLU codes of ``sample`` on the mini-batch, one ``(batch, units)`` array per ReLU."""
        import tvm
        from tvm import relax

        from tvm_nacos.ir.batch import with_batch_size
        from tvm_nacos.passes import SpecializeArch

        images = self.images()
        specialized = with_batch_size(SpecializeArch(sample)(self.mod), len(images))
        executable = tvm.compile(relu_codes_module(specialized), target=self.target)
        device = tvm.cpu()
        outputs = relax.VirtualMachine(executable, device)["main"](tvm.runtime.tensor(images, device))
        return [np.asarray(outputs[i].numpy()) for i in range(len(outputs))]

    def estimate(self, samples: Sequence[ArchSample]) -> list[float]:
        start = time.perf_counter()
        scores = [naswot_from_codes(self.codes(sample)) for sample in samples]
        logger.info("%s: scored %d architectures in %.1f s", self.name, len(samples), time.perf_counter() - start)
        return scores
