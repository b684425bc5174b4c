"""Checks of numeric options, with messages that name the option, the value and the valid range."""

from __future__ import annotations

import math
import numbers

__all__ = ["check_int", "check_positive"]


def check_int(name: str, value: object, minimum: int) -> int:
    """``value`` as an ``int`` if it is an integer (not a ``bool``) of at least ``minimum``.

    Raises
    ------
    TypeError
        ``value`` is not an integer.
    ValueError
        It is below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_positive(name: str, value: object, *, allow_zero: bool = False, allow_none: bool = False) -> float | None:
    """``value`` as a ``float`` if it is a finite number above 0 (or 0, or ``None``, where allowed).

    Raises
    ------
    TypeError
        ``value`` is not a finite number.
    ValueError
        It is negative, or 0 where that is not allowed.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number, got {type(value).__name__} {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return float(value)
