"""The NAS-Bench-201 network: parameter counts of the benchmark, and the IR against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import tvm
from arch_strategies import arch_samples, few_examples
from hypothesis import example, given
from torch import nn
from tvm import relax

from tvm_nacos.analysis import search_space
from tvm_nacos.frontend.torch import Choice, apply_sample, torch_search_space
from tvm_nacos.ir import find_choice_points
from tvm_nacos.models.nas_bench_201 import ReLUConvBN, Zero
from tvm_nacos.passes import SpecializeArch
from tvm_nacos.search_space import ArchSample, NasBench201Space, get
from tvm_nacos.search_space.nas_bench_201 import EDGE_LABELS, OPS

#: Every operation appears once: 0→1 avg_pool, 0→2 none, 1→2 skip, 0→3 conv1x1, 1→3 conv3x3, 2→3 avg_pool.
ALL_OPS_ARCH = "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|nor_conv_3x3~1|avg_pool_3x3~2|"


@pytest.fixture(scope="module")
def nb201() -> NasBench201Space:
    space = get("nas-bench-201")
    assert isinstance(space, NasBench201Space)
    return space


def benchmark_param_count(cell: dict[str, str]) -> int:
    """The benchmark's rule, written out: a fixed skeleton plus C·C·k·k + 2C per ReLU-Conv-BN edge.

    The skeleton (stem, the two reduction blocks, last BN and the CIFAR-10 classifier) has the
    73,306 parameters of the all-``none`` network; the 15 cells of width 16, 32 and 64 (5 each)
    add their convolutions and batch-norm affine weights.
    """
    per_edge = {"none": 0, "skip_connect": 0, "avg_pool_3x3": 0, "nor_conv_1x1": 1, "nor_conv_3x3": 9}
    stem = 3 * 16 * 9 + 2 * 16
    reductions = sum(c * 2 * c * 9 + 2 * 2 * c + 2 * c * 2 * c * 9 + 2 * 2 * c + c * 2 * c for c in (16, 32))
    head = 2 * 64 + 64 * 10 + 10
    cells = sum(
        5 * (c * c * per_edge[op] + (2 * c if per_edge[op] else 0)) for c in (16, 32, 64) for op in cell.values()
    )
    return stem + reductions + head + cells


def test_parameter_counts_match_the_benchmark(nb201: NasBench201Space, rng: np.random.Generator) -> None:
    all_none = {label: "none" for label in EDGE_LABELS}
    all_conv = {label: "nor_conv_3x3" for label in EDGE_LABELS}
    assert nb201.num_params(all_none) == benchmark_param_count(all_none) == 73_306
    assert nb201.num_params(all_conv) == benchmark_param_count(all_conv) == 1_531_546
    for _ in range(4):
        cell = dict(nb201.space.sample(rng))
        assert nb201.num_params(cell) == benchmark_param_count(cell), nb201.arch_str(cell)


def test_reference_holds_only_the_cell_operations(nb201: NasBench201Space) -> None:
    sample = nb201.from_arch_str(ALL_OPS_ARCH)
    reference = nb201.torch_reference(sample)
    assert not any(isinstance(m, Choice) for m in reference.modules())
    assert not reference.training
    cells = [m for m in reference.cells if hasattr(m, "edges")]
    assert len(cells) == 15 and len(reference.cells) == 17
    widths = [cell.edges["edge_3_1"][1].in_channels for cell in cells]
    assert widths == [16] * 5 + [32] * 5 + [64] * 5
    edges = cells[0].edges
    assert isinstance(edges["edge_1_0"], nn.AvgPool2d) and edges["edge_1_0"].count_include_pad is False
    assert isinstance(edges["edge_2_0"], Zero) and isinstance(edges["edge_2_1"], nn.Identity)
    assert isinstance(edges["edge_3_0"], ReLUConvBN) and edges["edge_3_0"][1].kernel_size == (1, 1)
    assert edges["edge_3_1"][1].kernel_size == (3, 3) and edges["edge_3_1"][1].bias is None
    x = nb201.example_input(seed=2)
    with torch.no_grad():
        expected = apply_sample(nb201.torch_supernet(), sample)(x)
        np.testing.assert_array_equal(reference(x).numpy(), expected.numpy())


def test_torch_space_is_the_pure_python_space(nb201: NasBench201Space) -> None:
    supernet = nb201.torch_supernet()
    assert torch_search_space(supernet) == nb201.space
    sites = {(c.label, c.site) for c in supernet.modules() if isinstance(c, Choice)}
    assert len(sites) == 6 * 15 and {label for label, _ in sites} == set(EDGE_LABELS)


def test_edge_operations_differ(nb201: NasBench201Space) -> None:
    """Changing one edge changes the output: no operation is silently another."""
    x = nb201.example_input(seed=1)
    supernet = nb201.torch_supernet()
    outputs = []
    with torch.no_grad():
        for op in OPS:
            sample = {**nb201.default_sample(), "edge.2<-1": op}
            outputs.append(apply_sample(supernet, sample)(x).numpy().tobytes())
    assert len(set(outputs)) == len(OPS)


# -- the IR (building it exports 450 options: slow) ---------------------------------------------


def _run(mod: tvm.IRModule, x: torch.Tensor) -> np.ndarray:
    target = tvm.target.Target({"kind": "llvm"})
    ex = tvm.compile(mod, target=target, relax_pipeline=relax.get_default_pipeline(target))
    return relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x.numpy())).numpy()


@pytest.mark.slow
def test_ir_space_is_the_benchmark_space(nb201: NasBench201Space, nb201_module: tvm.IRModule) -> None:
    assert search_space(nb201_module) == nb201.space
    points = find_choice_points(nb201_module)
    assert len(points) == 90
    assert {cp.site for cp in points if cp.label == "edge.3<-2"} == {
        f"stage{s}.cell{i}" for s in (1, 2, 3) for i in range(1, 6)
    }
    assert len(nb201_module["main"].params) == 1


@pytest.mark.slow
@few_examples(12)
@given(sample=arch_samples(get("nas-bench-201").space))
def test_random_cells_specialize_to_well_formed_modules(nb201_module: tvm.IRModule, sample: ArchSample) -> None:
    specialized = SpecializeArch(sample)(nb201_module)
    assert relax.analysis.check_well_formed(specialized)
    assert find_choice_points(specialized) == [] and len(search_space(specialized)) == 0


@pytest.mark.slow
@few_examples(3)
@example(sample=get("nas-bench-201").from_arch_str(ALL_OPS_ARCH))
@given(sample=arch_samples(get("nas-bench-201").space))
def test_specialized_ir_matches_pytorch(nb201: NasBench201Space, nb201_module: tvm.IRModule, sample: ArchSample) -> None:
    x = nb201.example_input(seed=3)
    specialized = SpecializeArch(sample)(nb201_module)
    with torch.no_grad():
        reference = nb201.torch_reference(sample)(x).numpy()
    np.testing.assert_allclose(_run(specialized, x), reference, rtol=1e-4, atol=1e-4, err_msg=nb201.arch_str(sample))


def test_a_process_builds_a_supernet_once(nb201_module: tvm.IRModule, monkeypatch) -> None:
    """Asked again, ``ir_module`` hands out a copy of the supernet it built: no new import, and
    changing the copy leaves the one it keeps as it was."""
    from tvm_nacos._compat import structural_equal

    def no_import(*args, **kwargs):
        raise AssertionError("the supernet was imported again")

    monkeypatch.setattr("tvm_nacos.frontend.torch.from_torch", no_import)
    again = get("nas-bench-201").ir_module()
    assert again is not nb201_module and structural_equal(again, nb201_module)
    main = again.get_global_var("main")
    again.update_func(main, again[main].with_attr("changed", 1))
    assert structural_equal(get("nas-bench-201").ir_module(), nb201_module)
    assert not structural_equal(again, nb201_module)
