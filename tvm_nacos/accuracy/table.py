"""TableAccuracy: the accuracy of NAS-Bench-201 cells, looked up in the benchmark's table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from tvm_nacos.accuracy.base import AccuracyEstimator
from tvm_nacos.data.nas_bench_201 import METRICS, load_table
from tvm_nacos.search_space import ArchSample, NasBench201Space

__all__ = ["TableAccuracy"]

Metric = Literal["valid_accuracy", "test_accuracy", "train_accuracy"]


class TableAccuracy(AccuracyEstimator):
    """CIFAR-10 accuracy of ``nas-bench-201`` cells from the NAS-Bench-201 table (200 epochs).

    Scores are top-1 accuracies in percent, the mean of the benchmark's three training seeds.
    The table ships with the package (``tvm_nacos/data/nas_bench_201``, MIT licence); reading it
    needs neither PyTorch nor TVM.

    Parameters
    ----------
    metric : {"valid_accuracy", "test_accuracy", "train_accuracy"}
        The column: search on ``valid_accuracy`` (the held-out half of the CIFAR-10 training
        set, the default), report ``test_accuracy``.

    Raises
    ------
    ValueError
        For another metric (the message lists the valid ones).

    Examples
    --------
    >>> from tvm_nacos.search_space import get
    >>> nb201 = get("nas-bench-201")
    >>> TableAccuracy().evaluate([nb201.sample_from_index(6111)])
    [91.6067]
    """

    is_cheap: ClassVar[bool] = True

    def __init__(self, metric: Metric = "valid_accuracy") -> None:
        if metric not in METRICS:
            raise ValueError(f"unknown NAS-Bench-201 metric {metric!r}; valid metrics: {list(METRICS)}")
        self._nb201 = NasBench201Space()
        super().__init__(self._nb201.space)
        self.metric: str = metric

    @property
    def name(self) -> str:
        """``"nas-bench-201/<metric>"``."""
        return f"nas-bench-201/{self.metric}"

    def estimate(self, samples: Sequence[ArchSample]) -> list[float]:
        table = load_table()
        column = table.metric(self.metric)
        return [float(column[table.index_of(self._nb201.arch_str(sample))]) for sample in samples]
