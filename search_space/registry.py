"""The registry of built-in search spaces: :func:`names` and :func:`get`.

=================  ==========================================================================
name               space
=================  ==========================================================================
``nas-bench-201``  :class:`~.nas_bench_201.NasBench201Space`: the NAS-Bench-201 cell space
                   (15,625 cells) on the benchmark's exact CIFAR-10 network
``mobilenet-v2``   :class:`~.mobilenet_v2.MobileNetV2Space`: ProxylessNAS / OFA-style macro space
                   (kernel, expansion, depth); options ``resolution``, ``width_mult``,
                   ``num_classes``
``resnet``         :class:`~.resnet.ResNetSpace`: basic-block ResNet (width, depth, kernel);
                   options ``resolution``, ``num_classes``
``vit``            :class:`~.vit.ViTSpace`: pre-norm Vision Transformer (heads, MLP ratio, depth);
                   options ``resolution``, ``patch_size``, ``embed_dim``, ``num_classes``
=================  ==========================================================================

.. code-block:: python

    from tvm_nacos import search_space

    nb201 = search_space.get("nas-bench-201")
    sample = nb201.space.sample(numpy.random.default_rng(0))
    nb201.arch_str(sample), nb201.index(sample)
    mbv2 = search_space.get("mobilenet-v2", resolution=96, width_mult=0.75)
    mod = mbv2.ir_module()          # imports PyTorch and TVM only now

Nothing here imports PyTorch or TVM; the spaces' network methods call
:mod:`tvm_nacos.models`, which does, when called.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .builtin import BuiltinSpace
from .errors import UnknownSpaceError, _quote_list
from .mobilenet_v2 import MobileNetV2Space
from .nas_bench_201 import NasBench201Space
from .resnet import ResNetSpace
from .vit import ViTSpace

__all__ = ["get", "names"]

_SPACES: dict[str, type[BuiltinSpace]] = {
    cls.name: cls for cls in (NasBench201Space, MobileNetV2Space, ResNetSpace, ViTSpace)
}


def names() -> list[str]:
    """The names of the built-in spaces, sorted.

    Returns
    -------
    list[str]
        ``["mobilenet-v2", "nas-bench-201", "resnet", "vit"]``.
    """
    return sorted(_SPACES)


def get(name: str, **options: Any) -> BuiltinSpace:
    """A built-in space by name.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    **options
        The space's options (its dataclass fields, for example ``resolution=96`` for
        ``"mobilenet-v2"``); the defaults otherwise.

    Returns
    -------
    BuiltinSpace
        A new space object.

    Raises
    ------
    UnknownSpaceError
        If ``name`` is not a built-in space (the message lists the valid names).
    TypeError
        If ``name`` is not a ``str``, or an option is not one of the space's (the message lists
        the valid ones).
    ValueError
        If an option has a bad value.
    """
    if not isinstance(name, str):
        raise TypeError(f"space name must be a str, got {type(name).__name__} {name!r}")
    if name not in _SPACES:
        raise UnknownSpaceError(f"unknown search space {name!r}; valid names: {_quote_list(names())}")
    cls = _SPACES[name]
    valid = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = [key for key in options if key not in valid]
    if unknown:
        raise TypeError(
            f"search space {name!r} has no option(s) {_quote_list(unknown)}; "
            f"valid options: {_quote_list(valid)}"
        )
    return cls(**options)
