"""The NAS-Bench-201 cell space (Dong & Yang, ICLR 2020): 6 edges × 5 operations = 15,625 cells.

A cell has nodes 0 (input) to 3 (output); every edge ``i → j`` (``i < j``) carries one of
:data:`OPS`. Each edge is one choice, labelled ``"edge.{j}<-{i}"``, and applies to the same edge of
all 15 cells of the network. The labels, in the order of the benchmark's ``arch_str``:

=====  ==============  =========================================
edge   label           place in ``arch_str``
=====  ==============  =========================================
0 → 1  ``edge.1<-0``   ``|op~0|`` (node 1)
0 → 2  ``edge.2<-0``   ``|op~0|`` (node 2, first)
1 → 2  ``edge.2<-1``   ``|op~1|`` (node 2, second)
0 → 3  ``edge.3<-0``   ``|op~0|`` (node 3, first)
1 → 3  ``edge.3<-1``   ``|op~1|`` (node 3, second)
2 → 3  ``edge.3<-2``   ``|op~2|`` (node 3, third)
=====  ==============  =========================================

so ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...`` is
``{"edge.1<-0": "nor_conv_3x3", "edge.2<-0": "none", "edge.2<-1": "skip_connect", ...}``. The
benchmark index of a cell comes from the NAS-Bench-201 table: ``import tvm_nacos`` registers
the one shipped in :mod:`tvm_nacos.data.nas_bench_201` with :func:`register_table` (it is read on
first use). The network is described in :mod:`tvm_nacos.models.nas_bench_201`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from .builtin import BuiltinSpace
from .errors import InvalidSampleError, _quote_list
from .sample import ArchSample
from .space import ChoiceSpec, SearchSpace

__all__ = [
    "DEFAULT_OP",
    "EDGES",
    "EDGE_LABELS",
    "NUM_CELLS",
    "OPS",
    "BenchmarkTable",
    "NasBench201Space",
    "register_table",
]

#: The operations of an edge, in the benchmark's order.
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: The edges ``(to_node, from_node)`` in the order of the benchmark's ``arch_str``.
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
#: The choice label of each edge of :data:`EDGES`.
EDGE_LABELS = tuple(f"edge.{j}<-{i}" for j, i in EDGES)
#: The option the unspecialized supernet runs on every edge.
DEFAULT_OP = "nor_conv_3x3"
#: Number of cells in the space, ``len(OPS) ** len(EDGES)``.
NUM_CELLS = len(OPS) ** len(EDGES)




class BenchmarkTable(Protocol):
    """The part of the NAS-Bench-201 table that maps cells to benchmark indices."""

    #: The cell of each index, in the benchmark's ``arch_str`` form.
    arch_str: Sequence[str]

    def __len__(self) -> int:
        """Number of rows (15,625)."""

    def index_of(self, arch_str: str) -> int:
        """The index of a cell given in the table's exact ``arch_str`` form."""


_load_table: Callable[[], BenchmarkTable] | None = None


def register_table(load: Callable[[], BenchmarkTable]) -> None:
    """Set where :meth:`NasBench201Space.index` and :meth:`~NasBench201Space.sample_from_index` read the table.

    ``import tvm_nacos`` registers :func:`tvm_nacos.data.nas_bench_201.load_table`.

    Parameters
    ----------
    load : Callable[[], BenchmarkTable]
        Returns the table; called on every lookup, so it should cache what it reads.

    Raises
    ------
    TypeError
        If ``load`` is not callable.
    """
    if not callable(load):
        raise TypeError(f"load must be a callable returning the table, got {type(load).__name__} {load!r}")
    global _load_table
    _load_table = load


def _table() -> BenchmarkTable:
    if _load_table is None:
        raise RuntimeError(
            "no NAS-Bench-201 table is registered; import tvm_nacos (it registers "
            "tvm_nacos.data.nas_bench_201.load_table) or call register_table"
        )
    return _load_table()


@functools.cache
def _space() -> SearchSpace:
    return SearchSpace(ChoiceSpec(label, OPS, DEFAULT_OP) for label in EDGE_LABELS)


@dataclass(frozen=True)
class NasBench201Space(BuiltinSpace):
    """The NAS-Bench-201 topology space and its network, exactly as benchmarked on CIFAR-10.

    The network is the benchmark's (C=16, N=5 cells per stage, 10 classes, 32×32×3 input); see
    :mod:`tvm_nacos.models.nas_bench_201`. Six choices (one per cell edge, see the module
    docstring for the labels), five options each; the supernet's default cell has
    ``nor_conv_3x3`` on every edge.

    Examples
    --------
    >>> nb201 = NasBench201Space()
    >>> s = nb201.from_arch_str("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    ...                         "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    >>> nb201.index(s)
    6111
    """

    name: ClassVar[str] = "nas-bench-201"

    #: The benchmark's network: first-stage width C, cells per stage N, classes, input side.
    channels: ClassVar[int] = 16
    cells_per_stage: ClassVar[int] = 5
    num_classes: ClassVar[int] = 10
    resolution: ClassVar[int] = 32

    @property
    def space(self) -> SearchSpace:
        """Six unconditional choices over :data:`OPS`; size 15,625."""
        return _space()

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """``(1, 3, 32, 32)``."""
        return (1, 3, self.resolution, self.resolution)

    def sandwich_samples(self) -> tuple[ArchSample, ArchSample]:
        """The cell with the most parameters and the smallest cell whose output depends on its input.

        Largest: ``nor_conv_3x3`` on every edge. Smallest: ``skip_connect`` on edge 0→3 and
        ``none`` elsewhere; the all-``none`` cell has as few parameters but cuts the network, so
        training it would teach the shared stem, reductions and head nothing.
        """
        largest = ArchSample((label, "nor_conv_3x3") for label in EDGE_LABELS)
        smallest = ArchSample((label, "skip_connect" if label == "edge.3<-0" else "none") for label in EDGE_LABELS)
        return largest, smallest

    # -- the benchmark's encodings -------------------------------------------------------------

    def arch_str(self, sample: Mapping[str, str]) -> str:
        """The benchmark's ``arch_str`` of a cell.

        Parameters
        ----------
        sample : Mapping[str, str]
            An architecture of :attr:`space`.

        Returns
        -------
        str
            ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` with the operations of the edges 0→1, 0→2,
            1→2, 0→3, 1→3, 2→3.

        Raises
        ------
        InvalidSampleError
            If ``sample`` is not an architecture of the space.
        """
        self.space.validate(sample)
        nodes = []
        for to_node in (1, 2, 3):
            ops = [f"{sample[label]}~{i}" for (j, i), label in zip(EDGES, EDGE_LABELS, strict=True) if j == to_node]
            nodes.append("|" + "|".join(ops) + "|")
        return "+".join(nodes)

    def from_arch_str(self, arch_str: str) -> ArchSample:
        """The sample of a cell given as the benchmark's ``arch_str``.

        Parameters
        ----------
        arch_str : str
            ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``; within a node, the inputs may come in any
            order.

        Returns
        -------
        ArchSample
            The canonical sample (labels in :data:`EDGE_LABELS` order).

        Raises
        ------
        TypeError
            If ``arch_str`` is not a ``str``.
        InvalidSampleError
            If the string is malformed or names an unknown operation (the message names the part
            and the valid operations).
        """
        if not isinstance(arch_str, str):
            raise TypeError(f"arch_str must be a str, got {type(arch_str).__name__} {arch_str!r}")
        form = "'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'"
        nodes = arch_str.split("+")
        if len(nodes) != 3:
            raise InvalidSampleError(
                f"arch_str {arch_str!r} has {len(nodes)} node(s) separated by '+', expected 3: {form}"
            )
        picked: dict[str, str] = {}
        for to_node, node in enumerate(nodes, start=1):
            if len(node) < 2 or not (node.startswith("|") and node.endswith("|")):
                raise InvalidSampleError(
                    f"node {to_node} {node!r} of arch_str {arch_str!r} is not '|...|': {form}"
                )
            seen: set[int] = set()
            for part in node[1:-1].split("|"):
                op, sep, source = part.partition("~")
                if not sep or not source.isdigit() or int(source) >= to_node or int(source) in seen:
                    raise InvalidSampleError(
                        f"edge {part!r} of node {to_node} in arch_str {arch_str!r} is not 'op~i' with a "
                        f"distinct input i in {list(range(to_node))}: {form}"
                    )
                if op not in OPS:
                    raise InvalidSampleError(
                        f"unknown operation {op!r} in arch_str {arch_str!r}; "
                        f"valid operations: {_quote_list(OPS)}"
                    )
                seen.add(int(source))
                picked[f"edge.{to_node}<-{source}"] = op
            if len(seen) != to_node:
                raise InvalidSampleError(
                    f"node {to_node} {node!r} of arch_str {arch_str!r} has inputs {sorted(seen)}, "
                    f"expected {list(range(to_node))}: {form}"
                )
        return ArchSample((label, picked[label]) for label in EDGE_LABELS)

    def index(self, sample: Mapping[str, str]) -> int:
        """The benchmark index (0…15,624) of a cell, from the NAS-Bench-201 table.

        Raises
        ------
        InvalidSampleError
            If ``sample`` is not an architecture of the space.
        """
        return _table().index_of(self.arch_str(sample))

    def sample_from_index(self, index: int) -> ArchSample:
        """The cell of a benchmark index, from the NAS-Bench-201 table.

        Parameters
        ----------
        index : int
            0…15,624.

        Returns
        -------
        ArchSample
            The canonical sample.

        Raises
        ------
        TypeError
            If ``index`` is not an int.
        InvalidSampleError
            If ``index`` is out of range (the message gives the valid range).
        """
        if isinstance(index, bool) or not hasattr(index, "__index__"):
            raise TypeError(f"index must be an int, got {type(index).__name__} {index!r}")
        table = _table()
        i = int(index)
        if not 0 <= i < len(table):
            raise InvalidSampleError(
                f"NAS-Bench-201 index {index!r} is out of range; valid indices: 0..{len(table) - 1}"
            )
        return self.from_arch_str(table.arch_str[i])
