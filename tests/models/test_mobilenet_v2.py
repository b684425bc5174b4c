"""The MobileNetV2 macro space: parameter counts, conditional choice points, the IR against PyTorch."""

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
from tvm_nacos.models.mobilenet_v2 import make_divisible
from tvm_nacos.passes import SpecializeArch
from tvm_nacos.search_space import ArchSample, MobileNetV2Space, get
from tvm_nacos.search_space.mobilenet_v2 import EXPANDS, KERNELS, MAX_DEPTH, STAGES


@pytest.fixture(scope="module")
def mbv2() -> MobileNetV2Space:
    space = get("mobilenet-v2")
    assert isinstance(space, MobileNetV2Space)
    return space


def shallow_sample(space: MobileNetV2Space, kernel: str = "k7", expand: str = "e4") -> ArchSample:
    """One block per stage, every kept block with ``kernel`` and ``expand``."""
    picked = {}
    for label in space.space.labels:
        picked[label] = "skip" if label.endswith("depth") else kernel if label.endswith("kernel") else expand
    return space.space.canonicalize(picked)


def kept_blocks(sample: Mapping[str, str], stage: int) -> int:
    depth = 1
    while depth < MAX_DEPTH and sample.get(f"stage{stage}.block{depth + 1}.depth") == "keep":
        depth += 1
    return depth


def expected_params(sample: Mapping[str, str], width_mult: float = 1.0, classes: int = 10) -> int:
    """Parameters of the architecture, counted layer by layer from the docstring's description."""

    def conv_bn(c_in: int, c_out: int, k: int, groups: int = 1) -> int:
        return c_in // groups * c_out * k * k + 2 * c_out

    stem, first = make_divisible(32 * width_mult), make_divisible(16 * width_mult)
    total = conv_bn(3, stem, 3) + conv_bn(stem, stem, 3, groups=stem) + conv_bn(stem, first, 1)
    c_in = first
    for s, (channels, _) in enumerate(STAGES, start=1):
        c_out = make_divisible(channels * width_mult)
        for b in range(1, kept_blocks(sample, s) + 1):
            hidden = c_in * EXPANDS[sample[f"stage{s}.block{b}.expand"]]
            k = KERNELS[sample[f"stage{s}.block{b}.kernel"]]
            total += conv_bn(c_in, hidden, 1) + conv_bn(hidden, hidden, k, groups=hidden) + conv_bn(hidden, c_out, 1)
            c_in = c_out
    last = make_divisible(1280 * max(1.0, width_mult))
    return total + conv_bn(c_in, last, 1) + last * classes + classes


def test_parameter_counts(mbv2: MobileNetV2Space, rng: np.random.Generator) -> None:
    samples = [mbv2.default_sample(), shallow_sample(mbv2), *(mbv2.space.sample(rng) for _ in range(3))]
    for sample in samples:
        assert mbv2.num_params(sample) == expected_params(sample), sample
    narrow = get("mobilenet-v2", width_mult=0.5, num_classes=100)
    assert narrow.num_params(shallow_sample(narrow)) == expected_params(shallow_sample(narrow), 0.5, 100)


def test_reference_is_the_selected_architecture(mbv2: MobileNetV2Space, rng: np.random.Generator) -> None:
    sample = mbv2.space.sample(rng)
    reference = mbv2.torch_reference(sample)
    assert not any(isinstance(m, Choice) for m in reference.modules())
    x = mbv2.example_input(seed=1)
    with torch.no_grad():
        expected = apply_sample(mbv2.torch_supernet(), sample)(x)
        out = reference(x)
    assert out.shape == (1, 10)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    depthwise = [m for m in reference.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 1 + sum(kept_blocks(sample, s) for s in range(1, len(STAGES) + 1))


def test_resolution_and_width_options() -> None:
    space = get("mobilenet-v2", resolution=96, width_mult=0.5)
    x = space.example_input()
    assert tuple(x.shape) == (1, 3, 96, 96)
    with torch.no_grad():
        assert space.torch_reference(space.default_sample())(x).shape == (1, 10)
    assert space.torch_supernet().stem[0].out_channels == 16


def test_torch_space_is_the_pure_python_space(mbv2: MobileNetV2Space) -> None:
    assert torch_search_space(mbv2.torch_supernet()) == mbv2.space


# -- the IR (building it exports about 200 options: slow) ---------------------------------------


@pytest.fixture(scope="module")
def mbv2_module(mbv2: MobileNetV2Space) -> tvm.IRModule:
    return mbv2.ir_module()


@pytest.mark.slow
def test_ir_has_the_conditional_choice_points(mbv2: MobileNetV2Space, mbv2_module: tvm.IRModule) -> None:
    assert search_space(mbv2_module) == mbv2.space
    conditions = {cp.label: cp.condition for cp in find_choice_points(mbv2_module)}
    assert conditions["stage2.block1.expand"] is None
    assert conditions["stage2.block1.kernel"] == ("stage2.block1.expand", ("e3", "e4", "e6"))
    assert conditions["stage2.block3.depth"] == ("stage2.block2.depth", ("keep",))
    assert conditions["stage2.block3.kernel"] == ("stage2.block3.expand", ("e3", "e4", "e6"))


@pytest.mark.slow
@few_examples(12)
@given(sample=arch_samples(get("mobilenet-v2").space))
def test_random_samples_specialize_to_well_formed_modules(mbv2_module: tvm.IRModule, sample: ArchSample) -> None:
    specialized = SpecializeArch(sample)(mbv2_module)
    assert relax.analysis.check_well_formed(specialized)
    assert find_choice_points(specialized) == [] and len(search_space(specialized)) == 0


@pytest.mark.slow
@few_examples(2)
@example(sample=shallow_sample(get("mobilenet-v2")))
@given(sample=arch_samples(get("mobilenet-v2").space))
def test_specialized_ir_matches_pytorch(mbv2: MobileNetV2Space, mbv2_module: tvm.IRModule, sample: ArchSample) -> None:
    target = tvm.target.Target({"kind": "llvm"})
    x = mbv2.example_input(seed=3)
    specialized = SpecializeArch(sample)(mbv2_module)
    ex = tvm.compile(specialized, target=target, relax_pipeline=relax.get_default_pipeline(target))
    out = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x.numpy())).numpy()
    with torch.no_grad():
        reference = mbv2.torch_reference(sample)(x).numpy()
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-4, err_msg=str(sample))
