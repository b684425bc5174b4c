"""Exceptions raised by tvm-nacos.

Every error names the bad value and, where there is a fixed set, the valid ones. They subclass
the builtin that fits, so ``except ValueError`` keeps working for callers that do not know us.
This module imports nothing heavy: it is safe to import without TVM or PyTorch.
"""

from __future__ import annotations

from collections import OrderedDict

from tvm_nacos.search_space.errors import InvalidSampleError, NacosError, SearchSpaceError, UnknownSpaceError

__all__ = [
    "ChoicePointError",
    "DataError",
    "InvalidSampleError",
    "NacosError",
    "NoChoicePointError",
    "SearchConfigError",
    "SearchSpaceError",
    "UnknownSpaceError",
    "UnsupportedModelError",
    "WorkDirError",
]


class ChoicePointError(NacosError, ValueError):
    """A choice point is malformed: options disagree on their output, labels repeat, too few options.

    Parameters
    ----------
    message : str
        What is wrong.
    label : str, optional
        The label of the offending choice point.
    option : str, optional
        The offending option of that choice point.
    """

    def __init__(self, message: str, *, label: str | None = None, option: str | None = None) -> None:
        super().__init__(message)
        if label is None and option is None:
            label, option = _CHOICE_ERROR_FIELDS.get(message, (None, None))
        else:
            _remember_fields(message, label, option)
        self.label = label
        self.option = option


# An error raised inside a pass crosses TVM's FFI, which re-creates it from its class and
# message alone (see tvm_nacos._compat). The fields of recent errors are kept by message so
# that the re-created error still names its label and option.
_CHOICE_ERROR_FIELDS: OrderedDict[str, tuple[str | None, str | None]] = OrderedDict()
_MAX_REMEMBERED = 64


def _remember_fields(message: str, label: str | None, option: str | None) -> None:
    _CHOICE_ERROR_FIELDS[message] = (label, option)
    _CHOICE_ERROR_FIELDS.move_to_end(message)
    while len(_CHOICE_ERROR_FIELDS) > _MAX_REMEMBERED:
        _CHOICE_ERROR_FIELDS.popitem(last=False)


class NoChoicePointError(NacosError, ValueError):
    """The module has no choice point, so there is nothing to search."""


class UnsupportedModelError(NacosError, ValueError):
    """A model cannot be imported, for example because the importer has no converter for an op."""


class WorkDirError(NacosError, ValueError):
    """A work directory cannot be used: written by an incompatible version, or a resume that
    does not match the run it would continue (other space, strategy, seed or budget)."""


class SearchConfigError(NacosError, ValueError):
    """A search was asked for with a bad setting: budget, strategy, strategy or schedule option."""


class DataError(NacosError, ValueError):
    """Image data that cannot be used: a missing array, a wrong shape, NaN pixels, a bad label,
    images a network cannot take (see :class:`tvm_nacos.accuracy.ImageData`)."""
