"""init="inherit": the conv moves' new options start from the original weights (exact where they can be)."""

from __future__ import annotations

import expose_modules as em
import numpy as np
import pytest
from tvm import relax

from tvm_nacos.errors import SearchSpaceError
from tvm_nacos.passes import (
    ExposeBottleneck,
    ExposeDepthwiseSeparable,
    ExposeGrouping,
    ExposeKernelSize,
    SpecializeArch,
)
from tvm_nacos.passes.inherit import regroup, resize_kernel, separable_factors, tucker2_factors

RNG = np.random.default_rng(0)
X = RNG.standard_normal(em.SHAPE).astype("float32")


def _conv_module(weight: np.ndarray, **kwargs) -> object:
    return em.module(lambda bb, x: em.conv(x, weight, **kwargs))


def _outputs(move, mod, label: str) -> dict[str, np.ndarray]:
    exposed = move(mod)
    options = _options(exposed, label)
    return {name: em.run(SpecializeArch({label: name})(exposed), X) for name in options}


def _options(mod, label: str) -> tuple[str, ...]:
    from tvm_nacos.analysis import search_space

    return search_space(mod).options(label)


def test_a_larger_kernel_computes_the_original_and_a_smaller_one_is_its_centre() -> None:
    w3 = RNG.standard_normal((4, 4, 3, 3)).astype("float32")
    out = _outputs(ExposeKernelSize(sizes=(3, 5, 7), init="inherit"), _conv_module(w3, padding=[1, 1, 1, 1]), "conv0.kernel")
    assert set(out) == {"original", "k5", "k7"}
    np.testing.assert_allclose(out["k5"], out["original"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["k7"], out["original"], rtol=1e-5, atol=1e-5)
    w5 = RNG.standard_normal((4, 4, 5, 5)).astype("float32")
    np.testing.assert_array_equal(resize_kernel(w5, 3), w5[:, :, 1:4, 1:4])
    np.testing.assert_array_equal(resize_kernel(resize_kernel(w3, 7), 3), w3)
    # The random initialization stays the default, and stays seeded.
    assert not np.allclose(_outputs(ExposeKernelSize(sizes=(5,)), _conv_module(w3, padding=[1, 1, 1, 1]),
                                    "conv0.kernel")["k5"], out["original"])


def test_fewer_groups_compute_the_original_and_more_keep_its_block_diagonal() -> None:
    depthwise = RNG.standard_normal((4, 1, 3, 3)).astype("float32")
    out = _outputs(ExposeGrouping(groups=(1, 2, 4), init="inherit"),
                   _conv_module(depthwise, padding=[1, 1, 1, 1], groups=4), "conv0.groups")
    np.testing.assert_allclose(out["g1"], out["original"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["g2"], out["original"], rtol=1e-5, atol=1e-5)
    dense = RNG.standard_normal((4, 4, 3, 3)).astype("float32")
    halves = regroup(dense, 1, 2)
    np.testing.assert_array_equal(halves[:2], dense[:2, :2])
    np.testing.assert_array_equal(halves[2:], dense[2:, 2:])


def test_separable_factors_are_exact_for_rank_one_channels_and_best_otherwise() -> None:
    d = RNG.standard_normal((4, 3, 3))
    p = RNG.standard_normal((4, 4))
    rank_one = np.einsum("oi,ihw->oihw", p, d).astype("float32")
    out = _outputs(ExposeDepthwiseSeparable(init="inherit"), _conv_module(rank_one, padding=[1, 1, 1, 1]),
                   "conv0.separable")
    np.testing.assert_allclose(out["separable"], out["original"], rtol=1e-4, atol=1e-4)
    general = RNG.standard_normal((4, 4, 3, 3))
    dw, pw = separable_factors(general)
    approx = np.einsum("oi,ihw->oihw", pw[:, :, 0, 0], dw[:, 0])
    for i in range(4):  # Eckart-Young: the error is the rest of the spectrum
        s = np.linalg.svd(general[:, i].reshape(4, 9), compute_uv=False)
        assert np.linalg.norm(general[:, i] - approx[:, i]) == pytest.approx(np.sqrt((s[1:] ** 2).sum()), rel=1e-6)


def test_a_linear_bottleneck_of_full_rank_computes_the_original() -> None:
    # 8 outputs of rank 4 (and 4 inputs): mid 4 covers both ranks, Tucker-2 is exact; mid 2 approximates
    w = np.einsum("om,mihw->oihw", RNG.standard_normal((8, 4)), RNG.standard_normal((4, 4, 3, 3))).astype("float32")
    mod = em.module(lambda bb, x: em.conv(x, w, padding=[1, 1, 1, 1]))
    exposed = ExposeBottleneck(ratios=(0.25, 0.5), activation=None, init="inherit")(mod)
    original = em.run(SpecializeArch({"conv0.bottleneck": "original"})(exposed), X)
    exact = em.run(SpecializeArch({"conv0.bottleneck": "r0_5"})(exposed), X)
    approx = em.run(SpecializeArch({"conv0.bottleneck": "r0_25"})(exposed), X)
    np.testing.assert_allclose(exact, original, rtol=1e-4, atol=1e-4)
    assert 0 < np.abs(approx - original).mean() < np.abs(original).mean()
    reduce_w, core, expand = tucker2_factors(w, 2)
    assert reduce_w.shape == (2, 4, 1, 1) and core.shape == (2, 2, 3, 3) and expand.shape == (8, 2, 1, 1)
    assert relax.analysis.check_well_formed(exposed)


def test_unknown_init_is_refused() -> None:
    with pytest.raises(SearchSpaceError, match=r"ExposeGrouping init 'copy' is unknown; valid: \['random', 'inherit'\]"):
        ExposeGrouping(init="copy")  # type: ignore[arg-type]
