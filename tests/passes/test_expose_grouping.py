"""ExposeGrouping: Before/Expected, channels that must divide, errors."""

from __future__ import annotations

import expose_modules as em
import numpy as np
import pytest
import tvm
from tvm import relax

from tvm_nacos.analysis import search_space
from tvm_nacos.errors import SearchSpaceError
from tvm_nacos.passes import ExposeGrouping, SpecializeArch


def test_matches_expected() -> None:
    after = ExposeGrouping(groups=(1, 2, 4))(em.conv_relu())
    relax.analysis.well_formed(after)
    options = {}
    for groups in (2, 4):
        w = em.new_weight("conv0.groups", f"g{groups}", (4, 4 // groups, 3, 3), fan_in=4 // groups * 9)
        options[f"g{groups}"] = em.option(lambda bb, x, w=w, g=groups: em.conv(x, w, padding=[1, 1, 1, 1], groups=g))
    tvm.ir.assert_structural_equal(after, em.conv_relu_expected("conv0.groups", options))
    assert search_space(after).options("conv0.groups") == ("original", "g2", "g4")


def test_original_specializes_back_and_groups_compile() -> None:
    before = em.conv_relu()
    after = ExposeGrouping()(before)
    tvm.ir.assert_structural_equal(SpecializeArch({"conv0.groups": "original"})(after), before)
    x = np.random.default_rng(0).standard_normal(em.SHAPE).astype("float32")
    out = em.run(SpecializeArch({"conv0.groups": "g4"})(after), x)
    # groups=4 on 4 channels is depthwise: each output channel sees its own input channel only
    w = em.new_weight("conv0.groups", "g4", (4, 1, 3, 3), fan_in=9)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))
    reference = np.maximum(np.einsum("nchwij,cij->nchw", windows, w[:, 0]), 0.0)
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-4)


def test_only_group_counts_that_divide_both_channel_counts() -> None:
    # 4 -> 8 channels: 8 does not divide 4
    mod = em.module(lambda bb, x: em.conv(x, em.W_WIDE, padding=[1, 1, 1, 1]))
    assert search_space(ExposeGrouping(groups=(2, 4, 8))(mod)).options("conv0.groups") == ("original", "g2", "g4")
    before = em.module(lambda bb, x: em.conv(x, em.W_WIDE, padding=[1, 1, 1, 1]))
    tvm.ir.assert_structural_equal(ExposeGrouping(groups=(1, 3, 8))(before), before)


def test_depthwise_can_become_dense() -> None:
    shape = (1, 8, 8, 8)
    mod = em.module(lambda bb, x: em.conv(x, em.W_DW, padding=[1, 1, 1, 1], groups=8), shape=shape)
    after = ExposeGrouping(groups=(1, 8))(mod)
    assert search_space(after).options("conv0.groups") == ("original", "g1")


@pytest.mark.parametrize("groups", [(), (0,), (2, 2), (1.5,)])
def test_invalid_groups_are_refused(groups) -> None:
    with pytest.raises(SearchSpaceError, match="distinct positive group counts"):
        ExposeGrouping(groups=groups)
