"""Exceptions raised by the search-space package.

All exceptions subclass :class:`ValueError` so callers that only care about
"bad input" can catch that, while callers that need to tell a malformed
*space* from a malformed *sample* can catch the specific class.  Every message
names the offending value and lists the valid choices.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["NacosError", "SearchSpaceError", "InvalidSampleError", "UnknownSpaceError"]


class NacosError(Exception):
    """Base class of the errors that are specific to tvm-nacos.

    Defined here, in the pure-Python search-space package, so that its errors share the base
    without importing the rest of tvm-nacos; :mod:`tvm_nacos.errors` re-exports it.
    """


class SearchSpaceError(NacosError, ValueError):
    """A search space (or one of its choice specifications) is malformed.

    Raised for a duplicate label, a choice with fewer than two options,
    duplicate option names, a default that is not among the options, or a
    condition whose parent is unknown, defined later, or which names an
    option the parent does not have.
    """


class InvalidSampleError(NacosError, ValueError):
    """An architecture sample does not fit a search space.

    Raised for a sample that names an unknown label, picks an unknown option
    for a label, or misses a label that is active under its other choices.
    """


def _quote_list(values: Iterable[object]) -> str:
    """Format values as a comma-separated list of their reprs.

    Parameters
    ----------
    values : Iterable[object]
        The values to list.

    Returns
    -------
    str
        ``"'a', 'b'"`` for ``["a", "b"]``, or ``"(none)"`` when empty.
    """
    text = ", ".join(repr(v) for v in values)
    return text if text else "(none)"


class UnknownSpaceError(NacosError, ValueError):
    """A built-in search space was asked for by a name that the registry does not know.

    The message names the bad name and lists the valid ones.
    """
