"""SpecializeArch: Before/Expected structure, pass infrastructure, errors."""

from __future__ import annotations

import example_modules
import pytest
import tvm
from tvm import relax

from tvm_nacos.errors import ChoicePointError, InvalidSampleError
from tvm_nacos.ir import find_choice_points, is_choice_function
from tvm_nacos.passes import CheckChoicePoints, SpecializeArch
from tvm_nacos.search_space import ArchSample


@pytest.mark.parametrize("option", ["k3", "k5", "identity"])
def test_one_choice_matches_expected(option: str) -> None:
    before = example_modules.one_kernel_choice()
    after = SpecializeArch(ArchSample({"block.kernel": option}))(before)
    relax.analysis.well_formed(after)
    tvm.ir.assert_structural_equal(after, example_modules.one_kernel_choice_specialized(option))


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ({"block.depth": "keep", "block.kernel": "k3"}, ("keep", "k3")),
        ({"block.depth": "keep", "block.kernel": "k5"}, ("keep", "k5")),
        ({"block.depth": "skip"}, ("skip", None)),
        # An inactive choice may be named; it is ignored.
        ({"block.depth": "skip", "block.kernel": "k5"}, ("skip", None)),
    ],
)
def test_nested_choice_matches_expected(sample: dict, expected: tuple) -> None:
    after = SpecializeArch(sample)(example_modules.nested_depth_choice())
    relax.analysis.well_formed(after)
    tvm.ir.assert_structural_equal(after, example_modules.nested_depth_specialized(*expected))


def test_no_choice_function_or_dead_code_left() -> None:
    after = SpecializeArch({"block.kernel": "k5"})(example_modules.one_kernel_choice())
    assert [gv.name_hint for gv in after.get_global_vars()] == ["main"]
    assert not any(is_choice_function(f) for f in after.functions.values())
    assert find_choice_points(after) == []
    bindings = [b for block in after["main"].body.blocks for b in block.bindings]
    assert len(bindings) == 2  # conv2d and relu, nothing else


def test_input_module_is_not_modified() -> None:
    before = example_modules.one_kernel_choice()
    copy = tvm.ir.load_json(tvm.ir.save_json(before))
    SpecializeArch({"block.kernel": "k3"})(before)
    tvm.ir.assert_structural_equal(before, copy)
    assert len(before.get_global_vars()) == 5


def test_runs_in_sequential_under_pass_context_with_instrument() -> None:
    seen: list[str] = []

    @tvm.instrument.pass_instrument
    class RecordPasses:
        def run_before_pass(self, _mod: tvm.IRModule, info: tvm.transform.PassInfo) -> None:
            seen.append(info.name)

    seq = tvm.transform.Sequential([CheckChoicePoints(), SpecializeArch({"block.kernel": "k5"})])
    with tvm.transform.PassContext(opt_level=3, instruments=[RecordPasses()]):
        after = seq(example_modules.one_kernel_choice())
    assert "CheckChoicePoints" in seen and "SpecializeArch" in seen
    tvm.ir.assert_structural_equal(after, example_modules.one_kernel_choice_specialized("k5"))


def test_specialized_module_compiles_with_default_pipeline() -> None:
    import numpy as np

    target = tvm.target.Target({"kind": "llvm"})
    after = SpecializeArch({"block.kernel": "identity"})(example_modules.one_kernel_choice())
    ex = tvm.compile(after, target=target, relax_pipeline=relax.get_default_pipeline(target))
    x = np.random.default_rng(0).standard_normal(example_modules.SHAPE).astype("float32")
    out = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy()
    np.testing.assert_allclose(out, np.maximum(x, 0.0))


def test_unknown_label_lists_valid_labels() -> None:
    with pytest.raises(InvalidSampleError, match=r"block\.kernl.*block\.kernel"):
        SpecializeArch({"block.kernl": "k3"})(example_modules.one_kernel_choice())


def test_unknown_option_lists_valid_options() -> None:
    with pytest.raises(InvalidSampleError, match=r"k7.*k3.*k5.*identity"):
        SpecializeArch({"block.kernel": "k7"})(example_modules.one_kernel_choice())


def test_missing_label_is_named() -> None:
    with pytest.raises(InvalidSampleError, match=r"block\.kernel"):
        SpecializeArch({"block.depth": "keep"})(example_modules.nested_depth_choice())


@pytest.mark.parametrize(
    "sample", [{"block.depth": "keep", "block.kernel": "k3"}, {"block.depth": "keep", "block.kernel": "k5"}, {"block.depth": "skip"}]
)
def test_choice_points_found_once_give_the_same_module(sample: dict) -> None:
    mod = example_modules.nested_depth_choice()
    points = find_choice_points(mod)
    tvm.ir.assert_structural_equal(SpecializeArch(sample, choice_points=points)(mod), SpecializeArch(sample)(mod))


def test_choice_points_of_another_module_are_an_error_not_a_broken_module() -> None:
    mod = example_modules.nested_depth_choice()
    outer_only = [cp for cp in find_choice_points(mod) if cp.label == "block.depth"]
    with pytest.raises(ChoicePointError, match=r"still calls the choice functions .*choice_points"):
        SpecializeArch({"block.depth": "keep"}, choice_points=outer_only)(mod)
