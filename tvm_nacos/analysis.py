"""Analyses of modules with choice points."""

from __future__ import annotations

import tvm

from tvm_nacos.ir.choice import find_choice_points
from tvm_nacos.search_space import ChoiceSpec, Condition, SearchSpace

__all__ = ["search_space"]


def search_space(mod: tvm.IRModule) -> SearchSpace:
    """The search space that the choice points of ``mod`` span.

    Parameters
    ----------
    mod : tvm.IRModule
        A module with choice points (see :mod:`tvm_nacos.ir.choice`).

    Returns
    -------
    SearchSpace
        One choice per choice point, in the order of :func:`~tvm_nacos.ir.find_choice_points`;
        nested choice points become conditional choices. A module without choice points gives
        an empty space (size 1: the module itself).
    """
    return SearchSpace(
        [
            ChoiceSpec(
                label=cp.label,
                options=cp.options,
                default=cp.default,
                condition=None if cp.condition is None else Condition(*cp.condition),
            )
            for cp in find_choice_points(mod)
        ]
    )
