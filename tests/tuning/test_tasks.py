"""Task extraction and the task pool: batch norm folded, shared kernels deduplicated."""

from __future__ import annotations

import pytest
import tvm

import tvm_nacos
from tvm_nacos.examples import example_input, example_supernet
from tvm_nacos.tuning import TaskPool, extract_tasks, lower_for_tuning

TARGET = tvm.target.Target({"kind": "llvm", "mcpu": "znver4", "num-cores": 2})


@pytest.fixture(scope="module")
def supernet() -> tvm.IRModule:
    return tvm_nacos.from_torch(example_supernet(), (example_input(),))


def _names(mod: tvm.IRModule, sample: dict, fold: bool) -> list[str]:
    return sorted(str(t.task_name) for t in extract_tasks(lower_for_tuning(mod, TARGET, sample=sample, fold_batch_norm=fold), TARGET))


def test_batch_norm_is_folded_into_convolutions(supernet: tvm.IRModule) -> None:
    sample = {"block1.op": "dwsep3x3", "block2.depth": "keep", "block2.kernel": "k5"}
    unfolded = _names(supernet, sample, fold=False)
    folded = _names(supernet, sample, fold=True)
    assert any("batch_norm" in n for n in unfolded)
    assert not any("batch_norm" in n for n in folded)
    convs = [n for n in folded if "conv2d" in n]
    assert len(convs) == 4  # stem, depthwise, pointwise, block2
    assert all("add" in n and "relu" in n for n in convs)  # bias (ex batch norm) and ReLU fused in
    assert len(folded) < len(unfolded)


def test_shared_layers_share_tasks(supernet: tvm.IRModule) -> None:
    pool = TaskPool(TARGET)
    a = pool.add_architecture(supernet, {"block1.op": "conv3x3", "block2.depth": "keep", "block2.kernel": "k3"})
    b = pool.add_architecture(supernet, {"block1.op": "conv3x3", "block2.depth": "keep", "block2.kernel": "k5"})
    c = pool.add_architecture(supernet, {"block1.op": "conv5x5", "block2.depth": "skip"})
    shared_ab = set(a.weights) & set(b.weights)
    assert shared_ab and set(a.weights) != set(b.weights)
    assert len(pool) == len(set(a.weights) | set(b.weights) | set(c.weights))
    for key in shared_ab:
        assert set(pool[key].architectures) >= {a.sample.id, b.sample.id}
    assert pool.sharing_ratio() > 1.0
    assert pool.sharing_ratio([a.sample.id]) == 1.0
    # Adding an architecture again changes nothing.
    assert pool.add_architecture(supernet, a.sample) is a and len(pool.architectures) == 3
    # A kernel's weight counts its calls: block2 "k3" and block1 "conv3x3" are the same conv.
    assert sum(a.weights.values()) == a.num_calls >= len(a.weights)
