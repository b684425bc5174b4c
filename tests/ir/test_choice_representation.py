"""The choice-point representation: discovery, round trips, and the unspecialized module runs."""

from __future__ import annotations

import example_modules
import numpy as np
import pytest
import tvm
from tvm import relax

from tvm_nacos._compat import structural_equal, structural_hash
from tvm_nacos.analysis import search_space
from tvm_nacos.errors import ChoicePointError
from tvm_nacos.ir import ATTR_CHOICE, ATTR_DEFAULT, ATTR_OPTIONS, add_choice_point, find_choice_points
from tvm_nacos.search_space import ChoiceSpec, Condition, SearchSpace


def test_find_choice_points_orders_parents_first_and_records_conditions() -> None:
    points = find_choice_points(example_modules.nested_depth_choice())
    assert [cp.label for cp in points] == ["block.depth", "block.kernel"]
    depth, kernel = points
    assert depth.options == ("keep", "skip") and depth.condition is None and depth.default == "keep"
    assert kernel.options == ("k3", "k5") and kernel.condition == ("block.depth", ("keep",))
    assert [gv.name_hint for gv in kernel.option_funcs] == [
        "choice__block_kernel__k3",
        "choice__block_kernel__k5",
    ]


def test_search_space_of_module() -> None:
    space = search_space(example_modules.nested_depth_choice())
    assert space == SearchSpace(
        [
            ChoiceSpec("block.depth", ("keep", "skip")),
            ChoiceSpec("block.kernel", ("k3", "k5"), condition=Condition("block.depth", ("keep",))),
        ]
    )
    assert space.size == 3


def test_stub_attributes() -> None:
    mod = example_modules.one_kernel_choice()
    attrs = mod["choice__block_kernel"].attrs
    assert str(attrs[ATTR_CHOICE]) == "block.kernel"
    assert [str(o) for o in attrs[ATTR_OPTIONS]] == ["k3", "k5", "identity"]
    assert str(attrs[ATTR_DEFAULT]) == "k3"
    # Options are private: no global symbol.
    assert "global_symbol" not in mod["choice__block_kernel__k5"].attrs


@pytest.mark.parametrize("build", [example_modules.one_kernel_choice, example_modules.nested_depth_choice])
def test_tvmscript_round_trip(build) -> None:
    mod = build()
    parsed = tvm.script.from_source(mod.script(show_meta=True))
    tvm.ir.assert_structural_equal(parsed, mod)
    assert [cp.label for cp in find_choice_points(parsed)] == [cp.label for cp in find_choice_points(mod)]


@pytest.mark.parametrize("build", [example_modules.one_kernel_choice, example_modules.nested_depth_choice])
def test_json_round_trip_and_stable_hash(build) -> None:
    mod = build()
    loaded = tvm.ir.load_json(tvm.ir.save_json(mod))
    assert structural_equal(loaded, mod)
    assert structural_hash(build()) == structural_hash(mod)


def test_unspecialized_module_runs_its_default_options() -> None:
    mod = example_modules.nested_depth_choice()  # defaults: keep, k3
    target = tvm.target.Target({"kind": "llvm"})
    ex = tvm.compile(mod, target=target)
    x = np.random.default_rng(1).standard_normal(example_modules.SHAPE).astype("float32")
    out = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy()
    expected_mod = example_modules.nested_depth_specialized("keep", "k3")
    ex2 = tvm.compile(expected_mod, target=target)
    expected = relax.VirtualMachine(ex2, tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert np.abs(out).max() > 0


def test_default_option_must_exist() -> None:
    bb = relax.BlockBuilder()
    options = {"k3": example_modules.conv_option("k3"), "k5": example_modules.conv_option("k5")}
    with pytest.raises(ChoicePointError, match=r"default 'k7' is not one of its options \['k3', 'k5'\]"):
        add_choice_point(bb, "c", options, default="k7")


def test_options_with_different_inputs_are_rejected() -> None:
    bb = relax.BlockBuilder()
    other = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 4, 9, 9), "float32"))
    with other.function("f", [x], private=True):
        other.emit_func_output(x)
    options = {"k3": example_modules.conv_option("k3"), "wide": other.get()["f"]}
    with pytest.raises(ChoicePointError, match=r"input 0 of option 'wide'") as info:
        add_choice_point(bb, "c", options)
    assert info.value.option == "wide"


def _two_site_module(second_options: dict | None = None, second_site: str | None = "b") -> tvm.IRModule:
    options = {"k3": example_modules.conv_option("k3"), "k5": example_modules.conv_option("k5")}
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(example_modules.SHAPE, "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.Call(add_choice_point(bb, "edge", options, site="a"), [x]))
            z = bb.emit(relax.Call(add_choice_point(bb, "edge", second_options or options, site=second_site), [y]))
            out = bb.emit_output(z)
        bb.emit_func_output(out)
    return bb.get()


def test_sites_share_one_decision() -> None:
    from tvm_nacos.passes import SpecializeArch

    mod = _two_site_module()
    points = find_choice_points(mod)
    assert [(cp.label, cp.site) for cp in points] == [("edge", "a"), ("edge", "b")]
    space = search_space(mod)
    assert space.labels == ("edge",) and space.size == 2
    after = SpecializeArch({"edge": "k5"})(mod)
    convs = []
    relax.analysis.post_order_visit(
        after["main"].body, lambda e: convs.append(e) if isinstance(e, relax.Call) and e.op.name == "relax.nn.conv2d" else None
    )
    assert [tuple(c.args[1].value.numpy().shape) for c in convs] == [(4, 4, 5, 5), (4, 4, 5, 5)]


def test_sites_must_agree_on_options() -> None:
    other = {"k3": example_modules.conv_option("k3"), "id": example_modules.identity_option()}
    with pytest.raises(ChoicePointError, match=r"sites of one choice must agree"):
        find_choice_points(_two_site_module(other))


def test_same_label_same_site_is_a_duplicate() -> None:
    # Other functions under the same names (identical ones would be deduplicated by add_func).
    swapped = {"k3": example_modules.conv_option("k5"), "k5": example_modules.conv_option("k3")}
    with pytest.raises(ChoicePointError, match=r"duplicate choice label 'edge' at site 'a'"):
        find_choice_points(_two_site_module(swapped, second_site="a"))
