"""Specialize an architecture for inference: batch norm folded, constants folded.

:func:`simplify_for_inference` folds batch norm into the preceding convolution and evaluates the
constant expressions that leaves. Done per architecture, it is 0.3–0.4 s of each NAS-Bench-201
architecture's lowering, almost all of it spent again on the same options.
:class:`InferenceSpecializer` folds every option of the supernet once, then specializes each
architecture from the folded supernet; only the constants that meet across a choice point (a
cell whose incoming edges are all zero, say) are folded per architecture. The result is the
module of the per-architecture path (checked in the tests on the built-in spaces).

Folding once is exact only where each batch norm folds, or does not, inside its own function:
its input computed there (by a convolution or anything else, not a parameter or another
function's result) and its statistics constants or values computed there. Where one is not
(a choice point between a convolution and its batch norm), the specializer folds per
architecture, as before.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

import tvm
from tvm import relax

from tvm_nacos._compat import GenericConst, structural_equal
from tvm_nacos.analysis import ArchitectureCounter
from tvm_nacos.ir.choice import find_choice_points
from tvm_nacos.passes import SpecializeArch
from tvm_nacos.search_space import ArchSample
from tvm_nacos.tuning.fold import FoldConstantsWithNumpy

logger = logging.getLogger(__name__)

__all__ = ["InferenceSpecializer", "folds_within_functions", "inference_specializer", "simplify_for_inference"]


def _after_batch_norm_folded(entry_functions: list[str] | None = None) -> list[tvm.transform.Pass]:
    """What :func:`simplify_for_inference` does once batch norm is folded into convolutions."""
    return [
        relax.transform.DecomposeOpsForInference(),
        FoldConstantsWithNumpy(),
        relax.transform.CanonicalizeBindings(),
        relax.transform.DeadCodeElimination(entry_functions),
    ]


def simplify_for_inference(mod: tvm.IRModule) -> tvm.IRModule:
    """Fold batch norm into convolutions and decompose what is left, for inference.

    ``FoldBatchnormToConv2D`` rewrites ``conv2d → batch_norm`` into a convolution with scaled
    weights plus a bias add; ``DecomposeOpsForInference`` turns any other batch norm into
    elementwise arithmetic; :class:`~tvm_nacos.tuning.fold.FoldConstantsWithNumpy` evaluates the
    new weight expressions (what ``FoldConstant`` gives, without building a kernel per constant:
    0.2 s instead of 10–40 s per NAS-Bench-201 architecture). ``FoldConstant`` is not run after
    it: on NAS-Bench-201, ResNet and MobileNetV2 it found nothing left and cost up to 0.9 s.
    """
    return tvm.transform.Sequential(
        [relax.transform.FoldBatchnormToConv2D(), *_after_batch_norm_folded()], name="NacosSimplifyForInference"
    )(mod)


#: What is left to do per architecture once the supernet is folded: the constants that meet
#: across choice points.
_FOLD_ACROSS_CHOICES = tvm.transform.Sequential(
    [FoldConstantsWithNumpy(), relax.transform.CanonicalizeBindings(), relax.transform.DeadCodeElimination()],
    name="NacosFoldAcrossChoices",
)

#: What folding batch norm does besides: common subexpressions merged.
_MERGE_COMMON = tvm.transform.Sequential(
    [relax.transform.EliminateCommonSubexpr(), relax.transform.CanonicalizeBindings(), relax.transform.DeadCodeElimination()],
    name="NacosMergeCommon",
)

_BATCH_NORM = "relax.nn.batch_norm"


def _bindings(func: relax.Function) -> dict[Any, Any] | None:
    """Every variable bound in ``func``'s body and its value; ``None`` for bodies this does not read."""
    body = func.body
    if not isinstance(body, relax.SeqExpr):
        return None
    bound = {}
    for block in body.blocks:
        for binding in block.bindings:
            if not isinstance(binding, relax.VarBinding):
                return None
            bound[binding.var] = binding.value
    return bound


def _local(arg: Any, bound: dict[Any, Any]) -> bool:
    """Whether ``arg`` is known inside its function: a constant, or a variable bound there to one
    or to an operator call (not a parameter, not another function's result)."""
    if isinstance(arg, GenericConst):
        return True
    if not isinstance(arg, relax.Var) or arg not in bound:
        return False
    value = bound[arg]
    return isinstance(value, GenericConst) or (isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.Op))


def folds_within_functions(mod: tvm.IRModule) -> bool:
    """Whether every batch norm of ``mod`` folds (or does not) the same way inside its own
    function as in any architecture: its input and statistics are known there (a convolution's
    weight too, where the input is a convolution), and the function does not return it."""
    for func in mod.functions.values():
        if not isinstance(func, relax.Function):
            continue
        bound = _bindings(func)
        if bound is None:
            return False
        result = func.body.body
        returned = set(result.fields) if isinstance(result, relax.Tuple) else {result}
        for var, value in bound.items():
            if not (isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.Op) and value.op.name == _BATCH_NORM):
                continue
            if var in returned or not all(_local(arg, bound) for arg in value.args):
                return False
            data = bound[value.args[0]] if isinstance(value.args[0], relax.Var) else None
            if isinstance(data, relax.Call) and isinstance(data.op, tvm.ir.Op) and data.op.name == "relax.nn.conv2d":
                if not all(_local(arg, bound) for arg in data.args[1:]):
                    return False
    return True


class InferenceSpecializer:
    """``simplify_for_inference(SpecializeArch(sample)(mod))`` for many architectures of ``mod``,
    its options folded once (see the module's docstring).

    ``FoldBatchnormToConv2D`` also merges common subexpressions of every function in which it
    folds something (two options reading ``relu(x)`` then share one): an architecture that runs
    a function folded in the supernet gets that merge too, as the per-architecture path gives it.

    Parameters
    ----------
    mod : tvm.IRModule
        A module with choice points.
    """

    def __init__(self, mod: tvm.IRModule) -> None:
        self.mod = mod
        self.folded: tvm.IRModule | None = None
        self._counter = ArchitectureCounter(mod, lambda _: 0, per_call=False)
        if len(self._counter.entries) != 1 or not folds_within_functions(mod):
            logger.info("batch norm folded per architecture (a choice point between a convolution and its batch norm, "
                        "or several public functions)")
            #: The choice points of the module each architecture is specialized from (found once).
            self._points = find_choice_points(mod)
            return
        functions = [gv.name_hint for gv, func in mod.functions_items() if isinstance(func, relax.Function)]
        bn_folded = relax.transform.FoldBatchnormToConv2D()(mod)
        #: Functions in which batch norm folds: an architecture running one has its common subexpressions merged.
        self._folds_in = {
            gv.name_hint for gv, func in mod.functions_items()
            if isinstance(func, relax.Function) and not structural_equal(func, bn_folded[gv.name_hint])
        }
        self.folded = tvm.transform.Sequential(
            _after_batch_norm_folded(functions), name="NacosSimplifyForInference"
        )(bn_folded)
        self._points = find_choice_points(self.folded)

    def __call__(self, sample: ArchSample | Mapping[str, str]) -> tvm.IRModule:
        if self.folded is None:
            return simplify_for_inference(SpecializeArch(sample, choice_points=self._points)(self.mod))
        specialized = _FOLD_ACROSS_CHOICES(SpecializeArch(sample, choice_points=self._points)(self.folded))
        if self._folds_in & self._counter.reached(dict(sample)):
            specialized = _MERGE_COMMON(specialized)
        return specialized


@functools.lru_cache(maxsize=4)
def inference_specializer(mod: tvm.IRModule) -> InferenceSpecializer:
    """The :class:`InferenceSpecializer` of ``mod`` (made once per module)."""
    return InferenceSpecializer(mod)
