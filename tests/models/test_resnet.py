"""The ResNet space: parameter counts, width/depth/kernel choice points, the IR against PyTorch."""

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
from tvm_nacos.search_space import ArchSample, ResNetSpace, get
from tvm_nacos.search_space.resnet import KERNELS, MAX_DEPTH, STAGES, inner_width


@pytest.fixture(scope="module")
def resnet() -> ResNetSpace:
    space = get("resnet")
    assert isinstance(space, ResNetSpace)
    return space


def narrow_sample(space: ResNetSpace) -> ArchSample:
    """One block per stage, half width, 5×5 kernels."""
    picked = {}
    for label in space.space.labels:
        picked[label] = "skip" if label.endswith("depth") else "k5" if label.endswith("kernel") else "w050"
    return space.space.canonicalize(picked)


def kept_blocks(sample: Mapping[str, str], stage: int) -> int:
    depth = 1
    while depth < MAX_DEPTH and sample.get(f"stage{stage}.block{depth + 1}.depth") == "keep":
        depth += 1
    return depth


def expected_params(sample: Mapping[str, str]) -> int:
    """Parameters of the architecture, counted layer by layer from the docstring's description."""

    def conv_bn(c_in: int, c_out: int, k: int) -> int:
        return c_in * c_out * k * k + 2 * c_out

    total = conv_bn(3, 16, 3)
    c_in = 16
    for s, (c_out, stride) in enumerate(STAGES, start=1):
        hidden = inner_width(c_out, sample[f"stage{s}.width"])
        for b in range(1, kept_blocks(sample, s) + 1):
            k = KERNELS[sample[f"stage{s}.block{b}.kernel"]]
            total += conv_bn(c_in, hidden, k) + conv_bn(hidden, c_out, k)
            if b == 1 and (stride != 1 or c_in != c_out):
                total += conv_bn(c_in, c_out, 1)
            c_in = c_out
    return total + c_in * 10 + 10


def test_parameter_counts(resnet: ResNetSpace, rng: np.random.Generator) -> None:
    for sample in (resnet.default_sample(), narrow_sample(resnet), *(resnet.space.sample(rng) for _ in range(3))):
        assert resnet.num_params(sample) == expected_params(sample), sample
    assert resnet.num_params(resnet.default_sample()) == 272_474  # ResNet-20 (CIFAR) has 0.27M


def test_reference_is_the_selected_architecture(resnet: ResNetSpace, rng: np.random.Generator) -> None:
    sample = resnet.space.sample(rng)
    reference = resnet.torch_reference(sample)
    assert not any(isinstance(m, Choice) for m in reference.modules())
    x = resnet.example_input(seed=1)
    with torch.no_grad():
        expected = apply_sample(resnet.torch_supernet(), sample)(x).numpy()
        np.testing.assert_array_equal(reference(x).numpy(), expected)
    small = get("resnet", resolution=16, num_classes=5)
    with torch.no_grad():
        assert small.torch_reference(sample)(torch.randn(2, 3, 16, 16)).shape == (2, 5)


def test_torch_space_is_the_pure_python_space(resnet: ResNetSpace) -> None:
    assert torch_search_space(resnet.torch_supernet()) == resnet.space


# -- the IR (building it exports about 100 options: slow) ---------------------------------------


@pytest.fixture(scope="module")
def resnet_module(resnet: ResNetSpace) -> tvm.IRModule:
    return resnet.ir_module()


@pytest.mark.slow
def test_ir_has_the_conditional_choice_points(resnet: ResNetSpace, resnet_module: tvm.IRModule) -> None:
    assert search_space(resnet_module) == resnet.space
    conditions = {cp.label: cp.condition for cp in find_choice_points(resnet_module)}
    assert conditions["stage3.width"] is None
    assert conditions["stage3.block2.depth"] == ("stage3.width", ("w050", "w075", "w100"))
    assert conditions["stage3.block3.kernel"] == ("stage3.block3.depth", ("keep",))


@pytest.mark.slow
@few_examples(15)
@given(sample=arch_samples(get("resnet").space))
def test_random_samples_specialize_to_well_formed_modules(resnet_module: tvm.IRModule, sample: ArchSample) -> None:
    specialized = SpecializeArch(sample)(resnet_module)
    assert relax.analysis.check_well_formed(specialized)
    assert find_choice_points(specialized) == [] and len(search_space(specialized)) == 0


@pytest.mark.slow
@few_examples(2)
@example(sample=narrow_sample(get("resnet")))
@given(sample=arch_samples(get("resnet").space))
def test_specialized_ir_matches_pytorch(resnet: ResNetSpace, resnet_module: tvm.IRModule, sample: ArchSample) -> None:
    target = tvm.target.Target({"kind": "llvm"})
    x = resnet.example_input(seed=3)
    specialized = SpecializeArch(sample)(resnet_module)
    ex = tvm.compile(specialized, target=target, relax_pipeline=relax.get_default_pipeline(target))
    out = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x.numpy())).numpy()
    with torch.no_grad():
        reference = resnet.torch_reference(sample)(x).numpy()
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-4, err_msg=str(sample))
