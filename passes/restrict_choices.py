"""RestrictChoices: keep some options of some choice points, a subspace of the module's space."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import tvm
from tvm import relax

from tvm_nacos.errors import InvalidSampleError
from tvm_nacos.ir.choice import (
    ATTR_DEFAULT,
    ATTR_OPTION_FUNCS,
    ATTR_OPTIONS,
    ChoicePoint,
    called_global_vars,
    find_choice_points,
)
from tvm_nacos.passes.specialize_arch import _calls_any, _stub_calling


def _reachable(mod: tvm.IRModule) -> set[str]:
    """Names of the functions that public functions reach, through calls and, from a stub,
    through the option functions its attributes name."""
    functions = {gv.name_hint: func for gv, func in mod.functions_items()}

    def successors(func: tvm.ir.BaseFunc) -> list[str]:
        if not isinstance(func, relax.Function):
            return []
        names = [gv.name_hint for gv in called_global_vars(func)]
        if func.attrs is not None and ATTR_OPTION_FUNCS in func.attrs:
            names += [str(name) for name in func.attrs[ATTR_OPTION_FUNCS]]
        return names

    todo = [
        name for name, func in functions.items()
        if not isinstance(func, relax.Function) or func.attrs is None or "global_symbol" in func.attrs
    ]
    seen = set(todo)
    while todo:
        for name in successors(functions[todo.pop()]):
            if name in functions and name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


@tvm.transform.module_pass(opt_level=0, name="RestrictChoices")
class RestrictChoices:
    """Keep only the given options of the given choice points.

    The result is a module with choice points whose space is a subspace of the input's: a
    choice restricted to two or more options stays a choice point with those options (its
    default moves to the first kept option if the old one is dropped); a choice restricted to
    one option is fixed, its option inlined at every site as :class:`SpecializeArch` would, so
    it leaves the space. Choices not named are untouched. Use it to search, tune or enumerate a
    small part of a large space (for example an exhaustive reference on a few hundred
    NAS-Bench-201 cells).

    Parameters
    ----------
    options : Mapping[str, Sequence[str]]
        Label → the options to keep, each one of that choice's options.

    Raises
    ------
    tvm_nacos.errors.InvalidSampleError
        An unknown label or option (the message lists the valid ones), or no option kept.

    Examples
    --------
    .. code-block:: python

        sub = RestrictChoices({"edge0": ["nor_conv_3x3", "skip_connect"], "edge1": ["none"]})(mod)
        search_space(sub)  # edge0 has 2 options, edge1 is gone, the other edges are untouched
    """

    def __init__(self, options: Mapping[str, Sequence[str]]) -> None:
        if not isinstance(options, Mapping):
            raise TypeError(f"RestrictChoices takes a mapping label -> options, got {type(options).__name__}")
        self.options = {str(label): [str(o) for o in kept] for label, kept in options.items()}

    def _check(self, points: Sequence[ChoicePoint]) -> None:
        known = {cp.label: cp.options for cp in points}
        for label, kept in self.options.items():
            if label not in known:
                raise InvalidSampleError(f"RestrictChoices: the module has no choice {label!r}; valid: {sorted(known)}")
            if not kept:
                raise InvalidSampleError(
                    f"RestrictChoices: choice {label!r} would keep no option; valid: {list(known[label])}"
                )
            unknown = [o for o in kept if o not in known[label]]
            if unknown:
                raise InvalidSampleError(
                    f"RestrictChoices: choice {label!r} has no option {unknown[0]!r}; valid: {list(known[label])}"
                )

    def transform_module(self, mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        points = find_choice_points(mod)
        self._check(points)
        replaced: dict[str, relax.Function] = {}  # restricted stubs, by name
        dropped: set[str] = set()
        inline_map: dict[tvm.ir.GlobalVar, relax.Function] = {}  # fixed stubs and their option
        for cp in points:
            if cp.label not in self.options:
                continue
            kept = [o for o in cp.options if o in self.options[cp.label]]
            dropped.update(cp.option_func(o).name_hint for o in cp.options if o not in kept)
            if len(kept) == 1:
                inline_map[cp.stub] = _stub_calling(mod[cp.stub], cp.option_func(kept[0]))
                inline_map[cp.option_func(kept[0])] = mod[cp.option_func(kept[0])]
                dropped.update({cp.stub.name_hint, cp.option_func(kept[0]).name_hint})
                continue
            default = cp.default if cp.default in kept else kept[0]
            stub = _stub_calling(mod[cp.stub], cp.option_func(default))
            attrs = {str(k): v for k, v in mod[cp.stub].attrs.items()}
            attrs[ATTR_OPTIONS] = kept
            attrs[ATTR_OPTION_FUNCS] = [cp.option_func(o).name_hint for o in kept]
            attrs[ATTR_DEFAULT] = default
            replaced[cp.stub.name_hint] = stub.with_attrs(attrs)

        fixed_names = {gv.name_hint for gv in inline_map}
        functions = {}
        for gv, func in mod.functions_items():
            if gv.name_hint in dropped:
                continue
            func = replaced.get(gv.name_hint, func)
            if isinstance(func, relax.Function):
                for _ in range(2 * len(inline_map) + 1):  # one level of fixed stub per round
                    if not _calls_any(func, fixed_names):
                        break
                    func = func.inline_functions(inline_map)
            functions[gv] = func
        restricted = tvm.IRModule(functions, attrs=mod.attrs, global_infos=mod.global_infos)
        # Choice points that lived only inside dropped options are gone with them.
        reachable = _reachable(restricted)
        restricted = tvm.IRModule(
            {gv: f for gv, f in restricted.functions_items() if gv.name_hint in reachable},
            attrs=mod.attrs, global_infos=mod.global_infos,
        )
        return relax.transform.CanonicalizeBindings()(restricted)
