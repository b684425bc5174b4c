"""Zero-cost proxies (synflow, NASWOT, grad_norm) on the nas-bench-201 network with a digits mini-batch."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from tvm_nacos.accuracy import (
    ZERO_COST_PROXIES,
    AccuracyEstimator,
    GradNormProxy,
    NaswotProxy,
    SynflowProxy,
    ZeroCostProxy,
)
from tvm_nacos.accuracy._torch import reset_batch_norms
from tvm_nacos.search_space import ArchSample, InvalidSampleError, UnknownSpaceError, get

NB201 = get("nas-bench-201")
ALL_NONE = ArchSample((label, "none") for label in NB201.space.labels)
ALL_CONV3 = ArchSample((label, "nor_conv_3x3") for label in NB201.space.labels)
# A small batch keeps each score well under a second on one core.
BATCH = 8


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    # These networks are small; on a shared 2-core machine a second intra-op thread mostly waits.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _random_cells(count: int) -> list[ArchSample]:
    rng = np.random.default_rng(0)
    return [NB201.space.sample(rng) for _ in range(count)]


@pytest.mark.parametrize("name", ["synflow", "naswot", "grad_norm"])
def test_deterministic_for_a_seed_and_distinct_across_architectures(name: str) -> None:
    cells = _random_cells(3)
    first = ZeroCostProxy.create(name, batch_size=BATCH, seed=0).evaluate(cells)
    again = ZeroCostProxy.create(name, batch_size=BATCH, seed=0).evaluate(cells)
    other_seed = ZeroCostProxy.create(name, batch_size=BATCH, seed=1).evaluate(cells)
    assert first == again
    assert other_seed != first
    assert len(set(first)) == 3 and all(math.isfinite(v) for v in first)


def test_degenerate_cell_ranks_below_a_strong_one() -> None:
    pair = [ALL_NONE, ALL_CONV3]
    synflow = SynflowProxy(batch_size=BATCH).evaluate(pair)
    grad_norm = GradNormProxy(batch_size=BATCH).evaluate(pair)
    naswot = NaswotProxy(batch_size=BATCH).evaluate(pair)
    # No path links input and output: no synaptic flow, no gradient reaches a weight.
    assert synflow[0] == 0.0 and synflow[1] > 1e30
    assert grad_norm[0] == 0.0 and grad_norm[1] > 1.0
    # Every image gets the same activation codes: the kernel is singular.
    assert naswot[0] == -math.inf and math.isfinite(naswot[1])


def test_cached_by_sample_id(monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = SynflowProxy()
    calls: list[int] = []
    score = proxy.score
    monkeypatch.setattr(proxy, "score", lambda network: calls.append(1) or score(network))
    cell = _random_cells(1)[0]
    reordered = ArchSample(reversed(list(cell.items())))
    first = proxy.evaluate([cell, dict(cell)])
    assert proxy.evaluate([reordered]) == [first[0]] and first[0] == first[1]
    assert len(calls) == 1 and proxy.cache_size == 1


def test_interface() -> None:
    assert sorted(ZERO_COST_PROXIES) == ["grad_norm", "naswot", "synflow"]
    for name, cls in ZERO_COST_PROXIES.items():
        proxy = ZeroCostProxy.create(name)
        assert isinstance(proxy, cls) and isinstance(proxy, AccuracyEstimator)
        assert proxy.is_cheap is True and proxy.name == f"nas-bench-201/{name}"
        assert proxy.space == NB201.space
    images, labels = NaswotProxy(batch_size=16).minibatch()
    assert images.shape == (16, 3, 32, 32) and labels.shape == (16,)


def test_network_has_the_reference_weights_with_fresh_batch_norms() -> None:
    cell = _random_cells(1)[0]
    proxy = GradNormProxy(seed=2)
    ours = proxy.network(cell)
    reference = reset_batch_norms(NB201.torch_reference(cell, seed=2))
    ours_state, reference_state = ours.state_dict(), reference.state_dict()
    assert list(ours_state) == list(reference_state)
    assert all(torch.equal(ours_state[k], reference_state[k]) for k in ours_state)
    x = NB201.example_input()
    assert torch.equal(ours.eval()(x), reference(x))
    assert proxy.network(cell) is not ours  # a fresh copy each time


def test_other_builtin_space() -> None:
    resnet = get("resnet", resolution=16)
    rng = np.random.default_rng(1)
    cells = [resnet.space.sample(rng) for _ in range(2)]
    scores = NaswotProxy(resnet, batch_size=BATCH).evaluate(cells)
    assert all(math.isfinite(v) for v in scores) and scores[0] != scores[1]
    assert NaswotProxy(resnet).name == "resnet/naswot"


def test_errors_name_the_bad_value() -> None:
    proxy = SynflowProxy()
    bad = {**NB201.default_sample(), "edge.1<-0": "sep_conv_3x3"}
    with pytest.raises(InvalidSampleError, match=r"nas-bench-201/synflow: .*'sep_conv_3x3' for label 'edge.1<-0'.*'none'"):
        proxy.evaluate([bad])
    with pytest.raises(InvalidSampleError, match=r"unknown label 'stage1.width'"):
        proxy.evaluate([get("resnet").default_sample()])
    assert proxy.cache_size == 0
    with pytest.raises(ValueError, match=r"unknown zero-cost proxy 'snip'; valid proxies: \['synflow', 'naswot', 'grad_norm'\]"):
        ZeroCostProxy.create("snip")  # type: ignore[arg-type]
    with pytest.raises(UnknownSpaceError, match=r"'nb201'.*'nas-bench-201'"):
        SynflowProxy("nb201")
    with pytest.raises(ValueError, match=r"batch_size must be an int >= 1, got 0"):
        NaswotProxy(batch_size=0)
    with pytest.raises(TypeError, match=r"space must be a built-in space name, a BuiltinSpace or a supernet of your own .*, got int 3"):
        SynflowProxy(3)  # type: ignore[arg-type]


def test_package_import_stays_light() -> None:
    code = (
        "import sys, tvm_nacos.accuracy as acc; light = 'torch' not in sys.modules;"
        "cls = acc.ZeroCostProxy; print(light, 'torch' in sys.modules, cls.__name__, 'tvm' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "True", "ZeroCostProxy", "False"], result.stdout + result.stderr


def test_synflow_reaches_through_relu6_on_mobilenet_v2() -> None:
    # ReLU6 saturates on synflow's all-ones input with non-negative weights; left in place it
    # stops the flow to every layer before it, and all architectures score the same.
    space = get("mobilenet-v2", resolution=32)
    default = space.space.default_sample()
    wide = ArchSample({**default, "stage3.block2.kernel": "k7"})
    narrow = ArchSample({**default, "stage3.block2.expand": "e3"})
    shallow = space.space.canonicalize({**default, "stage3.block2.depth": "skip"})
    scores = dict(zip(["default", "wide", "narrow", "shallow"],
                      SynflowProxy(space).evaluate([default, wide, narrow, shallow]), strict=True))
    assert len(set(scores.values())) == 4, scores
    # Fewer channels or fewer blocks on the paths: less flow.
    assert scores["default"] > scores["narrow"] > scores["shallow"] > 0, scores
