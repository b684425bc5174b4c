"""The common interface of the built-in search spaces.

A built-in space couples a pure-Python :class:`~.space.SearchSpace` with the network it
describes. The space itself is built without PyTorch or TVM; the methods that build networks
import them (and the model code in :mod:`tvm_nacos.models`) when called.

Every network method takes a ``seed`` that fixes the weights: the supernet, the reference of one
architecture and the IR module built with the same seed hold the same weights, so their outputs
can be compared.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from .sample import ArchSample
from .space import SearchSpace

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch
    import tvm

__all__ = ["BuiltinSpace"]

logger = logging.getLogger(__name__)


def _check_int(name: str, value: object, minimum: int) -> None:
    """Raise unless ``value`` is an ``int`` (not a ``bool``) of at least ``minimum``.

    Raises
    ------
    TypeError
        If ``value`` is not an int.
    ValueError
        If it is below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


class BuiltinSpace(abc.ABC):
    """A named search space with its PyTorch supernet and its Relax IR.

    Subclasses are frozen dataclasses whose fields are the options of the space (resolution,
    width...); they set :attr:`name` and :attr:`model_module`, and implement :attr:`space`,
    :attr:`input_shape` and :meth:`torch_supernet`.
    """

    #: Registry name of the space.
    name: ClassVar[str]
    #: The module of :mod:`tvm_nacos.models` that builds the networks (imported on first use).
    model_module: ClassVar[str]

    @property
    @abc.abstractmethod
    def space(self) -> SearchSpace:
        """The search space (pure Python; equal to the space read off :meth:`ir_module`)."""

    @property
    @abc.abstractmethod
    def input_shape(self) -> tuple[int, int, int, int]:
        """Shape ``(batch, channels, height, width)`` of :meth:`example_input` and of the IR's input."""

    @abc.abstractmethod
    def torch_supernet(self, *, seed: int = 0) -> torch.nn.Module:
        """The PyTorch supernet made of ``tvm_nacos.frontend.torch.Choice`` modules.

        Parameters
        ----------
        seed : int
            Seed of the weights (batch-norm statistics included).

        Returns
        -------
        torch.nn.Module
            The supernet, in eval mode.
        """

    def options(self) -> dict[str, Any]:
        """The options this space was built with (every field), as ``get(self.name, **options)`` takes them.

        A search records them next to the space's name, so that its work directory can be
        rebuilt with the same network later (``tvm-nacos compile``).
        """
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}  # type: ignore[arg-type]

    def _models(self) -> Any:
        return importlib.import_module(self.model_module)

    def torch_reference(self, sample: Mapping[str, str], *, seed: int = 0) -> torch.nn.Module:
        """An eager PyTorch model of one architecture, with the supernet's weights.

        The supernet of ``seed`` with every choice fixed to ``sample``, and every ``Choice``
        module then replaced by the option it runs: the result holds only the modules (and
        parameters) that the architecture uses.

        Parameters
        ----------
        sample : Mapping[str, str]
            An architecture of :attr:`space`.
        seed : int
            Seed of the weights, as in :meth:`torch_supernet`.

        Returns
        -------
        torch.nn.Module
            The model, in eval mode.

        Raises
        ------
        InvalidSampleError
            If ``sample`` is not an architecture of the space (the message names the bad label
            or option and the valid ones).
        """
        from tvm_nacos.frontend.torch import apply_sample  # pylint: disable=import-outside-toplevel
        from tvm_nacos.models._common import materialize  # pylint: disable=import-outside-toplevel

        canonical = self.space.canonicalize(sample)
        return materialize(apply_sample(self.torch_supernet(seed=seed), canonical)).eval()

    def ir_module(self, *, seed: int = 0) -> tvm.IRModule:
        """The Relax IR of the supernet, with one choice point per ``Choice`` site.

        Built by :func:`tvm_nacos.from_torch` from :meth:`torch_supernet` and an input of
        :attr:`input_shape`. Specialize it with :class:`tvm_nacos.passes.SpecializeArch`.

        Parameters
        ----------
        seed : int
            Seed of the weights, as in :meth:`torch_supernet`.

        Returns
        -------
        tvm.IRModule
            ``main`` takes one float32 tensor of :attr:`input_shape`; weights are constants.

        Notes
        -----
        The importer exports every option of every site on its own, which takes a fraction of
        a second each: minutes for the NAS-Bench-201 supernet (450 options). Build it once and
        keep it.
        """
        from tvm_nacos.frontend.torch import from_torch  # pylint: disable=import-outside-toplevel

        start = time.perf_counter()
        mod = from_torch(self.torch_supernet(seed=seed), (self.example_input(),))
        logger.info(
            "imported the %s supernet (%d choices) in %.1f s",
            self.name,
            len(self.space.labels),
            time.perf_counter() - start,
        )
        return mod

    def example_input(self, *, seed: int = 0) -> torch.Tensor:
        """A deterministic float32 input of :attr:`input_shape` (standard normal values)."""
        import torch  # pylint: disable=import-outside-toplevel

        return torch.randn(*self.input_shape, generator=torch.Generator().manual_seed(seed))

    def num_params(self, sample: Mapping[str, str]) -> int:
        """Trainable parameters of one architecture.

        Counted on :meth:`torch_reference`: the parameters of the modules the architecture
        uses, batch-norm affine weights included, running statistics (buffers) not.

        Parameters
        ----------
        sample : Mapping[str, str]
            An architecture of :attr:`space`.

        Returns
        -------
        int
            The number of parameter elements.
        """
        from tvm_nacos.models._common import count_parameters  # pylint: disable=import-outside-toplevel

        return count_parameters(self.torch_reference(sample))

    def default_sample(self) -> ArchSample:
        """The architecture that the unspecialized supernet and IR run."""
        return self.space.default_sample()
