"""The networks of the built-in search spaces (see :mod:`tvm_nacos.search_space.registry`).

One module per space; each needs PyTorch and is imported when a network is first built:

- :mod:`tvm_nacos.models.nas_bench_201`: the NAS-Bench-201 network and its cell supernet;
- :mod:`tvm_nacos.models.mobilenet_v2`: the MobileNetV2 (ProxylessNAS / OFA-style) supernet;
- :mod:`tvm_nacos.models.resnet`: the basic-block ResNet supernet;
- :mod:`tvm_nacos.models.vit`: the Vision Transformer supernet.

The functions below build the networks of a :class:`~tvm_nacos.search_space.BuiltinSpace`.
This package is the space's :class:`~tvm_nacos.search_space.NetworkBuilder`: ``import
tvm_nacos`` registers it, and ``space.ir_module()`` (and the other network methods of a space)
call these functions. ``search_space`` itself never imports this package, so the dependency
points one way. Importing this package imports nothing heavy.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tvm_nacos.search_space import BuiltinSpace, MobileNetV2Space, NasBench201Space, ResNetSpace, ViTSpace
from tvm_nacos.search_space.errors import UnknownSpaceError, _quote_list

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch
    import tvm

__all__ = ["example_input", "ir_module", "num_params", "torch_reference", "torch_supernet"]

logger = logging.getLogger(__name__)

#: Supernets this process built, newest last, by space, options and seed: an import takes
#: seconds to minutes, and a process (a search, then its compile and report) asks again.
_BUILT: OrderedDict[tuple[Any, ...], tvm.IRModule] = OrderedDict()
#: How many built supernets a process keeps (their weights are constants in them).
MAX_KEPT_SUPERNETS = 4


def torch_supernet(space: BuiltinSpace, *, seed: int = 0) -> torch.nn.Module:
    """The PyTorch supernet of a built-in space, made of ``tvm_nacos.frontend.torch.Choice`` modules.

    Parameters
    ----------
    space : BuiltinSpace
        The space and its options (width multiplier, classes...).
    seed : int
        Seed of the weights (batch-norm statistics included).

    Returns
    -------
    torch.nn.Module
        The supernet, in eval mode.

    Raises
    ------
    UnknownSpaceError
        If ``space`` is not one of the built-in spaces (the message lists them).
    """
    if isinstance(space, NasBench201Space):
        from tvm_nacos.models import nas_bench_201

        # Every edge of every cell is a Choice (label of the edge, site of the cell).
        return nas_bench_201.supernet(
            channels=space.channels,
            cells_per_stage=space.cells_per_stage,
            num_classes=space.num_classes,
            seed=seed,
        )
    if isinstance(space, MobileNetV2Space):
        from tvm_nacos.models import mobilenet_v2

        # Expansion, kernel and depth Choice modules, nested as in the space.
        return mobilenet_v2.supernet(width_mult=space.width_mult, num_classes=space.num_classes, seed=seed)
    if isinstance(space, ResNetSpace):
        from tvm_nacos.models import resnet

        # Width, depth and kernel Choice modules, nested as in the space.
        return resnet.supernet(num_classes=space.num_classes, seed=seed)
    if isinstance(space, ViTSpace):
        from tvm_nacos.models import vit

        # Depth, heads and MLP-ratio Choice modules, nested as in the space.
        return vit.supernet(space, seed=seed)
    known = [cls.__name__ for cls in (NasBench201Space, MobileNetV2Space, ResNetSpace, ViTSpace)]
    raise UnknownSpaceError(f"no network for search space {space!r}; built-in spaces: {_quote_list(known)}")


def torch_reference(space: BuiltinSpace, sample: Mapping[str, str], *, seed: int = 0) -> torch.nn.Module:
    """An eager PyTorch model of one architecture, with the supernet's weights.

    The supernet of ``seed`` with every choice fixed to ``sample``, and every ``Choice`` module
    then replaced by the option it runs: the result holds only the modules (and parameters) that
    the architecture uses.

    Parameters
    ----------
    space : BuiltinSpace
        The space.
    sample : Mapping[str, str]
        An architecture of ``space.space``.
    seed : int
        Seed of the weights, as in :func:`torch_supernet`.

    Returns
    -------
    torch.nn.Module
        The model, in eval mode.

    Raises
    ------
    InvalidSampleError
        If ``sample`` is not an architecture of the space (the message names the bad label or
        option and the valid ones).
    """
    from tvm_nacos.frontend.torch import apply_sample
    from tvm_nacos.models._common import materialize

    canonical = space.space.canonicalize(sample)
    return materialize(apply_sample(torch_supernet(space, seed=seed), canonical)).eval()


def example_input(space: BuiltinSpace, *, seed: int = 0) -> torch.Tensor:
    """A deterministic float32 input of ``space.input_shape`` (standard normal values)."""
    import torch

    return torch.randn(*space.input_shape, generator=torch.Generator().manual_seed(seed))


def ir_module(space: BuiltinSpace, *, seed: int = 0) -> tvm.IRModule:
    """The Relax IR of the supernet of a built-in space, with one choice point per ``Choice`` site.

    Built by :func:`tvm_nacos.from_torch` from :func:`torch_supernet` and an input of
    ``space.input_shape``.

    Parameters
    ----------
    space : BuiltinSpace
        The space.
    seed : int
        Seed of the weights, as in :func:`torch_supernet`.

    Returns
    -------
    tvm.IRModule
        ``main`` takes one float32 tensor of ``space.input_shape``; weights are constants.
        A process builds each supernet once (:data:`MAX_KEPT_SUPERNETS` are kept) and hands
        out copies of the module (its functions are shared: they are immutable); built
        supernets are also kept on disk for the next processes (:mod:`tvm_nacos.models.cache`).
    """
    from tvm_nacos.frontend.torch import from_torch
    from tvm_nacos.models import cache

    key = (type(space).__module__, type(space).__qualname__, space.name, tuple(sorted(space.options().items())), seed)
    if key in _BUILT:
        _BUILT.move_to_end(key)
        return _BUILT[key].clone()
    start = time.perf_counter()
    mod = cache.load(space, seed)
    if mod is not None:
        logger.info("loaded the %s supernet from the cache in %.1f s", space.name, time.perf_counter() - start)
    else:
        mod = from_torch(torch_supernet(space, seed=seed), (example_input(space),))
        logger.info(
            "imported the %s supernet (%d choices) in %.1f s",
            space.name,
            len(space.space.labels),
            time.perf_counter() - start,
        )
        cache.save(space, seed, mod)
    _BUILT[key] = mod
    while len(_BUILT) > MAX_KEPT_SUPERNETS:
        _BUILT.popitem(last=False)
    return mod.clone()


def num_params(space: BuiltinSpace, sample: Mapping[str, str]) -> int:
    """Trainable parameters of one architecture, counted on :func:`torch_reference`.

    Parameters
    ----------
    space : BuiltinSpace
        The space.
    sample : Mapping[str, str]
        An architecture of ``space.space``.

    Returns
    -------
    int
        The number of parameter elements (batch-norm affine weights included, running
        statistics not).

    Raises
    ------
    InvalidSampleError
        If ``sample`` is not an architecture of the space.
    """
    from tvm_nacos.models._common import count_parameters

    return count_parameters(torch_reference(space, sample))
