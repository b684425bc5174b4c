"""CheckChoicePoints: every malformed choice point is reported with its label and option."""

from __future__ import annotations

import example_modules
import pytest
import tvm
from tvm import relax

from tvm_nacos.errors import ChoicePointError
from tvm_nacos.ir import ATTR_OPTIONS, add_choice_point, emit_choice, find_choice_points
from tvm_nacos.passes import CheckChoicePoints


def _module_with_options(options: dict, label: str = "c0") -> tvm.IRModule:
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(example_modules.SHAPE, "float32"))
    with bb.function("main", [x]):
        out = bb.emit(relax.Call(add_choice_point(bb, label, options), [x]))
        bb.emit_func_output(out)
    return bb.get()


def _func(out_shape, dtype="float32") -> relax.Function:
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(example_modules.SHAPE, "float32"))
    with bb.function("f", [x], private=True):
        y = bb.emit(relax.op.zeros(relax.ShapeExpr(out_shape), dtype))
        bb.emit_func_output(y)
    return bb.get()["f"]


def _retag(mod: tvm.IRModule, stub_name: str, **attrs) -> tvm.IRModule:
    mod = mod.clone()
    gv = mod.get_global_var(stub_name)
    mod[gv] = mod[gv].with_attrs(attrs)
    return mod


def test_well_formed_module_passes_unchanged() -> None:
    mod = example_modules.nested_depth_choice()
    tvm.ir.assert_structural_equal(CheckChoicePoints()(mod), mod)


def test_output_shape_mismatch_names_label_and_option() -> None:
    with pytest.raises(ChoicePointError, match=r"'c0'.*'small'.*returns") as info:
        _module_with_options({"same": _func(example_modules.SHAPE), "small": _func((1, 4, 6, 6))})
    assert (info.value.label, info.value.option) == ("c0", "small")


def test_output_dtype_mismatch_names_label_and_option() -> None:
    with pytest.raises(ChoicePointError, match=r"'c0'.*'half'") as info:
        _module_with_options({"same": _func(example_modules.SHAPE), "half": _func(example_modules.SHAPE, "float16")})
    assert info.value.option == "half"


def test_fewer_than_two_options() -> None:
    with pytest.raises(ChoicePointError, match=r"'c0' has 1 option.*at least two"):
        _module_with_options({"only": _func(example_modules.SHAPE)})


def test_check_catches_edited_module_with_one_option() -> None:
    mod = example_modules.one_kernel_choice()
    mod = _retag(mod, "choice__block_kernel", **{ATTR_OPTIONS: ["k3"]})
    with pytest.raises(ChoicePointError, match=r"'block\.kernel' has 1 option"):
        CheckChoicePoints()(mod)


def test_duplicate_labels() -> None:
    options = {"k3": example_modules.conv_option("k3"), "k5": example_modules.conv_option("k5")}
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(example_modules.SHAPE, "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = emit_choice(bb, "c0", options, [x])
            z = emit_choice(bb, "c1", options, [y])
            out = bb.emit_output(z)
        bb.emit_func_output(out)
    mod = _retag(bb.get(), "choice__c1", **{"nacos.choice": "c0"})
    with pytest.raises(ChoicePointError, match=r"duplicate choice label 'c0'") as info:
        CheckChoicePoints()(mod)
    assert info.value.label == "c0"


def test_option_with_other_signature_in_edited_module() -> None:
    mod = example_modules.one_kernel_choice()
    mod = mod.clone()
    gv = mod.get_global_var("choice__block_kernel__k5")
    wrong = _func((1, 4, 6, 6)).with_attrs({"nacos.option_of": "block.kernel", "nacos.option": "k5"})
    mod[gv] = wrong
    with pytest.raises(ChoicePointError, match=r"'block\.kernel'.*'k5'") as info:
        CheckChoicePoints()(mod)
    assert info.value.option == "k5"


def test_option_not_tagged() -> None:
    mod = example_modules.one_kernel_choice().clone()
    gv = mod.get_global_var("choice__block_kernel__k5")
    mod[gv] = mod[gv].without_attr("nacos.option")
    with pytest.raises(ChoicePointError, match=r"'block\.kernel'.*option 'k5'.*not tagged"):
        CheckChoicePoints()(mod)


def test_missing_option_function() -> None:
    mod = _retag(
        example_modules.one_kernel_choice(),
        "choice__block_kernel",
        **{"nacos.option_funcs": ["choice__block_kernel__k3", "nope", "choice__block_kernel__identity"]},
    )
    with pytest.raises(ChoicePointError, match=r"option 'k5' names function 'nope'"):
        find_choice_points(mod)


def test_unreachable_choice_point_is_ignored() -> None:
    mod = example_modules.one_kernel_choice()
    x = relax.Var("x", relax.TensorType(example_modules.SHAPE, "float32"))
    bb = relax.BlockBuilder()
    with bb.function("main", [x]):
        bb.emit_func_output(x)
    mod = mod.clone()
    mod[mod.get_global_var("main")] = bb.get()["main"]
    assert find_choice_points(mod) == []
