"""Specializing for inference from a supernet folded once gives the per-architecture module."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from example_modules import SHAPE, WEIGHTS, _tensor, conv_option, identity_option
from tvm import relax

from tvm_nacos import search_space as spaces
from tvm_nacos._compat import structural_equal
from tvm_nacos.analysis import search_space
from tvm_nacos.ir.builder import emit_choice
from tvm_nacos.passes import SpecializeArch
from tvm_nacos.tuning.inference import InferenceSpecializer, folds_within_functions, simplify_for_inference


def _assert_per_architecture(mod: tvm.IRModule, specializer: InferenceSpecializer, samples) -> None:
    for sample in samples:
        expected = simplify_for_inference(SpecializeArch(sample)(mod))
        actual = specializer(sample)
        assert sorted(gv.name_hint for gv in actual.get_global_vars()) == sorted(gv.name_hint for gv in expected.get_global_vars())
        assert structural_equal(actual, expected), sample


@pytest.mark.parametrize("space", ["nas-bench-201", "vit"])
def test_folded_once_equals_folded_per_architecture(space, nb201_module):
    mod = nb201_module if space == "nas-bench-201" else spaces.get(space).ir_module()
    specializer = InferenceSpecializer(mod)
    assert specializer.folded is not None  # every batch norm sits with its convolution
    rng = np.random.default_rng(7)
    _assert_per_architecture(mod, specializer, [search_space(mod).sample(rng) for _ in range(4)])


def _batch_norm(bb: relax.BlockBuilder, x: relax.Expr, seed: int) -> relax.Var:
    rng = np.random.default_rng(seed)
    channels = SHAPE[1]
    stats = [relax.const(rng.uniform(0.5, 1.5, channels).astype("float32")) for _ in range(4)]
    out = bb.emit(relax.op.nn.batch_norm(x, *stats, axis=1))
    return bb.emit(relax.TupleGetItem(out, 0))


def _conv_bn_option(kernel: str) -> relax.Function:
    """x → batch_norm(conv2d(x, W_kernel)): the batch norm folds inside the option."""
    weight = WEIGHTS[kernel]
    bb = relax.BlockBuilder()
    x = relax.Var("x", _tensor())
    with bb.function("f", [x], private=True):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.conv2d(x, relax.const(weight), padding=[weight.shape[-1] // 2] * 4))
            out = bb.emit_output(_batch_norm(bb, y, seed=int(kernel[1:])))
        bb.emit_func_output(out)
    return bb.get()["f"]


def _module(options: dict, batch_norm_after_choice: bool) -> tvm.IRModule:
    bb = relax.BlockBuilder()
    x = relax.Var("x", _tensor())
    with bb.function("main", [x]):
        with bb.dataflow():
            y = emit_choice(bb, "block.op", options, [x])
            if batch_norm_after_choice:
                y = _batch_norm(bb, y, seed=3)
            out = bb.emit_output(relax.op.nn.relu(y))
        bb.emit_func_output(out)
    return bb.get()


def test_a_batch_norm_within_its_option_is_folded_once():
    mod = _module({"k3": _conv_bn_option("k3"), "k5": _conv_bn_option("k5"), "identity": identity_option()}, False)
    specializer = InferenceSpecializer(mod)
    assert folds_within_functions(mod) and specializer.folded is not None
    _assert_per_architecture(mod, specializer, list(search_space(mod).enumerate()))


def test_a_batch_norm_across_a_choice_point_is_folded_per_architecture():
    # conv (in an option) → batch norm (after the choice point): only the specialized module folds it.
    mod = _module({"k3": conv_option("k3"), "k5": conv_option("k5"), "identity": identity_option()}, True)
    specializer = InferenceSpecializer(mod)
    assert not folds_within_functions(mod) and specializer.folded is None
    _assert_per_architecture(mod, specializer, list(search_space(mod).enumerate()))
    folded = specializer({"block.op": "k3"})
    assert "batch_norm" not in folded.script()  # folded into the convolution
