"""ExposeWidth: Before/Expected with bias and batch norm, depthwise chains, refusals."""

from __future__ import annotations

import expose_modules as em
import numpy as np
import pytest
import torch
import tvm
from tvm import relax

from tvm_nacos.analysis import search_space
from tvm_nacos.errors import SearchSpaceError
from tvm_nacos.passes import ExposeWidth, SpecializeArch


def _keep(weight: np.ndarray, width: int) -> np.ndarray:
    """The producer filters with the largest L1 norms, in their original order."""
    norms = np.abs(weight).reshape(weight.shape[0], -1).sum(axis=1)
    return np.sort(np.argsort(-norms, kind="stable")[:width])


def _chain_option(keep: np.ndarray, bias: bool, batch_norm: bool) -> relax.Function:
    width = len(keep)

    def body(bb, x):
        y = bb.emit(em.conv(x, em.W_WIDE[keep], padding=[1, 1, 1, 1]))
        if bias:
            y = bb.emit(relax.op.add(y, bb.emit(relax.op.reshape(relax.const(em.B_WIDE[keep]), [1, width, 1, 1]))))
        if batch_norm:
            bn = bb.emit(relax.op.nn.batch_norm(y, *[relax.const(p[keep]) for p in em.BN], axis=1, training=False))
            y = bb.emit(relax.TupleGetItem(bn, 0))
        y = bb.emit(relax.op.nn.relu(y))
        return em.conv(y, em.W_BACK[:, keep], padding=[1, 1, 1, 1])

    return em.option(body)


@pytest.mark.parametrize(("bias", "batch_norm"), [(True, False), (False, True), (True, True)])
def test_matches_expected(bias: bool, batch_norm: bool) -> None:
    after = ExposeWidth(multipliers=(0.5, 0.75, 1.0))(em.wide_chain(bias=bias, batch_norm=batch_norm))
    relax.analysis.well_formed(after)
    names = ["conv0"] + (["reshape0", "add0"] if bias else []) + (["bn0"] if batch_norm else []) + ["relu0", "conv1"]
    options = {"original": _chain_option(np.arange(8), bias, batch_norm)}
    for name, width in (("w0_5", 4), ("w0_75", 6)):
        options[name] = _chain_option(_keep(em.W_WIDE, width), bias, batch_norm)
    expected = em.with_choice("conv0.width", options, names, lambda bb, x, stub: relax.Call(stub, [x]))
    tvm.ir.assert_structural_equal(after, expected)


def test_original_specializes_back_and_narrow_option_matches_sliced_torch() -> None:
    before = em.wide_chain(bias=True, batch_norm=True)
    after = ExposeWidth(multipliers=(0.5,))(before)
    tvm.ir.assert_structural_equal(SpecializeArch({"conv0.width": "original"})(after), before)
    x = np.random.default_rng(0).standard_normal(em.SHAPE).astype("float32")
    out = em.run(SpecializeArch({"conv0.width": "w0_5"})(after), x)

    keep = _keep(em.W_WIDE, 4)
    f = torch.nn.functional
    y = f.conv2d(torch.from_numpy(x), torch.from_numpy(em.W_WIDE[keep]), torch.from_numpy(em.B_WIDE[keep]), padding=1)
    gamma, beta, mean, var = (torch.from_numpy(p[keep]) for p in em.BN)
    y = torch.relu(f.batch_norm(y, mean, var, gamma, beta, training=False, eps=1e-5))
    reference = f.conv2d(y, torch.from_numpy(em.W_BACK[:, keep]), padding=1).numpy()
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-4)


def test_depthwise_convolution_follows_the_width() -> None:
    before = em.inverted_residual()
    after = ExposeWidth(multipliers=(0.5,))(before)
    relax.analysis.well_formed(after)
    assert search_space(after).labels == ("conv0.width",)
    option = after["choice__conv0_width__w0_5"]
    convs = em.convolutions(option)
    assert [tuple(c.args[1].value.shape) for c in convs] == [(4, 4, 3, 3), (4, 1, 3, 3), (4, 4, 1, 1)]
    assert [int(c.attrs.groups) for c in convs] == [1, 4, 1]

    x = np.random.default_rng(1).standard_normal(em.SHAPE).astype("float32")
    out = em.run(SpecializeArch({"conv0.width": "w0_5"})(after), x)
    keep = _keep(em.W_WIDE, 4)
    f = torch.nn.functional
    y = f.conv2d(torch.from_numpy(x), torch.from_numpy(em.W_WIDE[keep]), padding=1)
    gamma, beta, mean, var = (torch.from_numpy(p[keep]) for p in em.BN)
    y = torch.clamp(f.batch_norm(y, mean, var, gamma, beta, training=False, eps=1e-5), 0, 6)
    y = torch.clamp(f.conv2d(y, torch.from_numpy(em.W_DW[keep]), padding=1, groups=4), 0, 6)
    reference = f.conv2d(y, torch.from_numpy(em.W_PROJECT[:, keep])).numpy()
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-4)


def _refused(before: tvm.IRModule) -> None:
    tvm.ir.assert_structural_equal(ExposeWidth()(before), before)


def test_a_second_consumer_is_refused() -> None:
    _refused(em.wide_chain(extra_user=True))


def test_residual_add_is_refused() -> None:
    def body(bb, x):
        y = bb.emit(relax.op.nn.relu(bb.emit(em.conv(x, em.W3, padding=[1, 1, 1, 1]))))
        z = bb.emit(relax.op.add(x, y))  # the width of y is tied to x
        return em.conv(z, em.W3, padding=[1, 1, 1, 1])

    _refused(em.module(body))


def test_classifier_after_pooling_is_refused() -> None:
    def body(bb, x):
        y = bb.emit(relax.op.nn.relu(bb.emit(em.conv(x, em.W_WIDE, padding=[1, 1, 1, 1]))))
        pooled = bb.emit(relax.op.mean(y, axis=[2, 3]))
        return relax.op.matmul(pooled, relax.const(np.ones((8, 3), "float32")))

    _refused(em.module(body))


def test_grouped_consumer_is_refused() -> None:
    def body(bb, x):
        y = bb.emit(relax.op.nn.relu(bb.emit(em.conv(x, em.W_WIDE, padding=[1, 1, 1, 1]))))
        return em.conv(y, em.W_BACK[:, :4], padding=[1, 1, 1, 1], groups=2)

    _refused(em.module(body))


def test_widths_are_deduplicated_and_full_width_is_the_original() -> None:
    # 8 channels: 0.5 and 0.55 both keep 4; 1.0 keeps 8 = original
    after = ExposeWidth(multipliers=(0.5, 0.55, 1.0))(em.wide_chain())
    assert search_space(after).options("conv0.width") == ("original", "w0_5")
    before = em.wide_chain()
    tvm.ir.assert_structural_equal(ExposeWidth(multipliers=(1.0,))(before), before)


@pytest.mark.parametrize("multipliers", [(), (0.0,), (1.5,), (0.5, 0.5)])
def test_invalid_multipliers_are_refused(multipliers) -> None:
    with pytest.raises(SearchSpaceError, match="distinct multipliers in \\(0, 1\\]"):
        ExposeWidth(multipliers=multipliers)
