"""SpecializeArch: materialize one architecture of a module with choice points."""

from __future__ import annotations

from collections.abc import Mapping

import tvm
from tvm import relax

from tvm_nacos.analysis import space_of_choice_points
from tvm_nacos.ir.choice import find_choice_points, is_choice_function
from tvm_nacos.search_space import ArchSample


def _stub_calling(stub: relax.Function, option: tvm.ir.GlobalVar) -> relax.Function:
    """A copy of ``stub`` whose body calls ``option``."""
    params = [relax.Var(p.name, p.ty) for p in stub.params]
    bb = relax.BlockBuilder()
    with bb.function("stub", params, private=True):
        out = bb.emit(relax.Call(option, params))
        bb.emit_func_output(out)
    return bb.get()["stub"]


def _calls_any(func: relax.Function, names: set[str]) -> bool:
    found = False

    def visit(expr: relax.Expr) -> None:
        nonlocal found
        if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.GlobalVar):
            found = found or expr.op.name_hint in names

    relax.analysis.post_order_visit(func.body, visit)
    return found


@tvm.transform.module_pass(opt_level=0, name="SpecializeArch")
class SpecializeArch:
    """Keep the selected option of every choice point and drop the others.

    The selected option is inlined where its choice point was called; the stubs, all option
    functions and every binding that only they used are removed, and trivial bindings are
    canonicalized. The result has no choice point and compiles with the standard Relax
    pipeline. The input module is not modified.

    Parameters
    ----------
    sample : ArchSample or Mapping[str, str]
        One option per active choice label; it must belong to ``search_space(mod)``. Labels of
        choice points nested in unselected options may be left out.

    Raises
    ------
    tvm_nacos.errors.InvalidSampleError
        A label or option the module does not have (the message lists the valid ones), or a
        missing label.

    Examples
    --------
    Before, a choice point ``block.op`` with options ``conv3x3`` and ``identity`` (see
    :mod:`tvm_nacos.ir.choice` for the full module):

    .. code-block:: python

        @R.function
        def main(x: R.Tensor((1, 8, 16, 16), "float32")) -> R.Tensor((1, 8, 16, 16), "float32"):
            with R.dataflow():
                lv = Supernet.choice__block_op(x)
                lv1 = R.nn.relu(lv)
                R.output(lv1)
            return lv1

    After ``SpecializeArch({"block.op": "conv3x3"})``, the module holds only ``main``:

    .. code-block:: python

        @R.function
        def main(x: R.Tensor((1, 8, 16, 16), "float32")) -> R.Tensor((1, 8, 16, 16), "float32"):
            with R.dataflow():
                lv = R.nn.conv2d(x, metadata["ir.GenericConst"][0], padding=[1, 1, 1, 1])
                lv1 = R.nn.relu(lv)
                R.output(lv1)
            return lv1
    """

    def __init__(self, sample: ArchSample | Mapping[str, str]) -> None:
        self.sample = sample if isinstance(sample, ArchSample) else ArchSample(sample)

    def transform_module(self, mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        points = find_choice_points(mod)  # walked once: it is most of this pass's time on big supernets
        space = space_of_choice_points(points)
        space.validate(self.sample)
        active = set(space.active_labels(self.sample))

        # Stubs of the reachable choice points call the selected option (inactive ones keep
        # their default: they live inside dropped options and disappear with them).
        inline_map: dict[tvm.ir.GlobalVar, relax.Function] = {}
        for cp in points:
            option = self.sample[cp.label] if cp.label in active else cp.default
            inline_map[cp.stub] = _stub_calling(mod[cp.stub], cp.option_func(option))
            for gv in cp.option_funcs:
                inline_map[gv] = mod[gv]
        choice_names = {gv.name_hint for gv in inline_map}

        functions = {}
        for gv, func in mod.functions_items():
            if is_choice_function(func):
                continue
            if isinstance(func, relax.Function):
                # Each round inlines one level of stub → option → nested stub ...
                for _ in range(2 * len(inline_map) + 1):
                    if not _calls_any(func, choice_names):
                        break
                    func = func.inline_functions(inline_map)
            functions[gv] = func

        specialized = tvm.IRModule(functions, attrs=mod.attrs, global_infos=mod.global_infos)
        return tvm.transform.Sequential(
            [
                relax.transform.DeadCodeElimination(),
                relax.transform.CanonicalizeBindings(),
                relax.transform.DeadCodeElimination(),
            ],
            name="SpecializeArchCleanup",
        )(specialized)
