"""The FLOP-based latency prior of unmeasured kernels stays finite and physical."""

from __future__ import annotations

import math

import pytest

from tvm_nacos.cosearch.latency_estimate import FlopPrior

MAX_PRIOR_SLOPE = FlopPrior.MAX_SLOPE


def _prior(measured, flop):
    return FlopPrior()(flop, measured)


def test_prior_follows_measured_kernels() -> None:
    measured = [(1e3, 1e-6), (1e6, 1e-4), (1e8, 1e-2)]
    secs, spread = _prior(measured, 1e7)
    assert 1e-4 < secs < 1e-2 and spread == pytest.approx(0.3, abs=0.2)


def test_prior_is_finite_when_measured_kernels_have_nearly_equal_flops() -> None:
    # Three kernels of almost the same size but very different latency once gave a slope of
    # thousands and an OverflowError in math.exp for a large kernel.
    measured = [(1e6, 1e-5), (1.0001e6, 1e-3), (1.0002e6, 1e-6)]
    for flop in (1.0, 1e3, 1e9, 1e12):
        secs, spread = _prior(measured, flop)
        assert math.isfinite(secs) and 0 < secs <= math.exp(5.0) and math.isfinite(spread)
    big, _ = _prior(measured, 1e9)
    small, _ = _prior(measured, 1e6)
    assert big / small <= (1e3) ** MAX_PRIOR_SLOPE * 1.001  # bounded growth with size


def test_default_prior_before_three_measurements() -> None:
    secs, spread = _prior([(1e6, 1e-5)], 2e10)
    assert secs == pytest.approx(2e10 / 20e9 + 5e-6) and spread == 1.0
