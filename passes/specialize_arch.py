"""SpecializeArch: materialize one architecture of a module with choice points."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import tvm
from tvm import relax

from tvm_nacos.analysis import space_of_choice_points
from tvm_nacos.errors import ChoicePointError
from tvm_nacos.ir.choice import ChoicePoint, find_choice_points, is_choice_function
from tvm_nacos.ir.splice import splice_calls
from tvm_nacos.search_space import ArchSample


def _stub_calling(stub: relax.Function, option: tvm.ir.GlobalVar) -> relax.Function:
    """A copy of ``stub`` whose body calls ``option``."""
    params = [relax.Var(p.name, p.ty) for p in stub.params]
    bb = relax.BlockBuilder()
    with bb.function("stub", params, private=True):
        out = bb.emit(relax.Call(option, params))
        bb.emit_func_output(out)
    return bb.get()["stub"]


def _called(func: relax.Function) -> set[str]:
    """Names of the global functions that ``func``'s body calls."""
    names: set[str] = set()

    def visit(expr: relax.Expr) -> None:
        if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.GlobalVar):
            names.add(expr.op.name_hint)

    relax.analysis.post_order_visit(func.body, visit)
    return names


def _calls_any(func: relax.Function, names: set[str]) -> bool:
    return bool(_called(func) & names)


@tvm.transform.module_pass(opt_level=0, name="SpecializeArch")
class SpecializeArch:
    """Keep the selected option of every choice point and drop the others.

    The selected option is inlined where its choice point was called (its bindings spliced into
    the caller with the types they have, where the call's arguments have its parameters' types;
    otherwise by ``relax.Function.inline_functions``); the stubs, all option
    functions and every binding that only they used are removed, and trivial bindings are
    canonicalized. The result has no choice point and compiles with the standard Relax
    pipeline. The input module is not modified.

    Parameters
    ----------
    sample : ArchSample or Mapping[str, str]
        One option per active choice label; it must belong to ``search_space(mod)``. Labels of
        choice points nested in unselected options may be left out.
    choice_points : Sequence[ChoicePoint], optional
        ``find_choice_points`` of the module the pass will run on, when the caller has them
        (finding them is a walk of every function: most of the pass's time on a large supernet
        specialized again and again). They must come from that very module.

    Raises
    ------
    tvm_nacos.errors.InvalidSampleError
        A label or option the module does not have (the message lists the valid ones), or a
        missing label.
    tvm_nacos.errors.ChoicePointError
        ``choice_points`` that are not the module's: a choice function is still called after
        the selected options are inlined.

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

    def __init__(
        self, sample: ArchSample | Mapping[str, str], *, choice_points: Sequence[ChoicePoint] | None = None
    ) -> None:
        self.sample = sample if isinstance(sample, ArchSample) else ArchSample(sample)
        self.choice_points = None if choice_points is None else tuple(choice_points)

    def transform_module(self, mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        points = find_choice_points(mod) if self.choice_points is None else self.choice_points
        space = space_of_choice_points(points)
        space.validate(self.sample)
        active = set(space.active_labels(self.sample))

        # A call to the stub of an active choice point becomes its selected option, inlined
        # (stub and options share a signature); a stub of an inactive one is only called from
        # options that are not selected, which are dropped.
        selected = {cp.stub: mod[cp.option_func(self.sample[cp.label])] for cp in points if cp.label in active}
        choice_names = _ChoiceNames(mod)

        functions = {}
        for gv, func in mod.functions_items():
            if is_choice_function(func):
                continue
            if isinstance(func, relax.Function):
                func = _inline(gv.name_hint, func, selected, choice_names)
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


class _ChoiceNames:
    """Which functions of ``mod`` are choice functions (stubs and options), asked by name."""

    def __init__(self, mod: tvm.IRModule) -> None:
        self.mod = mod
        self._known: dict[str, bool] = {}

    def __call__(self, names: set[str]) -> set[str]:
        """The choice functions among ``names``."""
        for name in names - self._known.keys():
            self._known[name] = is_choice_function(self.mod[name])
        return {name for name in names if self._known[name]}


def _inline(
    name: str, func: relax.Function, inline_map: Mapping[tvm.ir.GlobalVar, relax.Function], choice_names: _ChoiceNames
) -> relax.Function:
    """``func`` with every call to a function of ``inline_map`` inlined, level after level
    (stub → option → nested stub ...), until it calls no choice function.

    The options are spliced in with the types they have (:func:`~tvm_nacos.ir.splice.splice_calls`,
    4-5x faster on the convolutional built-in spaces); where that declines, ``inline_functions`` inlines them."""
    spliced = splice_calls(func, inline_map)
    if spliced is not None and not choice_names(_called(spliced)):
        return spliced
    inlined = {gv.name_hint for gv in inline_map}
    for _ in range(len(inline_map) + 1):
        called = _called(func)
        calls = called & inlined or choice_names(called)
        if not calls:
            return func
        if not calls & inlined:
            break
        func = func.inline_functions(inline_map)
    raise ChoicePointError(
        f"SpecializeArch: {name!r} still calls the choice functions {sorted(calls)} after specialization; the "
        "choice points given to the pass (choice_points) are not those of the module it runs on"
    )
