"""Built-in spaces: the registry, the pure-Python spaces and the NAS-Bench-201 encodings (no torch, no tvm)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tvm_nacos.data.nas_bench_201 import load_table
from tvm_nacos.search_space import (
    ArchSample,
    BuiltinSpace,
    InvalidSampleError,
    MobileNetV2Space,
    NasBench201Space,
    ResNetSpace,
    UnknownSpaceError,
    ViTSpace,
    get,
    names,
    resnet,
)
from tvm_nacos.search_space import mobilenet_v2 as mbv2
from tvm_nacos.search_space import nas_bench_201 as nb201

BEST_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


# -- registry -----------------------------------------------------------------------------------


def test_names() -> None:
    assert names() == ["mobilenet-v2", "nas-bench-201", "resnet", "vit"]


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("nas-bench-201", NasBench201Space),
        ("mobilenet-v2", MobileNetV2Space),
        ("resnet", ResNetSpace),
        ("vit", ViTSpace),
    ],
)
def test_get_returns_the_space(name: str, cls: type) -> None:
    space = get(name)
    assert type(space) is cls and isinstance(space, BuiltinSpace)
    assert space.name == name
    assert space == get(name)  # value objects


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(UnknownSpaceError, match=r"'nasbench201'.*'mobilenet-v2', 'nas-bench-201', 'resnet', 'vit'") as info:
        get("nasbench201")
    assert isinstance(info.value, ValueError)
    with pytest.raises(TypeError, match=r"str.*201"):
        get(201)  # type: ignore[arg-type]


def test_options() -> None:
    space = get("mobilenet-v2", resolution=96, width_mult=0.75)
    assert space.input_shape == (1, 3, 96, 96) and space.width_mult == 0.75
    assert get("resnet", resolution=16).input_shape == (1, 3, 16, 16)
    assert get("nas-bench-201").input_shape == (1, 3, 32, 32)
    with pytest.raises(TypeError, match=r"'depth'.*valid options: 'resolution', 'width_mult', 'num_classes'"):
        get("mobilenet-v2", depth=3)
    with pytest.raises(TypeError, match=r"'resolution'.*valid options: \(none\)"):
        get("nas-bench-201", resolution=64)
    with pytest.raises(ValueError, match=r"resolution must be an int >= 32, got 16"):
        get("mobilenet-v2", resolution=16)
    with pytest.raises(TypeError, match=r"resolution must be an int, got float 64.0"):
        get("resnet", resolution=64.0)
    with pytest.raises(ValueError, match=r"width_mult must be in \(0, 4\], got 0"):
        get("mobilenet-v2", width_mult=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        space.resolution = 64  # type: ignore[misc]


# -- nas-bench-201 ------------------------------------------------------------------------------


def test_nas_bench_201_space() -> None:
    space = get("nas-bench-201").space
    assert space.labels == ("edge.1<-0", "edge.2<-0", "edge.2<-1", "edge.3<-0", "edge.3<-1", "edge.3<-2")
    assert space.size == 15_625 == nb201.NUM_CELLS
    for label in space.labels:
        assert space.options(label) == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
        assert space[label].condition is None and space[label].default == "nor_conv_3x3"


def test_arch_str_follows_the_benchmark_edge_order() -> None:
    space = get("nas-bench-201")
    sample = ArchSample(
        {
            "edge.1<-0": "nor_conv_3x3",
            "edge.2<-0": "none",
            "edge.2<-1": "skip_connect",
            "edge.3<-0": "avg_pool_3x3",
            "edge.3<-1": "nor_conv_1x1",
            "edge.3<-2": "none",
        }
    )
    text = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"
    assert space.arch_str(sample) == text
    assert space.from_arch_str(text) == sample
    assert list(space.from_arch_str(text)) == list(nb201.EDGE_LABELS)
    # Inputs of a node may come in any order.
    assert space.from_arch_str("|nor_conv_3x3~0|+|skip_connect~1|none~0|+|none~2|avg_pool_3x3~0|nor_conv_1x1~1|") == sample


def test_index_mapping_round_trips_for_every_cell() -> None:
    space = get("nas-bench-201")
    table = load_table()
    assert len(table) == 15_625
    samples = set()
    for index in range(len(table)):
        sample = space.sample_from_index(index)
        assert space.index(sample) == index
        assert space.arch_str(sample) == table.arch_str[index]
        assert space.from_arch_str(space.arch_str(sample)) == sample
        samples.add(sample)
    assert samples == set(space.space.enumerate())  # every cell of the space, each exactly once


def test_benchmark_landmarks() -> None:
    space = get("nas-bench-201")
    table = load_table()
    best = space.from_arch_str(BEST_ARCH)
    assert space.index(best) == 6111 == int(np.argmax(table.valid_accuracy))
    all_none = {label: "none" for label in nb201.EDGE_LABELS}
    all_conv = {label: "nor_conv_3x3" for label in nb201.EDGE_LABELS}
    assert space.index(all_none) == 1651 and space.index(all_conv) == 1462
    assert space.sample_from_index(np.int64(1462)) == space.default_sample()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("|nor_conv_3x3~0|+|none~0|none~1|", r"2 node\(s\).*expected 3"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", r"unknown operation 'conv'.*'none', 'skip_connect'"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", r"edge 'none~1' of node 1"),
        ("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", r"edge 'none~0' of node 2"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", r"node 2 .* has inputs \[0\], expected \[0, 1\]"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", r"node 1 'none~0\|' .* is not '\|...\|'"),
        ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", r"edge 'none0' of node 1"),
    ],
)
def test_malformed_arch_str_is_named(text: str, message: str) -> None:
    with pytest.raises(InvalidSampleError, match=message):
        get("nas-bench-201").from_arch_str(text)


def test_index_and_sample_errors() -> None:
    space = get("nas-bench-201")
    with pytest.raises(InvalidSampleError, match=r"index 15625 is out of range; valid indices: 0..15624"):
        space.sample_from_index(15_625)
    with pytest.raises(InvalidSampleError, match=r"index -1"):
        space.sample_from_index(-1)
    with pytest.raises(TypeError, match=r"index must be an int"):
        space.sample_from_index("3")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"arch_str must be a str"):
        space.from_arch_str(None)  # type: ignore[arg-type]
    bad = dict(space.default_sample())
    bad["edge.3<-2"] = "sep_conv_3x3"
    with pytest.raises(InvalidSampleError, match=r"'sep_conv_3x3' for label 'edge.3<-2'.*'avg_pool_3x3'"):
        space.index(bad)
    with pytest.raises(InvalidSampleError, match=r"misses active labels 'edge.3<-2'"):
        space.arch_str({label: "none" for label in nb201.EDGE_LABELS[:5]})


# -- macro spaces -------------------------------------------------------------------------------


def _stage_size(per_block: int, max_depth: int) -> int:
    """Architectures of one stage: the first block always, each later block only if the previous is kept."""
    size = per_block
    for _ in range(max_depth - 1):
        size = per_block * (1 + size)
    return size


def test_mobilenet_v2_space() -> None:
    space = get("mobilenet-v2").space
    per_stage = 3 * 2 + 2  # expansion and kernel of 3 blocks, depth of the last 2
    assert len(space.labels) == per_stage * len(mbv2.STAGES) == 40
    assert space.size == _stage_size(9, 3) ** 5 == 819**5
    assert space.labels[:8] == (
        "stage1.block1.expand",
        "stage1.block1.kernel",
        "stage1.block2.depth",
        "stage1.block2.expand",
        "stage1.block2.kernel",
        "stage1.block3.depth",
        "stage1.block3.expand",
        "stage1.block3.kernel",
    )
    assert space.options("stage3.block2.kernel") == ("k3", "k5", "k7")
    assert space.options("stage3.block2.expand") == ("e3", "e4", "e6")
    assert space["stage2.block3.depth"].condition.label == "stage2.block2.depth"
    assert space["stage2.block3.expand"].condition.label == "stage2.block3.depth"
    default = space.default_sample()
    assert {default[label] for label in default if label.endswith("kernel")} == {"k3"}
    assert {default[label] for label in default if label.endswith("expand")} == {"e6"}
    assert len(default) == 40  # every block kept


def test_mobilenet_v2_skipped_blocks_drop_their_choices() -> None:
    space = get("mobilenet-v2").space
    full = dict(space.default_sample())
    shallow = space.canonicalize({**full, "stage2.block2.depth": "skip"})
    assert "stage2.block2.kernel" not in shallow and "stage2.block3.depth" not in shallow
    assert len(shallow) == 40 - 5  # expansion and kernel of blocks 2 and 3, depth of block 3
    with pytest.raises(InvalidSampleError, match=r"misses active labels 'stage1.block1.kernel'"):
        space.validate({k: v for k, v in full.items() if k != "stage1.block1.kernel"})


def test_resnet_space() -> None:
    space = get("resnet").space
    assert len(space.labels) == 18
    assert space.labels[:6] == (
        "stage1.width",
        "stage1.block1.kernel",
        "stage1.block2.depth",
        "stage1.block2.kernel",
        "stage1.block3.depth",
        "stage1.block3.kernel",
    )
    assert space.size == (3 * _stage_size(2, 3)) ** 3 == 42**3
    assert space.options("stage2.width") == ("w050", "w075", "w100")
    assert space["stage2.block1.kernel"].condition.options == ("w050", "w075", "w100")
    assert space["stage2.block3.kernel"].condition.label == "stage2.block3.depth"
    assert resnet.inner_width(64, "w075") == 48 and resnet.inner_width(16, "w050") == 8


def test_vit_space() -> None:
    vit_space = get("vit")
    space = vit_space.space
    assert space.labels[:5] == ("block1.heads", "block1.mlp_ratio", "block2.depth", "block2.heads", "block2.mlp_ratio")
    # 9 head/ratio pairs per kept block, 1 to 4 blocks
    assert space.size == 9 + 9**2 + 9**3 + 9**4 == 7380
    assert space["block3.depth"].condition.label == "block2.depth"
    assert space["block2.heads"].condition.options == ("keep",)
    largest, smallest = vit_space.sandwich_samples()
    assert largest == vit_space.default_sample() and len(largest) == 11
    assert dict(smallest) == {"block1.heads": "h1", "block1.mlp_ratio": "r1", "block2.depth": "skip"}
    assert vit_space.head_dim == 16 and vit_space.num_tokens == 64
    small = get("vit", resolution=8, patch_size=2, embed_dim=32)
    assert small.input_shape == (1, 3, 8, 8) and small.num_tokens == 16 and small.head_dim == 8
    with pytest.raises(ValueError, match=r"resolution must be a multiple of patch_size, got resolution=30 and patch_size=4"):
        get("vit", resolution=30)
    with pytest.raises(ValueError, match=r"embed_dim must be a multiple of 4 \(the most heads\), got 66"):
        get("vit", embed_dim=66)


def test_samples_are_reproducible_and_valid(rng: np.random.Generator) -> None:
    for name in names():
        space = get(name).space
        samples = [space.sample(rng) for _ in range(20)]
        assert all(space.contains(s) for s in samples)
        assert space.sample(np.random.default_rng(7)) == space.sample(np.random.default_rng(7))
