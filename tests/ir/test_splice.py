"""splice_calls: the same functions as inline_functions, without inferring types again."""

from __future__ import annotations

import example_modules
import numpy as np
import pytest
import tvm
from tvm import relax

from tvm_nacos._compat import tirx
from tvm_nacos.ir.splice import splice_calls
from tvm_nacos.passes import SpecializeArch
from tvm_nacos.passes import specialize_arch as specialize_arch_module
from tvm_nacos.search_space import get

_CLEANUP = tvm.transform.Sequential(
    [relax.transform.DeadCodeElimination(), relax.transform.CanonicalizeBindings(), relax.transform.DeadCodeElimination()]
)


def _callee(param_shape: tuple, *, dataflow: bool = True) -> relax.Function:
    """x → relu(x + 1)[...]: a tuple and an item on the way, so that every kind of binding is copied."""
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(param_shape, "float32"))
    with bb.function("callee", [x], private=True):
        if dataflow:
            with bb.dataflow():
                y = bb.emit(relax.op.add(x, relax.const(1.0)))
                pair = bb.emit(relax.Tuple([y, x]))
                first = bb.emit(relax.TupleGetItem(pair, 0))
                out = bb.emit_output(relax.op.nn.relu(first))
        else:
            out = bb.emit(relax.op.nn.relu(x))
        bb.emit_func_output(out)
    return bb.get()["callee"]


def _module(callee: relax.Function, *, dataflow: bool = True, calls: int = 2) -> tuple[tvm.IRModule, tvm.ir.GlobalVar]:
    """``main`` calls ``callee`` ``calls`` times in a row, in a dataflow block or not."""
    bb = relax.BlockBuilder()
    gv = bb.add_func(callee, "callee")
    x = relax.Var("x", relax.TensorType((4, 8), "float32"))
    with bb.function("main", [x]):
        if dataflow:
            with bb.dataflow():
                y = x
                for _ in range(calls):
                    y = bb.emit(relax.Call(gv, [y]))
                out = bb.emit_output(relax.op.multiply(y, y))
        else:
            y = x
            for _ in range(calls):
                y = bb.emit(relax.Call(gv, [y]))
            out = bb.emit(relax.op.multiply(y, y))
        bb.emit_func_output(out)
    return bb.get(), gv


def _both(mod: tvm.IRModule, gv: tvm.ir.GlobalVar) -> tuple[tvm.IRModule | None, tvm.IRModule]:
    """``main`` spliced (``None`` where declined) and inlined, each cleaned up alike, without the callee."""
    callee = mod[gv]
    inlined = tvm.IRModule({"main": mod["main"].inline_functions({gv: callee})})
    spliced_main = splice_calls(mod["main"], {gv: callee})
    spliced = None if spliced_main is None else _CLEANUP(tvm.IRModule({"main": spliced_main}))
    return spliced, _CLEANUP(inlined)


def test_spliced_calls_equal_inlined_ones_and_run_alike() -> None:
    mod, gv = _module(_callee((4, 8)))
    spliced, inlined = _both(mod, gv)
    assert spliced is not None
    relax.analysis.well_formed(spliced)
    tvm.ir.assert_structural_equal(spliced, inlined)
    x = np.random.default_rng(0).standard_normal((4, 8)).astype("float32")
    vm = relax.VirtualMachine(tvm.compile(spliced, target="llvm"), tvm.cpu())
    expected = np.maximum(np.maximum(x + 1, 0) + 1, 0) ** 2
    np.testing.assert_allclose(vm["main"](tvm.runtime.tensor(x)).numpy(), expected, rtol=1e-6)


def test_an_identity_callee_becomes_an_alias() -> None:
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((4, 8), "float32"))
    with bb.function("callee", [x], private=True):
        bb.emit_func_output(x)
    mod, gv = _module(bb.get()["callee"])
    spliced, inlined = _both(mod, gv)
    assert spliced is not None
    tvm.ir.assert_structural_equal(spliced, inlined)


@pytest.mark.parametrize(
    "param_type",
    [relax.TensorType((4, tirx.Var("n", "int64")), "float32"), relax.TensorType(None, "float32", ndim=2)],
    ids=["symbolic-shape", "any-shape"],
)
def test_an_argument_of_another_type_than_its_parameter_is_declined(param_type: relax.TensorType) -> None:
    bb = relax.BlockBuilder()
    x = relax.Var("x", param_type)
    with bb.function("callee", [x], private=True):
        with bb.dataflow():
            out = bb.emit_output(relax.op.nn.relu(x))
        bb.emit_func_output(out)
    mod, gv = _module(bb.get()["callee"])
    spliced, _ = _both(mod, gv)
    assert spliced is None


@pytest.mark.parametrize(("caller_dataflow", "callee_dataflow"), [(False, True), (True, False)],
                         ids=["caller-binding-block", "callee-binding-block"])
def test_calls_outside_dataflow_are_declined(caller_dataflow: bool, callee_dataflow: bool) -> None:
    """``inline_functions`` keeps the callee's dataflow block inside the caller's binding block:
    splicing would flatten it (another module), so it leaves the call to inlining."""
    mod, gv = _module(_callee((4, 8), dataflow=callee_dataflow), dataflow=caller_dataflow)
    spliced, _ = _both(mod, gv)
    assert spliced is None


def test_specialize_arch_falls_back_to_inlining_where_splicing_declines(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = example_modules.nested_depth_choice()
    sample = {"block.depth": "keep", "block.kernel": "k5"}
    spliced = SpecializeArch(sample)(mod)
    monkeypatch.setattr(specialize_arch_module, "splice_calls", lambda func, callees: None)
    tvm.ir.assert_structural_equal(SpecializeArch(sample)(mod), spliced)
    tvm.ir.assert_structural_equal(spliced, example_modules.nested_depth_specialized("keep", "k5"))


def test_specialized_supernet_architectures_equal_inlined_ones(nb201_module: tvm.IRModule,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Every kind of option of nas-bench-201 (convolutions, pooling, identity, zero), spliced and inlined."""
    from tvm_nacos.ir import find_choice_points

    points = find_choice_points(nb201_module)
    rng = np.random.default_rng(0)
    samples = [get("nas-bench-201").space.sample(rng) for _ in range(6)]
    spliced = [SpecializeArch(s, choice_points=points)(nb201_module) for s in samples]
    monkeypatch.setattr(specialize_arch_module, "splice_calls", lambda func, callees: None)
    for sample, module in zip(samples, spliced, strict=True):
        tvm.ir.assert_structural_equal(module, SpecializeArch(sample, choice_points=points)(nb201_module))
