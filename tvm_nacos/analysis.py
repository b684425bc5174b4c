"""Analyses of modules with choice points."""

from __future__ import annotations

from collections.abc import Iterable

import tvm

from tvm_nacos.ir.choice import ChoicePoint, find_choice_points
from tvm_nacos.search_space import ChoiceSpec, Condition, SearchSpace

__all__ = ["search_space", "space_of_choice_points"]


def search_space(mod: tvm.IRModule) -> SearchSpace:
    """The search space that the choice points of ``mod`` span.

    Parameters
    ----------
    mod : tvm.IRModule
        A module with choice points (see :mod:`tvm_nacos.ir.choice`).

    Returns
    -------
    SearchSpace
        One choice per label, in the order of :func:`~tvm_nacos.ir.find_choice_points`;
        nested choice points become conditional choices, and stubs that share a label
        (sites) are one choice. A module without choice points gives
        an empty space (size 1: the module itself).
    """
    return space_of_choice_points(find_choice_points(mod))


def space_of_choice_points(points: Iterable[ChoicePoint]) -> SearchSpace:
    """The search space of choice points already found by :func:`~tvm_nacos.ir.find_choice_points`
    (what :func:`search_space` returns, without walking the module again)."""
    specs: dict[str, ChoiceSpec] = {}
    for cp in points:
        # Sites of one label are one choice (find_choice_points checked that they agree).
        specs.setdefault(
            cp.label,
            ChoiceSpec(
                label=cp.label,
                options=cp.options,
                default=cp.default,
                condition=None if cp.condition is None else Condition(*cp.condition),
            ),
        )
    return SearchSpace(list(specs.values()))
