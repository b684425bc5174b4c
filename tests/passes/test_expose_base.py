"""ExposePass: a move in a few lines, restrictions, stable labels under composition, errors."""

from __future__ import annotations

import zlib

import expose_modules as em
import numpy as np
import pytest
import tvm
from tvm import relax

from tvm_nacos.analysis import search_space
from tvm_nacos.errors import ChoicePointError, SearchSpaceError
from tvm_nacos.ir import add_choice_point, find_choice_points
from tvm_nacos.passes import (
    CheckChoicePoints,
    ExposeGrouping,
    ExposeKernelSize,
    ExposePass,
    ExposeSkip,
    SpecializeArch,
)
from tvm_nacos.passes.expose_base import he_normal, option_rng


@tvm.transform.module_pass(opt_level=0, name="ExposeActivation")
class ExposeActivation(ExposePass):
    """ReLU → GELU / SiLU: the move of the tutorial."""

    suffix = "act"

    def match(self, call, context):
        return call.op == tvm.ir.Op.get("relax.nn.relu")

    def options(self, call, context):
        return {
            "gelu": lambda bb, inputs: relax.op.nn.gelu(inputs[0]),
            "silu": lambda bb, inputs: relax.op.nn.silu(inputs[0]),
        }


def _three_convs() -> tvm.IRModule:
    """relu(conv(relu(conv(relu(conv(x)))))), all 4 -> 4, 3x3."""

    def body(bb, x):
        for _ in range(2):
            x = bb.emit(relax.op.nn.relu(bb.emit(em.conv(x, em.W3, padding=[1, 1, 1, 1]))))
        return relax.op.nn.relu(bb.emit(em.conv(x, em.W3, padding=[1, 1, 1, 1])))

    return em.module(body)


def test_a_move_in_a_few_lines_matches_expected() -> None:
    after = ExposeActivation()(em.conv_relu())
    relax.analysis.well_formed(after)
    options = {
        "original": em.option(lambda bb, x: relax.op.nn.relu(x)),
        "gelu": em.option(lambda bb, x: relax.op.nn.gelu(x)),
        "silu": em.option(lambda bb, x: relax.op.nn.silu(x)),
    }
    expected = em.with_choice(
        "relu0.act",
        options,
        ["relu0"],
        lambda bb, x, stub: relax.Call(stub, [bb.emit(em.conv(x, em.W3, padding=[1, 1, 1, 1]))]),
    )
    tvm.ir.assert_structural_equal(after, expected)


def test_runs_in_sequential_under_pass_context_with_instrument() -> None:
    seen: list[str] = []

    @tvm.instrument.pass_instrument
    class RecordPasses:
        def run_before_pass(self, _mod, info):
            seen.append(info.name)

    seq = tvm.transform.Sequential([ExposeKernelSize(sizes=(5,)), ExposeActivation(), CheckChoicePoints()])
    with tvm.transform.PassContext(opt_level=3, instruments=[RecordPasses()]):
        after = seq(em.conv_relu())
    assert [n for n in seen if n != "sequential"] == ["ExposeKernelSize", "ExposeActivation", "CheckChoicePoints"]
    assert search_space(after).labels == ("conv0.kernel", "relu0.act")
    assert search_space(after).size == 6


def test_input_module_is_not_modified() -> None:
    before = _three_convs()
    copy = tvm.ir.load_json(tvm.ir.save_json(before))
    ExposeKernelSize()(before)
    tvm.ir.assert_structural_equal(before, copy)
    assert [gv.name_hint for gv in before.get_global_vars()] == ["main"]


def test_same_seed_same_module() -> None:
    a = ExposeKernelSize(seed=4)(_three_convs())
    b = ExposeKernelSize(seed=4)(_three_convs())
    tvm.ir.assert_structural_equal(a, b)


def test_option_rng_and_he_normal_are_as_documented() -> None:
    rng = option_rng(2, "conv1.kernel", "k5")
    expected = np.random.default_rng([2, zlib.crc32(b"conv1.kernel"), zlib.crc32(b"k5")])
    np.testing.assert_array_equal(rng.standard_normal(3), expected.standard_normal(3))
    w = he_normal(np.random.default_rng(0), (64, 32, 3, 3), fan_in=288)
    assert w.dtype == np.float32 and w.shape == (64, 32, 3, 3)
    assert abs(w.std() - np.sqrt(2 / 288)) < 0.005


# ----------------------------------------------------------------------------------------------
# Restriction.


def test_restrict_by_name_pattern() -> None:
    after = ExposeKernelSize(names="conv[02]")(_three_convs())
    assert search_space(after).labels == ("conv0.kernel", "conv2.kernel")
    after = ExposeKernelSize(names=("conv1.kernel",))(_three_convs())  # a label pattern works too
    assert search_space(after).labels == ("conv1.kernel",)


def test_restrict_by_predicate_on_the_call() -> None:
    seen = []

    def only_second(call, context):
        seen.append((context.name, context.label, context.function_name, call.op.name))
        return context.name == "conv1"

    after = ExposeKernelSize(where=only_second)(_three_convs())
    assert search_space(after).labels == ("conv1.kernel",)
    assert seen == [(f"conv{i}", f"conv{i}.kernel", "main", "relax.nn.conv2d") for i in range(3)]


def test_restrict_by_predicate_on_shape() -> None:
    def body(bb, x):
        y = bb.emit(em.conv(x, em.W_WIDE, padding=[1, 1, 1, 1]))  # 4 -> 8
        return em.conv(y, em.W_BACK, padding=[1, 1, 1, 1])  # 8 -> 4

    wide_only = ExposeKernelSize(where=lambda call, ctx: int(call.ty.shape[1]) == 8)
    assert search_space(wide_only(em.module(body))).labels == ("conv0.kernel",)


def test_bad_restrictions_are_refused() -> None:
    with pytest.raises(TypeError, match="glob pattern"):
        ExposeKernelSize(names=[3])
    with pytest.raises(TypeError, match="callable"):
        ExposeKernelSize(where="conv1")
    with pytest.raises(SearchSpaceError, match="seed must be a non-negative integer, got -1"):
        ExposeKernelSize(seed=-1)


# ----------------------------------------------------------------------------------------------
# Labels under composition.


def test_op_names_stay_stable_when_passes_compose() -> None:
    # conv1 moves into a choice point first; conv2 must still be called conv2 afterwards.
    after = tvm.transform.Sequential([ExposeKernelSize(names="conv1"), ExposeGrouping(groups=(2,))])(_three_convs())
    labels = search_space(after).labels
    assert "conv0.groups" in labels and "conv2.groups" in labels and "conv1.groups" not in labels
    # The same op exposed by two passes: conv1.kernel, and a groups choice inside each kernel option.
    assert {label for label in labels if label.startswith("conv1.")} == {
        "conv1.kernel",
        "conv1.kernel.original.conv0.groups",
        "conv1.kernel.k5.conv0.groups",
        "conv1.kernel.k7.conv0.groups",
    }
    cps = {cp.label: cp for cp in find_choice_points(after)}
    assert cps["conv1.kernel.k5.conv0.groups"].condition == ("conv1.kernel", ("k5",))
    # 2 (conv0) * 2 (conv2) * 3 kernels each with 2 groupings
    assert search_space(after).size == 2 * 2 * 3 * 2
    CheckChoicePoints()(after)


def test_all_original_sample_specializes_back_after_composition() -> None:
    before = em.residual_block()
    seq = tvm.transform.Sequential([ExposeSkip(), ExposeKernelSize(), ExposeGrouping(), ExposeActivation()])
    after = seq(before)
    relax.analysis.well_formed(after)
    space = search_space(after)
    assert space.labels[0] == "add0.skip"
    assert space.size > 10
    tvm.ir.assert_structural_equal(SpecializeArch(space.default_sample())(after), before)


def test_existing_label_is_an_error() -> None:
    bb = relax.BlockBuilder()
    options = {"a": em.option(lambda b, x: x), "b": em.option(lambda b, x: relax.op.nn.relu(x))}
    add_choice_point(bb, "conv0.kernel", options)
    x = relax.Var("x", em.tensor())
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(em.conv(x, em.W3, padding=[1, 1, 1, 1]))
        bb.emit_func_output(out)
    with pytest.raises(ChoicePointError, match="already has a choice point labelled 'conv0.kernel'"):
        ExposeKernelSize()(bb.get())


def test_option_named_original_is_an_error() -> None:
    @tvm.transform.module_pass(opt_level=0, name="BadMove")
    class BadMove(ExposePass):
        suffix = "bad"

        def match(self, call, context):
            return call.op == tvm.ir.Op.get("relax.nn.relu")

        def options(self, call, context):
            return {"original": lambda bb, inputs: inputs[0]}

    with pytest.raises(ChoicePointError, match="option named 'original'"):
        BadMove()(em.conv_relu())


def test_option_with_another_output_type_is_an_error() -> None:
    @tvm.transform.module_pass(opt_level=0, name="ShapeChanging")
    class ShapeChanging(ExposePass):
        suffix = "pool"

        def match(self, call, context):
            return call.op == tvm.ir.Op.get("relax.nn.relu")

        def options(self, call, context):
            return {"pooled": lambda bb, inputs: relax.op.nn.max_pool2d(inputs[0], pool_size=2, strides=2)}

    with pytest.raises(ChoicePointError, match="every option must return the same shape"):
        ShapeChanging()(em.conv_relu())


def test_a_move_without_suffix_is_refused() -> None:
    class NoSuffix(ExposePass):
        pass

    with pytest.raises(TypeError, match="NoSuffix.suffix is ''"):
        NoSuffix()


@pytest.mark.parametrize(
    ("inside_options", "expected"),
    [
        ("all", {"conv1.kernel.original.conv0.groups", "conv1.kernel.k5.conv0.groups", "conv1.kernel.k7.conv0.groups"}),
        ("original", {"conv1.kernel.original.conv0.groups"}),
        ("none", set()),
    ],
)
def test_inside_options_chooses_which_options_a_pass_looks_into(inside_options, expected) -> None:
    first = ExposeKernelSize(names="conv1")(_three_convs())
    after = ExposeGrouping(groups=(2,), inside_options=inside_options)(first)
    labels = set(search_space(after).labels)
    assert {"conv0.groups", "conv2.groups"} <= labels  # main is always looked into
    assert {label for label in labels if label.startswith("conv1.kernel.")} == expected
    sizes = {"all": 2 * 2 * 3 * 2, "original": 2 * 2 * (1 + 1 + 2), "none": 2 * 2 * 3}
    assert search_space(after).size == sizes[inside_options]


def test_unknown_inside_options_is_refused() -> None:
    message = "inside_options must be one of \\['all', 'original', 'none'\\], got 'some'"
    with pytest.raises(SearchSpaceError, match=message):
        ExposeKernelSize(inside_options="some")


def _two_sites(second_weight: np.ndarray) -> tvm.IRModule:
    """Two stubs of the label ``cell.op`` at sites ``cell0`` and ``cell1``, in sequence."""
    bb = relax.BlockBuilder()
    stubs = [
        add_choice_point(
            bb,
            "cell.op",
            {
                "conv": em.option(lambda b, x, w=w: em.conv(x, w, padding=[1, 1, 1, 1])),
                "skip": em.option(lambda b, x: x),
            },
            site=site,
        )
        for site, w in (("cell0", em.W3), ("cell1", second_weight))
    ]
    x = relax.Var("x", em.tensor())
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(relax.Call(stubs[1], [bb.emit(relax.Call(stubs[0], [x]))]))
        bb.emit_func_output(out)
    return bb.get()


def test_ops_inside_options_of_a_label_shared_by_sites() -> None:
    # Each site has its own options: the site names the nested label.
    after = ExposeKernelSize(sizes=(5,))(_two_sites(em.W3 * 2))
    relax.analysis.well_formed(after)
    labels = ("cell.op", "cell0.cell.op.conv.conv0.kernel", "cell1.cell.op.conv.conv0.kernel")
    assert search_space(after).labels == labels
    # The sites share one option function (structurally equal options are added once): one nested label.
    after = ExposeKernelSize(sizes=(5,))(_two_sites(em.W3))
    relax.analysis.well_formed(after)
    assert search_space(after).labels == ("cell.op", "cell.op.conv.conv0.kernel")
