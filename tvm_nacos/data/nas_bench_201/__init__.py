"""The NAS-Bench-201 CIFAR-10 table (200 epochs), shipped as package data.

``cifar10_valid_200ep.csv`` holds one row per cell of the NAS-Bench-201 topology space, in the
benchmark's index order; see ``README.md`` next to it for the columns and the provenance, and
``LICENSE`` (MIT) for the terms. :func:`load_table` reads it once per process (pure Python and
numpy).
"""

from __future__ import annotations

import csv
import functools
import io
import logging
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

__all__ = ["CSV_NAME", "METRICS", "NUM_ARCHITECTURES", "NasBench201Table", "load_table"]

logger = logging.getLogger(__name__)

#: File name of the table inside this package.
CSV_NAME = "cifar10_valid_200ep.csv"
#: The accuracy columns of the table (top-1, percent).
METRICS = ("valid_accuracy", "test_accuracy", "train_accuracy")
#: Rows of the table: every cell of the space, 5 ** 6.
NUM_ARCHITECTURES = 15_625

_COLUMNS = ("index", "arch_str", *METRICS)


@dataclass(frozen=True, eq=False)
class NasBench201Table:
    """The NAS-Bench-201 CIFAR-10 table; row ``i`` is benchmark index ``i``.

    Attributes
    ----------
    arch_str : tuple[str, ...]
        The cell of each index, in the benchmark's ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` form.
    valid_accuracy, test_accuracy, train_accuracy : numpy.ndarray
        Read-only float64 arrays, top-1 accuracy in percent (mean of 3 seeds, 200 epochs).
    """

    arch_str: tuple[str, ...]
    valid_accuracy: np.ndarray
    test_accuracy: np.ndarray
    train_accuracy: np.ndarray
    _rows: dict[str, int] = field(repr=False)

    def __len__(self) -> int:
        return len(self.arch_str)

    def index_of(self, arch_str: str) -> int:
        """The benchmark index of a cell given in the table's exact ``arch_str`` form.

        Raises
        ------
        KeyError
            If the string is not a row of the table.
        """
        try:
            return self._rows[arch_str]
        except KeyError:
            raise KeyError(
                f"arch_str {arch_str!r} is not in the NAS-Bench-201 table; expected the form "
                "'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'"
            ) from None

    def metric(self, name: str) -> np.ndarray:
        """The column ``name``, one of :data:`METRICS`.

        Raises
        ------
        ValueError
            For another name; the message lists the valid ones.
        """
        if name not in METRICS:
            raise ValueError(f"unknown NAS-Bench-201 metric {name!r}; valid metrics: {list(METRICS)}")
        return getattr(self, name)


def _read_only(values: list[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    array.flags.writeable = False
    return array


@functools.cache
def load_table() -> NasBench201Table:
    """Read the table shipped with the package (once per process).

    Returns
    -------
    NasBench201Table
        All 15,625 rows.

    Raises
    ------
    RuntimeError
        If the shipped file is damaged: wrong columns, rows out of index order, a repeated cell or
        a row count other than 15,625.
    """
    text = resources.files(__name__).joinpath(CSV_NAME).read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != _COLUMNS:
        raise RuntimeError(f"{CSV_NAME} has columns {reader.fieldnames}, expected {list(_COLUMNS)}")
    arch_strs: list[str] = []
    columns: dict[str, list[float]] = {m: [] for m in METRICS}
    for position, row in enumerate(reader):
        if int(row["index"]) != position:
            raise RuntimeError(
                f"{CSV_NAME}: row {position} has index {row['index']}; rows must be in index order"
            )
        arch_strs.append(row["arch_str"])
        for metric in METRICS:
            columns[metric].append(float(row[metric]))
    rows = {s: i for i, s in enumerate(arch_strs)}
    if len(arch_strs) != NUM_ARCHITECTURES or len(rows) != NUM_ARCHITECTURES:
        raise RuntimeError(
            f"{CSV_NAME} has {len(arch_strs)} rows and {len(rows)} distinct cells; "
            f"expected {NUM_ARCHITECTURES} of each"
        )
    logger.debug("read %d NAS-Bench-201 rows from %s", len(arch_strs), CSV_NAME)
    return NasBench201Table(
        arch_str=tuple(arch_strs),
        valid_accuracy=_read_only(columns["valid_accuracy"]),
        test_accuracy=_read_only(columns["test_accuracy"]),
        train_accuracy=_read_only(columns["train_accuracy"]),
        _rows=rows,
    )
