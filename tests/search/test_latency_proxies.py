"""Latency proxies of the two-stage baseline: the PyTorch eager proxy."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import tvm
from tuning_helpers import host_cpu

import tvm_nacos
from tvm_nacos import search_space
from tvm_nacos.cosearch.latency_proxies import TWO_STAGE_PROXIES, eager_latency_ms
from tvm_nacos.examples import example_input, example_supernet
from tvm_nacos.search_space import ArchSample
from tvm_nacos.search_space.nas_bench_201 import EDGE_LABELS
from tvm_nacos.testing.fake import DeterministicBuilder, DeterministicRunner

TARGET = host_cpu(2)
#: The proxy times PyTorch on the target's cores: one here, since two PyTorch threads on a shared
#: 2-core host can run 10× slower when another process is busy.
ONE_CORE = host_cpu(1)


@pytest.fixture(scope="module")
def nb201():
    return search_space.get("nas-bench-201")


@pytest.fixture(scope="module")
def supernet() -> tvm.IRModule:
    return tvm_nacos.from_torch(example_supernet(), (example_input(),))


def _session(source, target) -> SimpleNamespace:
    # The eager proxy reads only these two attributes of a SearchSession; a real one would
    # import the 450-option NAS-Bench-201 module (15 s) for nothing.
    return SimpleNamespace(source=source, target=tvm.target.Target(target))


def test_eager_proxy_on_nas_bench_201(nb201) -> None:
    empty = ArchSample({label: "none" for label in EDGE_LABELS})
    convs = ArchSample({label: "nor_conv_3x3" for label in EDGE_LABELS})
    other = nb201.space.sample(np.random.default_rng(0))
    values = TWO_STAGE_PROXIES["eager"](_session(nb201, ONE_CORE), [empty, convs, other])
    assert len(values) == 3
    assert all(math.isfinite(v) and v > 0 for v in values)
    # 90 3×3 convolutions against none: a gap far above the timing noise of a shared host.
    assert values[0] < values[1]


def test_eager_latency_restores_torch_threads(nb201) -> None:
    import torch

    before = torch.get_num_threads()
    (value,) = eager_latency_ms(nb201, [nb201.default_sample()], num_threads=1, warmup=1, repeat=3)
    assert value > 0 and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="warmup >= 0 and repeat >= 1"):
        eager_latency_ms(nb201, [nb201.default_sample()], repeat=0)


def test_eager_proxy_needs_a_builtin_space_and_a_cpu_target(nb201, supernet, tmp_path) -> None:
    with pytest.raises(ValueError, match=r"needs a built-in space with a PyTorch reference.*'macs', 'untuned'"):
        tvm_nacos.search(
            supernet, target=TARGET, accuracy=lambda samples: [1.0] * len(samples), budget=8, strategy="two-stage",
            work_dir=tmp_path, builder=DeterministicBuilder(), runner=DeterministicRunner(), measure_end_to_end=False,
            strategy_options={"proxy": "eager", "num_candidates": 3},
        )
    with pytest.raises(ValueError, match=r"needs an llvm target, not 'cuda'.*'macs', 'untuned'"):
        TWO_STAGE_PROXIES["eager"](_session(nb201, {"kind": "cuda"}), [nb201.default_sample()])


def test_architecture_macs_equal_the_specialized_count(nb201) -> None:
    from tvm_nacos.analysis import ArchitectureMacs, count_macs
    from tvm_nacos.passes import SpecializeArch

    mod = nb201.ir_module()
    macs = ArchitectureMacs(mod)
    rng = np.random.default_rng(3)
    samples = [nb201.space.sample(rng) for _ in range(6)]
    samples += [ArchSample({label: "none" for label in EDGE_LABELS}),
                ArchSample({label: "nor_conv_3x3" for label in EDGE_LABELS})]
    values = [macs(s) for s in samples]
    assert values == [count_macs(SpecializeArch(s)(mod)) for s in samples]
    assert len(set(values)) > 4 and values[-2] < values[-1]


def test_architecture_macs_follow_nested_choices(supernet) -> None:
    # The example supernet has a conditional choice: the MACs of an option inside a parent
    # option count only when the parent picks it; SpecializeArch is the reference.
    from tvm_nacos.analysis import ArchitectureMacs, count_macs
    from tvm_nacos.analysis import search_space as space_of
    from tvm_nacos.passes import SpecializeArch

    space = space_of(supernet)
    macs = ArchitectureMacs(supernet)
    for sample in space.enumerate():
        assert macs(sample) == count_macs(SpecializeArch(sample)(supernet)), sample
