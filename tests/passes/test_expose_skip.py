"""ExposeSkip: Before/Expected, which adds are residual, nesting with earlier choice points."""

from __future__ import annotations

import expose_modules as em
import numpy as np
import tvm
from tvm import relax

from tvm_nacos.analysis import search_space
from tvm_nacos.ir import find_choice_points
from tvm_nacos.passes import ExposeKernelSize, ExposeSkip, SpecializeArch


def _branch(bb, x):
    return bb.emit(relax.op.nn.relu(bb.emit(em.conv(x, em.W3, padding=[1, 1, 1, 1]))))


def test_matches_expected() -> None:
    after = ExposeSkip()(em.residual_block())
    relax.analysis.well_formed(after)
    options = {
        "original": em.option(lambda bb, x: relax.op.add(x, _branch(bb, x))),
        "skip": em.option(lambda bb, x: x),
    }
    expected = em.with_choice(
        "add0.skip",
        options,
        ["conv0", "relu0", "add0"],
        lambda bb, x, stub: relax.op.nn.relu(bb.emit(relax.Call(stub, [x]))),
    )
    tvm.ir.assert_structural_equal(after, expected)


def test_specializations() -> None:
    before = em.residual_block()
    after = ExposeSkip()(before)
    tvm.ir.assert_structural_equal(SpecializeArch({"add0.skip": "original"})(after), before)
    skipped = SpecializeArch({"add0.skip": "skip"})(after)
    tvm.ir.assert_structural_equal(skipped, em.module(lambda bb, x: relax.op.nn.relu(x)))
    x = np.random.default_rng(0).standard_normal(em.SHAPE).astype("float32")
    np.testing.assert_array_equal(em.run(skipped, x), np.maximum(x, 0))


def test_branch_with_choice_points_becomes_their_parent() -> None:
    after = ExposeSkip()(ExposeKernelSize(sizes=(3, 5))(em.residual_block()))
    cps = {cp.label: cp for cp in find_choice_points(after)}
    assert list(cps) == ["add0.skip", "conv0.kernel"]
    assert cps["conv0.kernel"].condition == ("add0.skip", ("original",))
    assert search_space(after).size == 3  # skip, or keep with k3 / k5
    # the stub remembers the op names it swallowed, including those of the kernel choice point
    assert [str(s) for s in after[cps["add0.skip"].stub].attrs["nacos.exposed_names"]] == ["conv0", "relu0", "add0"]


def _not_matched(body) -> None:
    before = em.module(body)
    tvm.ir.assert_structural_equal(ExposeSkip()(before), before)


def test_bias_add_is_not_a_residual() -> None:
    bias = np.ones((1, 4, 1, 1), "float32")
    _not_matched(lambda bb, x: relax.op.add(bb.emit(em.conv(x, em.W3, padding=[1, 1, 1, 1])), relax.const(bias)))
    _not_matched(
        lambda bb, x: relax.op.add(
            bb.emit(em.conv(x, em.W3, padding=[1, 1, 1, 1])),
            bb.emit(relax.op.reshape(relax.const(bias[0, :, 0, 0]), [1, 4, 1, 1])),
        )
    )


def test_projection_shortcut_is_not_a_residual() -> None:
    def body(bb, x):
        shortcut = bb.emit(em.conv(x, em.W3[:, :, :1, :1]))
        return relax.op.add(shortcut, _branch(bb, x))

    _not_matched(body)


def test_branch_that_reads_other_values_or_leaks_is_not_exposed() -> None:
    def two_inputs(bb, x):
        y = bb.emit(relax.op.nn.relu(x))
        return relax.op.add(y, bb.emit(relax.op.multiply(_branch(bb, y), x)))

    def leaking(bb, x):
        z = _branch(bb, x)
        return relax.op.multiply(bb.emit(relax.op.add(x, z)), z)

    _not_matched(two_inputs)
    _not_matched(leaking)


def test_broadcasting_add_is_not_a_residual() -> None:
    def body(bb, x):
        pooled = bb.emit(relax.op.mean(x, axis=[2, 3], keepdims=True))
        return relax.op.add(x, pooled)

    _not_matched(body)
