"""The common interface of the built-in search spaces.

A built-in space couples a pure-Python :class:`~.space.SearchSpace` with the network it
describes. This package only *defines* spaces: it imports nothing of the rest of tvm-nacos and
neither PyTorch nor TVM. The network methods of :class:`BuiltinSpace` call the builder that
:mod:`tvm_nacos.models` registers with :func:`register_network_builder` when ``tvm_nacos`` is
imported, so the dependency points one way, ``tvm_nacos.models`` → ``search_space``.

Every network method takes a ``seed`` that fixes the weights: the supernet, the reference of one
architecture and the IR module built with the same seed hold the same weights, so their outputs
can be compared.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from .sample import ArchSample
from .space import SearchSpace

__all__ = ["BuiltinSpace", "NetworkBuilder", "register_network_builder"]


class NetworkBuilder(Protocol):
    """What builds the networks of the built-in spaces (:mod:`tvm_nacos.models` is one).

    Each function receives the space whose network it builds (and an architecture of it, which
    it validates); the return types are those of the :class:`BuiltinSpace` method of the same name.
    """

    def torch_supernet(self, space: BuiltinSpace, *, seed: int) -> Any:
        """The PyTorch supernet of ``space``."""

    def torch_reference(self, space: BuiltinSpace, sample: Mapping[str, str], *, seed: int) -> Any:
        """The eager PyTorch model of one architecture."""

    def ir_module(self, space: BuiltinSpace, *, seed: int) -> Any:
        """The Relax IR of the supernet."""

    def example_input(self, space: BuiltinSpace, *, seed: int) -> Any:
        """A deterministic input tensor of ``space.input_shape``."""

    def num_params(self, space: BuiltinSpace, sample: Mapping[str, str]) -> int:
        """Trainable parameters of one architecture."""


_network_builder: NetworkBuilder | None = None


def register_network_builder(builder: NetworkBuilder) -> None:
    """Set what the network methods of every :class:`BuiltinSpace` call.

    ``import tvm_nacos`` registers :mod:`tvm_nacos.models`; register another builder to build
    the networks of the built-in spaces differently.

    Parameters
    ----------
    builder : NetworkBuilder
        An object (or module) with the functions of :class:`NetworkBuilder`.

    Raises
    ------
    TypeError
        If ``builder`` lacks one of them (the message names the missing ones).
    """
    required = ("torch_supernet", "torch_reference", "ir_module", "example_input", "num_params")
    missing = [name for name in required if not callable(getattr(builder, name, None))]
    if missing:
        raise TypeError(f"network builder {builder!r} lacks {missing}; a builder needs {list(required)}")
    global _network_builder
    _network_builder = builder


def _builder() -> NetworkBuilder:
    if _network_builder is None:
        raise RuntimeError(
            "no network builder is registered for the built-in spaces; import tvm_nacos (it registers "
            "tvm_nacos.models) or call tvm_nacos.search_space.register_network_builder"
        )
    return _network_builder


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
    width...); they set :attr:`name` and implement :attr:`space` and :attr:`input_shape`. The
    network methods build with the registered :class:`NetworkBuilder`
    (:mod:`tvm_nacos.models`), which imports PyTorch and TVM when called.
    """

    #: Registry name of the space.
    name: ClassVar[str]

    @property
    @abc.abstractmethod
    def space(self) -> SearchSpace:
        """The search space (pure Python; equal to the space read off :meth:`ir_module`)."""

    @property
    @abc.abstractmethod
    def input_shape(self) -> tuple[int, int, int, int]:
        """Shape ``(batch, channels, height, width)`` of :meth:`example_input` and of the IR's input."""

    def options(self) -> dict[str, Any]:
        """The options this space was built with (every field), as ``get(self.name, **options)`` takes them.

        A search records them next to the space's name, so that its work directory can be
        rebuilt with the same network later (``tvm-nacos compile``).
        """
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}  # type: ignore[arg-type]

    def default_sample(self) -> ArchSample:
        """The architecture that the unspecialized supernet and IR run."""
        return self.space.default_sample()

    def sandwich_samples(self) -> tuple[ArchSample, ArchSample] | None:
        """The largest and the smallest architecture, which a weight-sharing supernet trains every step.

        The sandwich rule of Once-for-All and BigNAS trains both ends of the space at every step.
        ``None`` (the default) leaves the choice to the trainer, which takes, choice by choice,
        the option with the most and the fewest parameters; a space overrides this where that
        rule picks a wrong end (for example an architecture whose output ignores its input).
        """
        return None

    # -- networks, built by the registered NetworkBuilder ---------------------------------------

    def torch_supernet(self, *, seed: int = 0) -> Any:
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
        return _builder().torch_supernet(self, seed=seed)

    def torch_reference(self, sample: Mapping[str, str], *, seed: int = 0) -> Any:
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
        return _builder().torch_reference(self, sample, seed=seed)

    def ir_module(self, *, seed: int = 0) -> Any:
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
        return _builder().ir_module(self, seed=seed)

    def example_input(self, *, seed: int = 0) -> Any:
        """A deterministic float32 ``torch.Tensor`` of :attr:`input_shape` (standard normal values)."""
        return _builder().example_input(self, seed=seed)

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

        Raises
        ------
        InvalidSampleError
            If ``sample`` is not an architecture of the space.
        """
        return _builder().num_params(self, sample)
