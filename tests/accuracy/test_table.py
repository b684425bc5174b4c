"""TableAccuracy: NAS-Bench-201 accuracies from the shipped table, cached by sample id."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from importlib import resources
from typing import ClassVar

import numpy as np
import pytest

from tvm_nacos.accuracy import AccuracyEstimator, TableAccuracy
from tvm_nacos.data.nas_bench_201 import load_table
from tvm_nacos.search_space import ArchSample, InvalidSampleError, get

BEST_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def _csv_rows() -> list[dict[str, str]]:
    text = resources.files("tvm_nacos.data.nas_bench_201").joinpath("cifar10_valid_200ep.csv").read_text()
    return list(csv.DictReader(text.splitlines()))


def test_package_data_ships_with_its_licence() -> None:
    folder = resources.files("tvm_nacos.data.nas_bench_201")
    assert "MIT License" in folder.joinpath("LICENSE").read_text()
    assert len(_csv_rows()) == 15_625


def test_values_come_from_the_table_row_of_the_cell(rng: np.random.Generator) -> None:
    nb201 = get("nas-bench-201")
    rows = _csv_rows()
    valid, test = TableAccuracy(), TableAccuracy("test_accuracy")
    indices = [int(i) for i in rng.choice(len(rows), size=50, replace=False)]
    samples = [nb201.from_arch_str(rows[i]["arch_str"]) for i in indices]
    assert valid.evaluate(samples) == [float(rows[i]["valid_accuracy"]) for i in indices]
    assert test.evaluate(samples) == [float(rows[i]["test_accuracy"]) for i in indices]
    assert TableAccuracy("train_accuracy").evaluate(samples[:1]) == [float(rows[indices[0]]["train_accuracy"])]


def test_landmarks() -> None:
    nb201 = get("nas-bench-201")
    best = nb201.from_arch_str(BEST_ARCH)
    assert TableAccuracy().evaluate([best]) == [91.6067]
    assert TableAccuracy("test_accuracy").evaluate([best]) == [91.09]
    assert max(load_table().valid_accuracy) == 91.6067
    all_none = {label: "none" for label in nb201.space.labels}
    assert TableAccuracy("test_accuracy").evaluate([all_none]) == [10.0]  # chance level


def test_interface_and_cache() -> None:
    table = TableAccuracy()
    assert isinstance(table, AccuracyEstimator)
    assert table.is_cheap is True and TableAccuracy.is_cheap is True
    assert table.name == "nas-bench-201/valid_accuracy"
    assert TableAccuracy("test_accuracy").name == "nas-bench-201/test_accuracy"
    nb201 = get("nas-bench-201")
    a, b = nb201.sample_from_index(0), nb201.sample_from_index(1)
    shuffled = ArchSample(reversed(list(a.items())))  # same architecture, another order
    scores = table.evaluate([a, b, shuffled, dict(a)])
    assert scores[0] == scores[2] == scores[3] and table.cache_size == 2
    table.clear_cache()
    assert table.cache_size == 0
    assert table.evaluate([]) == []


def test_errors_name_the_bad_value() -> None:
    table = TableAccuracy()
    with pytest.raises(InvalidSampleError, match=r"nas-bench-201/valid_accuracy: unknown label 'stage1.width'"):
        table.evaluate([get("resnet").default_sample()])
    bad = {**get("nas-bench-201").default_sample(), "edge.1<-0": "sep_conv_3x3"}
    with pytest.raises(InvalidSampleError, match=r"'sep_conv_3x3' for label 'edge.1<-0'.*'none'"):
        table.evaluate([bad])
    with pytest.raises(TypeError, match=r"single mapping.*wrap it in a list"):
        table.evaluate(get("nas-bench-201").default_sample())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"'top1'.*'valid_accuracy', 'test_accuracy', 'train_accuracy'"):
        TableAccuracy("top1")  # type: ignore[arg-type]
    assert table.cache_size == 0


class _Counting(AccuracyEstimator):
    """A minimal estimator that counts what it is asked to evaluate."""

    is_cheap: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    @property
    def name(self) -> str:
        return "counting"

    def estimate(self, samples: Sequence[ArchSample]) -> list[float]:
        self.calls.append(len(samples))
        return [float(len(s)) for s in samples]


def test_base_class_evaluates_each_architecture_once() -> None:
    estimator = _Counting()
    assert estimator.space is None
    first = estimator.evaluate([{"a": "x"}, {"a": "x"}, {"a": "y", "b": "z"}])
    assert first == [1.0, 1.0, 2.0] and estimator.calls == [2]
    assert estimator.evaluate([{"a": "y", "b": "z"}]) == [2.0] and estimator.calls == [2]
    with pytest.raises(TypeError, match=r"abstract"):
        AccuracyEstimator()  # type: ignore[abstract]
