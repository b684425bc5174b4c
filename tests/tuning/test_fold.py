"""FoldConstantsWithNumpy folds what FoldConstant folds after batch norm is decomposed, in numpy."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm import relax

from tvm_nacos._compat import GenericConst, structural_equal
from tvm_nacos.passes import SpecializeArch
from tvm_nacos.search_space import get
from tvm_nacos.tuning.fold import FOLDABLE_OPS, FoldConstantsWithNumpy

TARGET = tvm.target.Target({"kind": "llvm"})


def _decomposed(mod: tvm.IRModule) -> tvm.IRModule:
    return tvm.transform.Sequential(
        [relax.transform.FoldBatchnormToConv2D(), relax.transform.DecomposeOpsForInference()]
    )(mod)


def _cleaned(mod: tvm.IRModule) -> tvm.IRModule:
    return tvm.transform.Sequential(
        [relax.transform.CanonicalizeBindings(), relax.transform.DeadCodeElimination()]
    )(mod)


def _constant_calls(mod: tvm.IRModule) -> list[str]:
    """Ops of the calls to FOLDABLE_OPS whose arguments are all constants or bound to such calls."""
    constant_vars: set[relax.Var] = set()
    names: list[str] = []

    def is_constant(arg: relax.Expr) -> bool:
        return isinstance(arg, (GenericConst, relax.ShapeExpr, tvm.tirx.FloatImm)) or arg in constant_vars

    for block in mod["main"].body.blocks:
        for binding in block.bindings:
            value = binding.value
            if isinstance(value, GenericConst):
                constant_vars.add(binding.var)
            elif isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.Op) and value.op.name in FOLDABLE_OPS:
                if all(is_constant(a) for a in value.args):
                    constant_vars.add(binding.var)
                    names.append(value.op.name)
    return names


def _ops(mod: tvm.IRModule) -> list[str]:
    names: list[str] = []
    relax.analysis.post_order_visit(
        mod["main"], lambda e: names.append(e.op.name) if isinstance(e, relax.Call) and isinstance(e.op, tvm.ir.Op) else None
    )
    return names


def _run(mod: tvm.IRModule, x: np.ndarray) -> np.ndarray:
    vm = relax.VirtualMachine(tvm.compile(mod, target=TARGET), tvm.cpu())
    return vm["main"](tvm.runtime.tensor(x)).numpy()


def _conv_bn_relu_bn() -> tvm.IRModule:
    """conv2d → batch_norm (folds into the conv) → relu → batch_norm (decomposes) → dense."""
    rng = np.random.default_rng(0)

    def const(*shape: int, low: float = -1.0) -> relax.Expr:
        return relax.const(rng.uniform(low, 1.0, shape).astype("float32"))

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 3, 8, 8), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            conv = bb.emit(relax.op.nn.conv2d(x, const(4, 3, 3, 3), padding=(1, 1)))
            bn1 = bb.emit(relax.op.nn.batch_norm(conv, const(4), const(4), const(4), const(4, low=0.1), axis=1))
            relu = bb.emit(relax.op.nn.relu(bb.emit(relax.TupleGetItem(bn1, 0))))
            bn2 = bb.emit(relax.op.nn.batch_norm(relu, const(4), const(4), const(4), const(4, low=0.1), axis=1))
            flat = bb.emit(relax.op.reshape(bb.emit(relax.TupleGetItem(bn2, 0)), (1, 256)))
            # A linear layer as the importer writes it: the weight transposed at run time.
            out = bb.emit_output(relax.op.matmul(flat, relax.op.permute_dims(const(10, 256))))
        bb.emit_func_output(out)
    return bb.get()


class TestConvBatchNorm:
    before = _decomposed(_conv_bn_relu_bn())
    expected = _cleaned(relax.transform.FoldConstant()(before))

    def test_every_constant_call_is_folded(self) -> None:
        foldable = {"relax.add", "relax.sqrt", "relax.divide", "relax.multiply", "relax.subtract", "relax.reshape",
                    "relax.expand_dims", "relax.permute_dims"}  # fmt: skip
        assert set(_constant_calls(self.before)) == foldable
        after = FoldConstantsWithNumpy()(self.before)
        assert _constant_calls(after) == []
        assert relax.analysis.check_well_formed(after)

    def test_same_as_fold_constant(self) -> None:
        after = _cleaned(FoldConstantsWithNumpy()(self.before))
        assert structural_equal(after, self.expected, map_free_vars=True)
        # Only calls on x are left: conv + bias, relu, the second batch norm's arithmetic, dense.
        assert sorted(set(_ops(after))) == ["relax.add", "relax.divide", "relax.matmul", "relax.multiply",
                                            "relax.nn.conv2d", "relax.nn.relu", "relax.reshape", "relax.subtract"]  # fmt: skip
        x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype("float32")
        np.testing.assert_allclose(_run(after, x), _run(self.expected, x), rtol=1e-5, atol=1e-5)

    def test_non_constant_calls_are_kept(self) -> None:
        bb = relax.BlockBuilder()
        x = relax.Var("x", relax.TensorType((1, 4), "float32"))
        with bb.function("main", [x]):
            with bb.dataflow():
                scale = bb.emit(relax.op.sqrt(relax.const(np.full((4,), 4.0, "float32"))))
                shift = bb.emit(relax.op.add(scale, relax.const(np.float32(1.0))))
                out = bb.emit_output(relax.op.multiply(x, shift))
            bb.emit_func_output(out)
        after = _cleaned(FoldConstantsWithNumpy()(bb.get()))
        assert _ops(after) == ["relax.multiply"]
        np.testing.assert_array_equal(_run(after, np.ones((1, 4), "float32")), np.full((1, 4), 3.0, "float32"))


@pytest.mark.slow
def test_nas_bench_201_same_as_fold_constant(nb201_module: tvm.IRModule) -> None:
    space = get("nas-bench-201")
    mod = _decomposed(SpecializeArch(space.space.sample(np.random.default_rng(0)))(nb201_module))
    after = _cleaned(FoldConstantsWithNumpy()(mod))
    assert _constant_calls(after) == []
    assert structural_equal(after, _cleaned(relax.transform.FoldConstant()(mod)), map_free_vars=True)
