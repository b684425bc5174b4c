"""ExposeDepthwiseSeparable: Before/Expected, strides kept, what is not matched."""

from __future__ import annotations

import expose_modules as em
import numpy as np
import pytest
import tvm
from tvm import relax

from tvm_nacos.analysis import search_space
from tvm_nacos.errors import SearchSpaceError
from tvm_nacos.passes import ExposeDepthwiseSeparable, SpecializeArch
from tvm_nacos.passes.expose_base import he_normal, option_rng


@pytest.mark.parametrize("activation", [None, "relu"])
def test_matches_expected(activation) -> None:
    after = ExposeDepthwiseSeparable(activation=activation)(em.conv_relu())
    relax.analysis.well_formed(after)
    rng = option_rng(0, "conv0.separable", "separable")
    depthwise = he_normal(rng, (4, 1, 3, 3), fan_in=9)
    pointwise = he_normal(rng, (4, 4, 1, 1), fan_in=4)

    def body(bb, x):
        y = bb.emit(em.conv(x, depthwise, padding=[1, 1, 1, 1], groups=4))
        y = bb.emit(relax.op.nn.relu(y)) if activation else y
        return em.conv(y, pointwise, padding=[0, 0, 0, 0])

    expected = em.conv_relu_expected("conv0.separable", {"separable": em.option(body)})
    tvm.ir.assert_structural_equal(after, expected)
    assert search_space(after).options("conv0.separable") == ("original", "separable")


def test_strided_convolution_keeps_its_output_shape() -> None:
    before = em.module(lambda bb, x: em.conv(x, em.W_WIDE, strides=[2, 2], padding=[1, 1, 1, 1]))
    after = ExposeDepthwiseSeparable()(before)
    tvm.ir.assert_structural_equal(SpecializeArch({"conv0.separable": "original"})(after), before)
    x = np.random.default_rng(0).standard_normal(em.SHAPE).astype("float32")
    assert em.run(SpecializeArch({"conv0.separable": "separable"})(after), x).shape == (1, 8, 4, 4)


def test_depthwise_pointwise_and_single_channel_convolutions_are_not_matched() -> None:
    shape = (1, 8, 8, 8)
    depthwise = em.module(lambda bb, x: em.conv(x, em.W_DW, padding=[1, 1, 1, 1], groups=8), shape=shape)
    pointwise = em.module(lambda bb, x: em.conv(x, em.W3[:, :, :1, :1]))
    single = em.module(lambda bb, x: em.conv(x, em.W3[:, :1], padding=[1, 1, 1, 1]), shape=(1, 1, 8, 8))
    for before in (depthwise, pointwise, single):
        tvm.ir.assert_structural_equal(ExposeDepthwiseSeparable()(before), before)


def test_unknown_activation_is_refused() -> None:
    with pytest.raises(SearchSpaceError, match="activation 'gelu' is unknown"):
        ExposeDepthwiseSeparable(activation="gelu")
