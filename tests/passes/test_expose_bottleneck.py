"""ExposeBottleneck: Before/Expected, linear variant, what is not matched, errors."""

from __future__ import annotations

import expose_modules as em
import numpy as np
import pytest
import tvm
from tvm import relax

from tvm_nacos.analysis import search_space
from tvm_nacos.errors import SearchSpaceError
from tvm_nacos.passes import ExposeBottleneck, SpecializeArch
from tvm_nacos.passes.expose_base import he_normal, option_rng


def _bottleneck(ratio_name: str, mid: int, activation: bool) -> relax.Function:
    rng = option_rng(0, "conv0.bottleneck", ratio_name)
    w1 = he_normal(rng, (mid, 4, 1, 1), fan_in=4)
    w2 = he_normal(rng, (mid, mid, 3, 3), fan_in=mid * 9)
    w3 = he_normal(rng, (4, mid, 1, 1), fan_in=mid)

    def body(bb, x):
        y = bb.emit(em.conv(x, w1, padding=[0, 0, 0, 0]))
        y = bb.emit(relax.op.nn.relu(y)) if activation else y
        y = bb.emit(em.conv(y, w2, padding=[1, 1, 1, 1]))
        y = bb.emit(relax.op.nn.relu(y)) if activation else y
        return em.conv(y, w3, padding=[0, 0, 0, 0])

    return em.option(body)


@pytest.mark.parametrize("activation", ["relu", None])
def test_matches_expected(activation) -> None:
    after = ExposeBottleneck(ratios=(0.25, 0.5), activation=activation)(em.conv_relu())
    relax.analysis.well_formed(after)
    options = {
        "r0_25": _bottleneck("r0_25", 1, activation is not None),
        "r0_5": _bottleneck("r0_5", 2, activation is not None),
    }
    tvm.ir.assert_structural_equal(after, em.conv_relu_expected("conv0.bottleneck", options))


def test_original_specializes_back_and_options_run() -> None:
    before = em.conv_relu()
    after = ExposeBottleneck()(before)
    tvm.ir.assert_structural_equal(SpecializeArch({"conv0.bottleneck": "original"})(after), before)
    x = np.random.default_rng(0).standard_normal(em.SHAPE).astype("float32")
    out = em.run(SpecializeArch({"conv0.bottleneck": "r0_5"})(after), x)
    assert out.shape == em.SHAPE and np.isfinite(out).all() and (out >= 0).all()


def test_grouped_and_pointwise_convolutions_are_not_matched() -> None:
    grouped = em.module(lambda bb, x: em.conv(x, em.W3[:, :2], padding=[1, 1, 1, 1], groups=2))
    pointwise = em.module(lambda bb, x: em.conv(x, em.W3[:, :, :1, :1]))
    for before in (grouped, pointwise):
        tvm.ir.assert_structural_equal(ExposeBottleneck()(before), before)


def test_ratio_that_does_not_reduce_is_left_out() -> None:
    # out_channels 4: ratio 0.9 -> mid 4, not a reduction
    after = ExposeBottleneck(ratios=(0.5, 0.9))(em.conv_relu())
    assert search_space(after).options("conv0.bottleneck") == ("original", "r0_5")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"ratios": (1.0,)}, "in \\(0, 1\\)"),
    ({"ratios": ()}, "in \\(0, 1\\)"),
    ({"ratios": (0.5, 0.5)}, "distinct"),
    ({"activation": "swish"}, "activation 'swish' is unknown; valid: \\['relu'\\] or None"),
])
def test_invalid_arguments_are_refused(kwargs, message) -> None:
    with pytest.raises(SearchSpaceError, match=message):
        ExposeBottleneck(**kwargs)
