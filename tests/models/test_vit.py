"""The ViT space: parameter counts, depth/heads/MLP-ratio choice points, the IR against PyTorch."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest
import torch
import tvm
from arch_strategies import arch_samples, few_examples
from hypothesis import example, given
from tvm import relax

from tvm_nacos.analysis import search_space
from tvm_nacos.frontend.torch import Choice, apply_sample, torch_search_space
from tvm_nacos.ir import find_choice_points
from tvm_nacos.passes import SpecializeArch
from tvm_nacos.search_space import ArchSample, ViTSpace, get
from tvm_nacos.search_space.vit import HEADS, MAX_DEPTH, MLP_RATIOS


@pytest.fixture(scope="module")
def vit() -> ViTSpace:
    space = get("vit")
    assert isinstance(space, ViTSpace)
    return space


def kept_blocks(sample: Mapping[str, str]) -> int:
    depth = 1
    while depth < MAX_DEPTH and sample.get(f"block{depth + 1}.depth") == "keep":
        depth += 1
    return depth


def expected_params(space: ViTSpace, sample: Mapping[str, str]) -> int:
    """Parameters of the architecture, counted layer by layer from the module docstring."""
    dim, head_dim, patch = space.embed_dim, space.head_dim, space.patch_size
    total = 3 * dim * patch * patch + dim + space.num_tokens * dim  # patch and position embedding
    for block in range(1, kept_blocks(sample) + 1):
        inner = HEADS[sample[f"block{block}.heads"]] * head_dim
        hidden = MLP_RATIOS[sample[f"block{block}.mlp_ratio"]] * dim
        total += 2 * 2 * dim  # two LayerNorms
        total += dim * 3 * inner + 3 * inner + inner * dim + dim  # q/k/v and output projections
        total += dim * hidden + hidden + hidden * dim + dim  # the MLP
    return total + 2 * dim + dim * space.num_classes + space.num_classes


def test_parameter_counts(vit: ViTSpace, rng: np.random.Generator) -> None:
    largest, smallest = vit.sandwich_samples()
    for sample in (largest, smallest, *(vit.space.sample(rng) for _ in range(3))):
        assert vit.num_params(sample) == expected_params(vit, sample), sample
    assert vit.num_params(largest) == 207_946


def test_reference_is_the_selected_architecture(vit: ViTSpace, rng: np.random.Generator) -> None:
    sample = vit.space.sample(rng)
    reference = vit.torch_reference(sample)
    assert not any(isinstance(m, Choice) for m in reference.modules())
    x = vit.example_input(seed=1)
    with torch.no_grad():
        expected = apply_sample(vit.torch_supernet(), sample)(x).numpy()
        np.testing.assert_array_equal(reference(x).numpy(), expected)
    small = get("vit", resolution=8, patch_size=2, embed_dim=32, num_classes=5)
    with torch.no_grad():
        assert small.torch_reference(sample)(torch.randn(2, 3, 8, 8)).shape == (2, 5)


def test_torch_space_is_the_pure_python_space(vit: ViTSpace) -> None:
    assert torch_search_space(vit.torch_supernet()) == vit.space


# -- the IR ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vit_module(vit: ViTSpace) -> tvm.IRModule:
    return vit.ir_module()


def test_ir_has_the_conditional_choice_points(vit: ViTSpace, vit_module: tvm.IRModule) -> None:
    assert search_space(vit_module) == vit.space
    conditions = {cp.label: cp.condition for cp in find_choice_points(vit_module)}
    assert conditions["block1.heads"] is None and conditions["block2.depth"] is None
    assert conditions["block3.depth"] == ("block2.depth", ("keep",))
    assert conditions["block4.mlp_ratio"] == ("block4.depth", ("keep",))


@pytest.mark.slow
@few_examples(2)
@example(sample=get("vit").sandwich_samples()[1])
@given(sample=arch_samples(get("vit").space))
def test_specialized_ir_matches_pytorch(vit: ViTSpace, vit_module: tvm.IRModule, sample: ArchSample) -> None:
    target = tvm.target.Target({"kind": "llvm"})
    x = vit.example_input(seed=3)
    specialized = SpecializeArch(sample)(vit_module)
    assert relax.analysis.check_well_formed(specialized) and find_choice_points(specialized) == []
    ex = tvm.compile(specialized, target=target, relax_pipeline=relax.get_default_pipeline(target))
    out = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x.numpy())).numpy()
    with torch.no_grad():
        reference = vit.torch_reference(sample)(x).numpy()
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-4, err_msg=str(sample))
