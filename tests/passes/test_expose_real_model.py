"""The expose passes on model definitions this project did not write: transformers' ResNet and MobileNetV2.

Both are built from small configs with random weights (no download) and imported with
``tvm_nacos.from_torch``; the passes never saw these graphs when they were written.
"""

from __future__ import annotations

import expose_modules as em
import numpy as np
import pytest
import tvm
from tvm import relax

from tvm_nacos.analysis import search_space
from tvm_nacos.passes import (
    CheckChoicePoints,
    ExposeBottleneck,
    ExposeDepthwiseSeparable,
    ExposeGrouping,
    ExposeKernelSize,
    ExposeSkip,
    ExposeWidth,
    SpecializeArch,
)

#: What each pass alone exposes in the tiny ResNet (stem, 4 basic blocks, one projection
#: shortcut): labels and the size of the space.
ALONE = {
    # every conv but the 1x1 projection (conv7)
    "ExposeKernelSize": ([f"conv{i}.kernel" for i in (0, 1, 2, 3, 4, 5, 6, 8, 9)], 3**9),
    "ExposeGrouping": ([f"conv{i}.groups" for i in range(1, 10)], 3**9),  # the stem has 3 input channels
    "ExposeBottleneck": ([f"conv{i}.bottleneck" for i in (0, 1, 2, 3, 4, 5, 6, 8, 9)], 3**9),
    "ExposeDepthwiseSeparable": ([f"conv{i}.separable" for i in (0, 1, 2, 3, 4, 5, 6, 8, 9)], 2**9),
    # the three blocks with an identity shortcut; the downsampling block has a projection
    "ExposeSkip": (["add0.skip", "add1.skip", "add3.skip"], 2**3),
    # the first conv of each block, with the second as consumer; never a conv whose output
    # meets a residual add (the second convs, the stem, the projection)
    "ExposeWidth": (["conv1.width", "conv3.width", "conv5.width", "conv8.width"], 3**4),
}
PASSES = {
    "ExposeKernelSize": ExposeKernelSize,
    "ExposeGrouping": ExposeGrouping,
    "ExposeBottleneck": ExposeBottleneck,
    "ExposeDepthwiseSeparable": ExposeDepthwiseSeparable,
    "ExposeSkip": ExposeSkip,
    "ExposeWidth": ExposeWidth,
}
OUTPUT_SHAPE = (1, 16, 4, 4)


def composed() -> tvm.transform.Pass:
    """All six moves in one space; the convolution moves look into the original path only."""
    return tvm.transform.Sequential(
        [
            ExposeWidth(),
            ExposeSkip(),
            ExposeKernelSize(inside_options="original"),
            ExposeGrouping(inside_options="original"),
            ExposeBottleneck(inside_options="original"),
            ExposeDepthwiseSeparable(inside_options="original"),
        ]
    )


@pytest.fixture(scope="module")
def resnet() -> tuple[tvm.IRModule, np.ndarray, np.ndarray]:
    return em.tiny_resnet_module()


@pytest.fixture(scope="module")
def resnet_space(resnet) -> tvm.IRModule:
    return composed()(resnet[0])


@pytest.mark.parametrize("name", list(PASSES))
def test_each_pass_alone(resnet, name: str) -> None:
    mod = resnet[0]
    after = PASSES[name]()(mod)
    relax.analysis.well_formed(after)
    CheckChoicePoints()(after)
    space = search_space(after)
    labels, size = ALONE[name]
    assert list(space.labels) == labels
    assert space.size == size
    assert all(space.options(label)[0] == "original" for label in labels)
    tvm.ir.assert_structural_equal(SpecializeArch(space.default_sample())(after), em.cleaned(mod))


def test_composed_space_keeps_every_move(resnet_space) -> None:
    relax.analysis.well_formed(resnet_space)
    CheckChoicePoints()(resnet_space)
    space = search_space(resnet_space)
    suffixes = {label.rsplit(".", 1)[1] for label in space.labels}
    assert suffixes == {"width", "skip", "kernel", "groups", "bottleneck", "separable"}
    assert len(space) == 43
    assert space.size == 357_306_444
    assert len(set(space.labels)) == len(space.labels)


def test_all_original_sample_reproduces_the_imported_model(resnet, resnet_space) -> None:
    mod, x, torch_output = resnet
    original = SpecializeArch(search_space(resnet_space).default_sample())(resnet_space)
    tvm.ir.assert_structural_equal(original, em.cleaned(mod))
    out = em.run(original, x)
    np.testing.assert_array_equal(out, em.run(mod, x))
    np.testing.assert_allclose(out, torch_output, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_random_specializations_compile_and_run(resnet, resnet_space) -> None:
    _, x, torch_output = resnet
    space = search_space(resnet_space)
    rng = np.random.default_rng(0)
    samples = []
    while len(samples) < 10:  # bounded: the space has 3.6e8 samples; the benchmark builds 20
        sample = space.sample(rng)
        if sample not in samples:
            samples.append(sample)
    changed = set()
    outputs = set()
    for sample in samples:
        specialized = SpecializeArch(sample)(resnet_space)
        relax.analysis.well_formed(specialized)
        out = em.run(specialized, x)
        assert out.shape == OUTPUT_SHAPE, sample
        assert np.isfinite(out).all(), sample
        outputs.add(out.tobytes())
        changed |= {label.rsplit(".", 1)[1] for label, option in sample.items() if option != "original"}
    assert changed == {"width", "skip", "kernel", "groups", "bottleneck", "separable"}
    assert len(outputs) == len(samples)  # 10 different networks
    assert not any(np.array_equal(np.frombuffer(o, "float32").reshape(OUTPUT_SHAPE), torch_output) for o in outputs)


def test_mobilenet_v2_width_follows_depthwise_and_original_is_kept() -> None:
    import torch
    from transformers import MobileNetV2Config, MobileNetV2Model

    import tvm_nacos

    torch.manual_seed(0)
    config = MobileNetV2Config(num_channels=3, image_size=32, depth_multiplier=0.25, min_depth=4, round_to=4)
    model = em.last_hidden_state(MobileNetV2Model(config))
    mod = tvm_nacos.from_torch(model, (torch.randn(1, 3, 32, 32),))
    after = tvm.transform.Sequential([ExposeWidth(), ExposeSkip(), ExposeKernelSize(inside_options="original")])(mod)
    relax.analysis.well_formed(after)
    space = search_space(after)
    widths = [label for label in space.labels if label.endswith(".width")]
    skips = [label for label in space.labels if label.endswith(".skip")]
    # expand 1x1 -> bn -> relu6 -> pad -> depthwise 3x3 -> bn -> relu6 -> project 1x1, where the
    # expansion does not feed a residual add
    assert widths and len(skips) == 10
    option = after["choice__" + widths[0].replace(".", "_") + "__w0_5"]
    groups = [int(c.attrs.groups) for c in em.convolutions(option)]
    assert len(groups) == 3 and groups[0] == groups[2] == 1 and groups[1] > 1  # the depthwise conv narrowed too
    tvm.ir.assert_structural_equal(SpecializeArch(space.default_sample())(after), em.cleaned(mod))
