"""CapacityProxy: log10 of MACs or weights, the stand-in for models without an accuracy estimator."""

from __future__ import annotations

import math

import pytest

from tvm_nacos.accuracy import CapacityProxy

SMALL = {"block1.op": "conv3x3", "block2.depth": "skip"}
LARGE = {"block1.op": "conv5x5", "block2.depth": "keep", "block2.kernel": "k5"}


def test_macs_and_params(supernet) -> None:
    macs = CapacityProxy(supernet, measure="macs")
    small, large = macs.evaluate([SMALL, LARGE])
    # stem 3->8 and block1 8->8 3x3 convolutions on 16x16, then an 8->10 linear layer
    assert small == pytest.approx(math.log10(16 * 16 * 8 * (3 * 9 + 8 * 9) + 8 * 10))
    assert large > small and macs.name == "capacity/macs"
    params = CapacityProxy(supernet, measure="params")
    # conv weights, folded-away batch-norm statistics (4 vectors of 8 per conv), linear weight and bias
    assert params.evaluate([SMALL])[0] == pytest.approx(math.log10(8 * 3 * 9 + 8 * 8 * 9 + 2 * 4 * 8 + 8 * 10 + 10))


def test_bad_measure_and_sample(supernet) -> None:
    with pytest.raises(ValueError, match=r"unknown capacity measure 'flops'; valid measures: \['macs', 'params'\]"):
        CapacityProxy(supernet, measure="flops")
    with pytest.raises(ValueError, match="conv9"):
        CapacityProxy(supernet).evaluate([{"block1.op": "conv9", "block2.depth": "skip"}])


def test_counts_equal_those_of_the_specialized_module(supernet) -> None:
    # The proxy walks the call graph instead of specializing; the specialized count is the reference.
    from tvm_nacos.accuracy.capacity import count_constant_elements
    from tvm_nacos.analysis import count_macs, search_space
    from tvm_nacos.passes import SpecializeArch

    samples = list(search_space(supernet).enumerate())
    macs = CapacityProxy(supernet, measure="macs").evaluate(samples)
    params = CapacityProxy(supernet, measure="params").evaluate(samples)
    for sample, m, p in zip(samples, macs, params, strict=True):
        specialized = SpecializeArch(sample)(supernet)
        assert m == pytest.approx(math.log10(count_macs(specialized))), sample
        assert p == pytest.approx(math.log10(count_constant_elements(specialized))), sample
    assert len(set(params)) > 3
