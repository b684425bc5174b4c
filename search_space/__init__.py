"""Discrete, conditional neural-architecture search spaces.

This package is pure Python (numpy only).  It provides

* :class:`ChoiceSpec` and :class:`Condition` to describe choice points, where
  a choice may be active only under some options of an earlier choice;
* :class:`SearchSpace` to validate, canonicalize, count, enumerate, sample,
  mutate, cross over and one-hot encode architectures;
* :class:`ArchSample`, the immutable label -> option mapping describing one
  architecture, with a stable content id;
* :class:`SearchSpaceError` and :class:`InvalidSampleError`, both
  :class:`ValueError` subclasses.
"""

from .errors import InvalidSampleError, SearchSpaceError
from .sample import ArchSample
from .space import ChoiceSpec, Condition, SearchSpace

__all__ = [
    "ArchSample",
    "ChoiceSpec",
    "Condition",
    "SearchSpace",
    "SearchSpaceError",
    "InvalidSampleError",
]
