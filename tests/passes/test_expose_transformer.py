"""The NAS moves on transformers this project did not write: transformers' BertModel and ViTModel.

Small configs with random weights (no download), imported with ``tvm_nacos.from_torch``
(``nn.Linear`` becomes ``permute_dims`` + ``matmul`` + ``add``). Each slimmer option is checked
against PyTorch with the same change made by hand to the layers' weights.
"""

from __future__ import annotations

import copy

import expose_modules as em
import numpy as np
import pytest
import torch
import tvm
from tvm import relax

from tvm_nacos.analysis import search_space
from tvm_nacos.errors import SearchSpaceError
from tvm_nacos.passes import CheckChoicePoints, ExposeHeads, ExposeLowRank, ExposeMLPWidth, ExposeSkip, SpecializeArch
from tvm_nacos.passes.expose_low_rank import low_rank_factors

KINDS = ["bert", "vit"]
LAYERS = 2


def _specialized(mod: tvm.IRModule, option: str) -> tvm.IRModule:
    """Every choice point of ``mod`` at ``option``."""
    space = search_space(mod)
    return SpecializeArch(space.canonicalize({label: option for label in space.labels}))(mod)


def _mlps(model: torch.nn.Module) -> list[tuple[torch.nn.Module, str, torch.nn.Module, str]]:
    """Each block's MLP as (owner, name) of its first and second linear layer: BERT's
    ``intermediate.dense`` and ``output.dense``, ViT's ``mlp.fc1`` and ``mlp.fc2``."""
    pairs = []
    for module in model.modules():
        if isinstance(getattr(module, "intermediate", None), torch.nn.Module) and hasattr(module, "output"):
            pairs.append((module.intermediate, "dense", module.output, "dense"))
        elif isinstance(getattr(module, "fc1", None), torch.nn.Linear):
            pairs.append((module, "fc1", module, "fc2"))
    assert len(pairs) == LAYERS
    return pairs


def _blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The transformer blocks of ``model`` (the modules that hold an attention)."""
    blocks = [m for m in model.modules() if isinstance(getattr(m, "attention", None), torch.nn.Module)]
    assert len(blocks) == LAYERS
    return blocks


def _linear(weight: torch.Tensor, bias: torch.Tensor | None) -> torch.nn.Linear:
    layer = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    return layer


@pytest.mark.parametrize("kind", KINDS)
def test_mlp_width_exposes_each_block_s_mlp_with_inherited_weights(kind: str) -> None:
    mod, x, torch_output = em.tiny_transformer_module(kind)
    exposed = ExposeMLPWidth(fractions=(0.5, 1.0))(mod)
    relax.analysis.well_formed(exposed)
    CheckChoicePoints()(exposed)
    space = search_space(exposed)
    # One choice point per block (the MLP's first linear layer); the attention projections
    # (heads split the last axis, residual adds) are left alone.
    assert len(space) == LAYERS and all(label.endswith(".hidden") for label in space.labels)
    assert all(space.options(label) == ("original", "w0_5") for label in space.labels)
    original = _specialized(exposed, "original")
    tvm.ir.assert_structural_equal(original, em.cleaned(mod))
    np.testing.assert_allclose(em.run(original, x), torch_output, rtol=1e-5, atol=1e-5)
    # Half the hidden features: those with the largest L1 norm of their incoming weights, the
    # second linear layer's columns to match; the same slices made in PyTorch.
    model, _ = em.tiny_transformer(kind)
    narrow = copy.deepcopy(model)
    for owner1, name1, owner2, name2 in _mlps(narrow):
        first, second = getattr(owner1, name1), getattr(owner2, name2)
        keep = np.sort(np.argsort(-first.weight.detach().abs().sum(dim=1).numpy(), kind="stable")[:32])
        setattr(owner1, name1, _linear(first.weight[keep], first.bias[keep]))
        setattr(owner2, name2, _linear(second.weight[:, keep], second.bias))
    with torch.no_grad():
        expected = narrow(torch.from_numpy(x)).numpy()
    out = em.run(_specialized(exposed, "w0_5"), x)
    assert out.shape == torch_output.shape and not np.allclose(out, torch_output, atol=1e-3)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_low_rank_options_are_the_truncated_svd_of_each_linear_layer(kind: str) -> None:
    mod, x, torch_output = em.tiny_transformer_module(kind)
    exposed = ExposeLowRank(fractions=(0.25,))(mod)
    CheckChoicePoints()(exposed)
    space = search_space(exposed)
    # Every linear layer of every block: q, k, v, the attention output and the MLP's two
    # (ViT's patch embedding is a convolution; BERT's embeddings are lookups).
    assert len(space) == 6 * LAYERS and all(space.options(label) == ("original", "r8") for label in space.labels)
    tvm.ir.assert_structural_equal(_specialized(exposed, "original"), em.cleaned(mod))
    model, _ = em.tiny_transformer(kind)
    factorized = copy.deepcopy(model)
    with torch.no_grad():
        for layer in _blocks(factorized):
            for linear in [m for m in layer.modules() if isinstance(m, torch.nn.Linear)]:
                a, b = low_rank_factors(linear.weight.numpy().T, 8)
                linear.weight.copy_(torch.from_numpy((a @ b).T))
        expected = factorized(torch.from_numpy(x)).numpy()
    out = em.run(_specialized(exposed, "r8"), x)
    assert not np.allclose(out, torch_output, atol=1e-3)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_skip_exposes_both_residual_branches_of_every_block(kind: str) -> None:
    """Attention (whose branch reads the mask the blocks share) and MLP, in each block."""
    mod, x, torch_output = em.tiny_transformer_module(kind)
    exposed = ExposeSkip()(mod)
    CheckChoicePoints()(exposed)
    space = search_space(exposed)
    assert len(space) == 2 * LAYERS and all(space.options(label) == ("original", "skip") for label in space.labels)
    original = _specialized(exposed, "original")
    tvm.ir.assert_structural_equal(original, em.cleaned(mod))
    model, _ = em.tiny_transformer(kind)
    inner = model.inner
    with torch.no_grad():
        if kind == "vit":  # pre-norm: without its branches a block is the identity
            expected = inner.layernorm(inner.embeddings(torch.from_numpy(x))).numpy()
        else:  # post-norm: the layer norm after each residual add stays
            hidden = inner.embeddings(input_ids=torch.from_numpy(x))
            for layer in inner.encoder.layer:
                hidden = layer.output.LayerNorm(layer.attention.output.LayerNorm(hidden))
            expected = hidden.numpy()
    out = em.run(_specialized(exposed, "skip"), x)
    assert not np.allclose(out, torch_output, atol=1e-3)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("kind", "heads", "kept"), [("bert", 2, 1), ("vit", 2, 1), ("bert", 4, 2)])
def test_heads_keep_the_strongest_heads_with_their_trained_weights(kind: str, heads: int, kept: int) -> None:
    mod, x, torch_output = em.tiny_transformer_module(kind, heads)
    exposed = ExposeHeads(fractions=(0.5, 1.0))(mod)
    relax.analysis.well_formed(exposed)
    CheckChoicePoints()(exposed)
    space = search_space(exposed)
    # One choice point per block (its attention's output projection), half the heads.
    option = f"h{kept}"
    assert len(space) == LAYERS and all(space.options(label) == ("original", option) for label in space.labels)
    # All original: the same network, its bindings reordered (the mask the blocks share is
    # bound before the attention's first binding now, where it was in the middle of it).
    np.testing.assert_array_equal(em.run(_specialized(exposed, "original"), x), em.run(mod, x))
    # Dropping a head removes its term from the output projection: in PyTorch, zero that
    # head's columns of the output projection. The heads kept have the largest L1 norm of
    # their q, k and v rows and their output-projection columns.
    model, _ = em.tiny_transformer(kind, heads)
    pruned = copy.deepcopy(model)
    head_dim = 32 // heads
    with torch.no_grad():
        for block in _blocks(pruned):
            linears = {name: m for name, m in block.attention.named_modules() if isinstance(m, torch.nn.Linear)}
            out = linears.pop(next(n for n in linears if n in ("output.dense", "o_proj")))
            importance = sum(m.weight.abs().sum(dim=1) for m in linears.values()) + out.weight.abs().sum(dim=0)
            ranked = np.argsort(-importance.reshape(heads, head_dim).sum(dim=1).numpy(), kind="stable")
            for drop in ranked[kept:]:
                out.weight[:, drop * head_dim:(drop + 1) * head_dim] = 0.0
        expected = pruned(torch.from_numpy(x)).numpy()
    out = em.run(_specialized(exposed, option), x)
    assert out.shape == torch_output.shape and not np.allclose(out, torch_output, atol=1e-3)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_low_rank_factors_are_the_best_approximation_and_only_cheaper_ranks_are_offered() -> None:
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((24, 40)).astype("float32")
    a, b = low_rank_factors(weight, 24)  # full rank: exact
    np.testing.assert_allclose(a @ b, weight, rtol=1e-4, atol=1e-4)
    a, b = low_rank_factors(weight, 6)
    assert a.shape == (24, 6) and b.shape == (6, 40) and np.linalg.matrix_rank(a @ b) == 6
    singular = np.linalg.svd(weight, compute_uv=False)
    assert np.linalg.norm(weight - a @ b) == pytest.approx(np.sqrt((singular[6:] ** 2).sum()), rel=1e-4)
    # 24 x 40: rank r costs r * 64 against 960; r = 15 would cost as much.
    assert ExposeLowRank(fractions=(0.25, 0.5, 0.6, 0.99)).ranks(24, 40) == [6, 12, 14]
    mod, _, _ = em.tiny_transformer_module("bert")
    assert len(search_space(ExposeLowRank(fractions=(0.9,))(mod))) == 0  # r29 of 32 x 32 costs more


@pytest.mark.parametrize(("make", "fractions"), [(ExposeMLPWidth, (0.5, 1.5)), (ExposeMLPWidth, (0.5, 0.5)),
                                                 (ExposeHeads, (0.0,)), (ExposeHeads, (0.5, 0.5)),
                                                 (ExposeMLPWidth, ()), (ExposeLowRank, (1.0,)), (ExposeLowRank, ())])
def test_bad_fractions_are_clear_errors(make, fractions) -> None:
    with pytest.raises(SearchSpaceError, match=f"{make.__name__} fractions .* are invalid.*: give"):
        make(fractions=fractions)


@pytest.mark.slow
def test_random_specializations_of_both_moves_compile_and_run() -> None:
    mod, x, torch_output = em.tiny_transformer_module("bert")
    composed = tvm.transform.Sequential(
        [ExposeHeads(), ExposeMLPWidth(), ExposeLowRank(inside_options="original"), ExposeSkip()]
    )(mod)
    relax.analysis.well_formed(composed)
    CheckChoicePoints()(composed)
    space = search_space(composed)
    assert {label.rsplit(".", 1)[1] for label in space.labels} == {"heads", "hidden", "rank", "skip"}
    rng = np.random.default_rng(0)
    samples = []
    while len(samples) < 10:  # the benchmark builds 20 (expose_passes_table)
        sample = space.sample(rng)
        if sample not in samples:
            samples.append(sample)
    outputs = set()
    for sample in samples:
        out = em.run(SpecializeArch(sample)(composed), x)
        assert out.shape == torch_output.shape and np.isfinite(out).all(), sample
        outputs.add(out.tobytes())
    assert len(outputs) == len(samples)
