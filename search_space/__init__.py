"""Discrete, conditional neural-architecture search spaces.

This package is pure Python (numpy only).  It provides

* :class:`ChoiceSpec` and :class:`Condition` to describe choice points, where
  a choice may be active only under some options of an earlier choice;
* :class:`SearchSpace` to validate, canonicalize, count, enumerate, sample,
  mutate, cross over and one-hot encode architectures;
* :class:`ArchSample`, the immutable label -> option mapping describing one
  architecture, with a stable content id;
* :class:`SearchSpaceError`, :class:`InvalidSampleError` and
  :class:`UnknownSpaceError`, all :class:`ValueError` subclasses;
* the built-in spaces: :func:`names` lists them and :func:`get` returns one as a
  :class:`BuiltinSpace` (``"nas-bench-201"``, ``"mobilenet-v2"``, ``"resnet"``, ``"vit"``;
  see :mod:`.registry`).

It imports nothing of the rest of tvm-nacos, and neither PyTorch nor TVM. The network methods
of the built-in spaces call the builder that :mod:`tvm_nacos.models` registers with
:func:`register_network_builder` when ``tvm_nacos`` is imported (see :mod:`.builtin`).
"""

from .builtin import BuiltinSpace, NetworkBuilder, register_network_builder
from .errors import InvalidSampleError, SearchSpaceError, UnknownSpaceError
from .mobilenet_v2 import MobileNetV2Space
from .nas_bench_201 import NasBench201Space
from .registry import get, names
from .resnet import ResNetSpace
from .sample import ArchSample
from .space import ChoiceSpec, Condition, SearchSpace
from .vit import ViTSpace

__all__ = [
    "ArchSample",
    "ChoiceSpec",
    "Condition",
    "SearchSpace",
    "SearchSpaceError",
    "InvalidSampleError",
    "UnknownSpaceError",
    "BuiltinSpace",
    "NetworkBuilder",
    "MobileNetV2Space",
    "NasBench201Space",
    "ResNetSpace",
    "ViTSpace",
    "get",
    "names",
    "register_network_builder",
]
