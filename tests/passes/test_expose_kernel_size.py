"""ExposeKernelSize: Before/Expected, padding that keeps shapes, what is not matched, errors."""

from __future__ import annotations

import expose_modules as em
import numpy as np
import pytest
import tvm
from tvm import relax

from tvm_nacos._compat import structural_equal
from tvm_nacos.analysis import search_space
from tvm_nacos.errors import SearchSpaceError
from tvm_nacos.passes import ExposeKernelSize, SpecializeArch
from tvm_nacos.passes.expose_base import conv2d_info
from tvm_nacos.passes.expose_kernel_size import same_output_padding


def _expected(sizes: tuple[int, ...], seed: int = 0) -> tvm.IRModule:
    options = {}
    for size in sizes:
        w = em.new_weight("conv0.kernel", f"k{size}", (4, 4, size, size), fan_in=4 * size * size, seed=seed)
        pad = size // 2
        options[f"k{size}"] = em.option(lambda bb, x, w=w, pad=pad: em.conv(x, w, padding=[pad] * 4))
    return em.conv_relu_expected("conv0.kernel", options)


def test_matches_expected() -> None:
    after = ExposeKernelSize(sizes=(3, 5, 7))(em.conv_relu())
    relax.analysis.well_formed(after)
    tvm.ir.assert_structural_equal(after, _expected((5, 7)))
    space = search_space(after)
    assert space.labels == ("conv0.kernel",)
    assert space.options("conv0.kernel") == ("original", "k5", "k7")
    assert space.size == 3


def test_original_specializes_back_to_the_input() -> None:
    before = em.conv_relu()
    after = ExposeKernelSize()(before)
    tvm.ir.assert_structural_equal(SpecializeArch({"conv0.kernel": "original"})(after), before)


def test_seed_changes_new_weights_only() -> None:
    after = ExposeKernelSize(sizes=(5,), seed=3)(em.conv_relu())
    tvm.ir.assert_structural_equal(after, _expected((5,), seed=3))
    assert not structural_equal(after, _expected((5,), seed=0))


def test_option_keeps_output_shape_and_computes_a_convolution() -> None:
    after = ExposeKernelSize(sizes=(5,))(em.conv_relu())
    x = np.random.default_rng(0).standard_normal(em.SHAPE).astype("float32")
    out = em.run(SpecializeArch({"conv0.kernel": "k5"})(after), x)
    w = em.new_weight("conv0.kernel", "k5", (4, 4, 5, 5), fan_in=100)
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (5, 5), axis=(2, 3))  # (1, 4, 8, 8, 5, 5)
    reference = np.maximum(np.einsum("nchwij,ocij->nohw", windows, w), 0.0)
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("kernel", "strides", "padding", "dilation", "size", "expected"),
    [
        (3, 1, (1, 1, 1, 1), 1, 5, (2, 2, 2, 2)),
        (3, 2, (1, 1, 1, 1), 1, 7, (3, 3, 3, 3)),
        (7, 2, (3, 3, 3, 3), 1, 3, (1, 1, 1, 1)),  # a ResNet stem shrinks
        (3, 1, (2, 2, 2, 2), 2, 5, (4, 4, 4, 4)),  # dilation scales the change
        (3, 1, (0, 0, 0, 0), 1, 1, None),  # would need negative padding
    ],
)
def test_same_output_padding(kernel, strides, padding, dilation, size, expected) -> None:
    x = relax.Var("x", em.tensor((1, 4, 16, 16)))
    bb = relax.BlockBuilder()
    w = np.zeros((4, 4, kernel, kernel), "float32")
    call = bb.normalize(relax.op.nn.conv2d(x, relax.const(w), strides=strides, padding=padding, dilation=dilation))
    info = conv2d_info(call)
    assert same_output_padding(info, size) == expected
    if expected is not None:  # and the output shape really holds
        w2 = np.zeros((4, 4, size, size), "float32")
        call2 = bb.normalize(
            relax.op.nn.conv2d(x, relax.const(w2), strides=strides, padding=expected, dilation=dilation)
        )
        assert conv2d_info(call2).output_shape == info.output_shape


def test_pointwise_and_non_constant_weights_are_not_matched() -> None:
    pointwise = em.module(lambda bb, x: em.conv(x, np.ones((4, 4, 1, 1), "float32")))
    assert ExposeKernelSize()(pointwise).get_global_vars() == pointwise.get_global_vars()

    bb = relax.BlockBuilder()
    x, w = relax.Var("x", em.tensor()), relax.Var("w", em.tensor((4, 4, 3, 3)))
    with bb.function("main", [x, w]):
        with bb.dataflow():
            out = bb.emit_output(relax.op.nn.conv2d(x, w, padding=[1, 1, 1, 1]))
        bb.emit_func_output(out)
    weights_as_inputs = bb.get()
    tvm.ir.assert_structural_equal(ExposeKernelSize()(weights_as_inputs), weights_as_inputs)


def test_no_other_size_means_no_choice_point() -> None:
    before = em.conv_relu()
    tvm.ir.assert_structural_equal(ExposeKernelSize(sizes=(3,))(before), before)


@pytest.mark.parametrize("sizes", [(), (4,), (3, 3), (0,), (3.0,), (True,)])
def test_invalid_sizes_are_refused(sizes) -> None:
    with pytest.raises(SearchSpaceError, match="odd positive"):
        ExposeKernelSize(sizes=sizes)
