"""``tvm-nacos spaces``: the built-in search spaces; and the space a subcommand names.

Pure Python: imports neither TVM nor PyTorch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_SPACE", "SpaceSummary", "list_spaces", "resolve_space"]

#: The space ``tvm-nacos search`` and ``tvm-nacos tasks`` use when given neither a space nor a model.
DEFAULT_SPACE = "nas-bench-201"


@dataclass(frozen=True)
class SpaceSummary:
    """One built-in space: name, size, choice points, input shape, what it is."""

    name: str
    size: int
    num_choice_points: int
    input_shape: tuple[int, ...]
    description: str


def list_spaces() -> list[SpaceSummary]:
    """The built-in spaces (pure Python: imports neither TVM nor PyTorch)."""
    from tvm_nacos import search_space as spaces

    summaries = []
    for name in spaces.names():
        builtin = spaces.get(name)
        doc = (type(builtin).__doc__ or "").strip().splitlines()
        summaries.append(
            SpaceSummary(
                name=name,
                size=builtin.space.size,
                num_choice_points=len(builtin.space),
                input_shape=tuple(builtin.input_shape),
                description=doc[0].removesuffix(".").replace(" (see the module docstring)", "") if doc else "",
            )
        )
    return summaries


def resolve_space(
    space: str | None, model: str | os.PathLike[str] | None, space_options: Mapping[str, Any] | None
) -> Any:
    """The built-in space a call names (:data:`DEFAULT_SPACE` if none) with its options, or
    ``None`` when it names a model file.

    Raises
    ------
    ValueError
        Both a space and a model file; space options with a model file; an unknown space or
        option (the message lists the valid ones).
    """
    from tvm_nacos import search_space as spaces

    if space is not None and model is not None:
        raise ValueError("give a built-in space or a model file, not both")
    if model is not None:
        if space_options:
            raise ValueError(f"space options {dict(space_options)} apply to a built-in space, not to a model file")
        return None
    try:
        return spaces.get(space or DEFAULT_SPACE, **dict(space_options or {}))
    except TypeError as err:  # an option the space does not have: the message lists the valid ones
        raise ValueError(str(err)) from err
