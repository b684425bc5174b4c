"""How a choice point is represented in Relax IR, and how to find the choice points of a module.

Representation
--------------
A *choice point* is a private Relax function, the **stub**, whose attributes name a stable label
and its options, and whose body calls the default option. Every **option** is a private Relax
function with the same parameters as the stub and the same return type; its weights are Relax
constants, so the option is a self-contained subgraph. The network calls the stub where the
choice is made:

.. code-block:: python

    @I.ir_module
    class Supernet:
        @R.function(private=True)
        def choice__block_op__conv3x3(x: R.Tensor((1, 8, 16, 16), "float32")) -> R.Tensor((1, 8, 16, 16), "float32"):
            R.func_attr({"nacos.option_of": "block.op", "nacos.option": "conv3x3"})
            with R.dataflow():
                lv = R.nn.conv2d(x, metadata["ir.GenericConst"][0], padding=[1, 1, 1, 1])
                R.output(lv)
            return lv

        @R.function(private=True)
        def choice__block_op__identity(x: R.Tensor((1, 8, 16, 16), "float32")) -> R.Tensor((1, 8, 16, 16), "float32"):
            R.func_attr({"nacos.option_of": "block.op", "nacos.option": "identity"})
            return x

        @R.function(private=True)
        def choice__block_op(x: R.Tensor((1, 8, 16, 16), "float32")) -> R.Tensor((1, 8, 16, 16), "float32"):
            R.func_attr({"nacos.choice": "block.op", "nacos.default": "conv3x3",
                         "nacos.options": ["conv3x3", "identity"],
                         "nacos.option_funcs": ["choice__block_op__conv3x3", "choice__block_op__identity"]})
            gv = Supernet.choice__block_op__conv3x3(x)
            return gv

        @R.function
        def main(x: R.Tensor((1, 8, 16, 16), "float32")) -> R.Tensor((1, 8, 16, 16), "float32"):
            with R.dataflow():
                lv = Supernet.choice__block_op(x)
                lv1 = R.nn.relu(lv)
                R.output(lv1)
            return lv1

Why this form: it survives a TVMScript print → parse (``show_meta=True``) and
``tvm.ir.save_json``/``load_json`` structurally equal; the unspecialized supernet still compiles
and runs (the default option), because the stub is an ordinary function; and options are
referenced by name from the stub's attributes, so nothing is lost before
:class:`tvm_nacos.passes.SpecializeArch` runs. Specialize before any standard pass: ``FuseTIR``
and ``DeadCodeElimination`` drop functions that nothing calls, which includes every option but
the default.

One decision may apply at several places: stubs that share a label but carry distinct
``nacos.site`` attributes are *sites* of one choice (for example the operation on edge 0 of a
NAS-Bench-201 cell, which every cell of the network repeats at its own width). They must list
the same option names; the search space has one choice for the label, and specialization picks
the same option at every site. Two stubs with the same label and the same site (or none) are a
duplicate-label error.

Conditional choices are nested choice points: a stub called inside an option of another choice
point matters only when that option is selected (for example the kernel of a block that may be
skipped). Its :attr:`ChoicePoint.condition` names the parent label and options.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import tvm
from tvm import relax

from tvm_nacos.errors import ChoicePointError

#: Stub attribute: the stable label of the choice point.
ATTR_CHOICE = "nacos.choice"
#: Stub attribute: option names, in order.
ATTR_OPTIONS = "nacos.options"
#: Stub attribute: names of the option functions, in the order of ``ATTR_OPTIONS``.
ATTR_OPTION_FUNCS = "nacos.option_funcs"
#: Stub attribute: the option the stub calls when the module runs unspecialized.
ATTR_DEFAULT = "nacos.default"
#: Stub attribute (optional): the site, for stubs that share a label.
ATTR_SITE = "nacos.site"
#: Option attribute: label of the choice point the option belongs to.
ATTR_OPTION_OF = "nacos.option_of"
#: Option attribute: the option's name.
ATTR_OPTION = "nacos.option"


@dataclass(frozen=True, eq=False)
class ChoicePoint:
    """One choice point of a module, as found by :func:`find_choice_points`.

    Attributes
    ----------
    label : str
        Stable label, unique in the module.
    stub : tvm.ir.GlobalVar
        The stub function that the network calls.
    options : tuple of str
        Option names, in order.
    option_funcs : tuple of tvm.ir.GlobalVar
        The option functions, in the order of ``options``.
    default : str
        The option the stub calls.
    condition : tuple of (str, tuple of str), optional
        ``(parent_label, parent_options)`` when the choice point only exists inside those options
        of another choice point; ``None`` when it is always active.
    site : str, optional
        The site, when several stubs share the label.
    """

    label: str
    stub: tvm.ir.GlobalVar
    options: tuple[str, ...]
    option_funcs: tuple[tvm.ir.GlobalVar, ...]
    default: str
    condition: tuple[str, tuple[str, ...]] | None = None
    site: str | None = None

    def option_func(self, option: str) -> tvm.ir.GlobalVar:
        """The function of ``option``."""
        return self.option_funcs[self.options.index(option)]


def function_name(label: str, option: str | None = None, *, site: str | None = None) -> str:
    """A TVMScript-safe function name for a stub (or one of its options).

    Labels such as ``"stage2.block1.kernel"`` become ``choice__stage2_block1_kernel``; a site
    adds ``__at_<site>``.
    """
    parts = ["choice", label] if option is None else ["choice", label, option]
    if site is not None:
        parts.append(f"at_{site}")
    return "__".join(re.sub(r"\W", "_", part) for part in parts)


def is_choice_function(func: tvm.ir.BaseFunc) -> bool:
    """Whether ``func`` is the stub or an option of a choice point."""
    attrs = func.attrs
    return attrs is not None and (ATTR_CHOICE in attrs or ATTR_OPTION_OF in attrs)


def called_global_vars(func: relax.Function) -> list[tvm.ir.GlobalVar]:
    """GlobalVars called by ``func``, in the order of their first call."""
    called: dict[str, tvm.ir.GlobalVar] = {}

    def visit(expr: relax.Expr) -> None:
        if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.GlobalVar):
            called.setdefault(expr.op.name_hint, expr.op)

    relax.analysis.post_order_visit(func.body, visit)
    return list(called.values())


def _stub_info(mod: tvm.IRModule, stub: tvm.ir.GlobalVar, defined: set[str]) -> ChoicePoint:
    """The choice point declared by ``stub``; ``defined``: the names of ``mod``'s functions."""
    attrs = mod[stub].attrs
    label = str(attrs[ATTR_CHOICE])
    options = tuple(str(o) for o in attrs[ATTR_OPTIONS]) if ATTR_OPTIONS in attrs else ()
    func_names = tuple(str(f) for f in attrs[ATTR_OPTION_FUNCS]) if ATTR_OPTION_FUNCS in attrs else ()
    if len(options) < 2:
        raise ChoicePointError(
            f"choice point {label!r} has {len(options)} option(s) {list(options)}; "
            "a choice point needs at least two",
            label=label,
        )
    duplicates = sorted({o for o in options if options.count(o) > 1})
    if duplicates:
        raise ChoicePointError(
            f"choice point {label!r} repeats option name(s) {duplicates}; options: {list(options)}",
            label=label,
            option=duplicates[0],
        )
    if len(func_names) != len(options):
        raise ChoicePointError(
            f"choice point {label!r} lists {len(options)} options {list(options)} "
            f"but {len(func_names)} option functions {list(func_names)}",
            label=label,
        )
    option_funcs = []
    for option, name in zip(options, func_names, strict=True):
        if name not in defined:
            raise ChoicePointError(
                f"choice point {label!r}: option {option!r} names function {name!r}, "
                "which the module does not define",
                label=label,
                option=option,
            )
        option_funcs.append(mod.get_global_var(name))
    site = str(attrs[ATTR_SITE]) if ATTR_SITE in attrs else None
    default = str(attrs[ATTR_DEFAULT]) if ATTR_DEFAULT in attrs else options[0]
    if default not in options:
        raise ChoicePointError(
            f"choice point {label!r}: default {default!r} is not one of its options {list(options)}",
            label=label,
            option=default,
        )
    return ChoicePoint(label, stub, options, tuple(option_funcs), default, site=site)


def _entry_functions(mod: tvm.IRModule) -> list[tvm.ir.GlobalVar]:
    """Public Relax functions, ``main`` first, then by name: the roots of the traversal."""
    entries = [
        gv
        for gv, func in mod.functions_items()
        if isinstance(func, relax.Function) and func.attrs is not None and "global_symbol" in func.attrs
    ]
    return sorted(entries, key=lambda gv: (gv.name_hint != "main", gv.name_hint))


def find_choice_points(mod: tvm.IRModule) -> list[ChoicePoint]:
    """Find the choice points reachable from the module's public functions.

    Parameters
    ----------
    mod : tvm.IRModule
        A module with choice points in the representation of this module's docstring.

    Returns
    -------
    list of ChoicePoint
        In the order in which a depth-first walk of the call graph, from ``main``, meets them:
        a parent always comes before the choice points nested in its options. Choice points
        that nothing reachable calls are not listed.

    Raises
    ------
    ChoicePointError
        Duplicate labels, fewer than two options, an option that names a missing function, or a
        choice point nested inside the options of two different choice points.
    """
    stubs: dict[str, ChoicePoint] = {}
    sites_seen: dict[tuple[str, str | None], str] = {}
    first_of_label: dict[str, ChoicePoint] = {}
    functions = list(mod.functions_items())
    defined = {gv.name_hint for gv, _ in functions}
    for gv, func in functions:
        if isinstance(func, relax.Function) and func.attrs is not None and ATTR_CHOICE in func.attrs:
            info = _stub_info(mod, gv, defined)
            key = (info.label, info.site)
            if key in sites_seen:
                where = "" if info.site is None else f" at site {info.site!r}"
                raise ChoicePointError(
                    f"duplicate choice label {info.label!r}{where}: functions {sites_seen[key]!r} "
                    f"and {gv.name_hint!r} both declare it; labels must be unique (stubs that "
                    f"share a decision need distinct {ATTR_SITE!r} attributes)",
                    label=info.label,
                )
            sites_seen[key] = gv.name_hint
            first = first_of_label.setdefault(info.label, info)
            if first.options != info.options or first.default != info.default:
                raise ChoicePointError(
                    f"choice {info.label!r}: site {info.site!r} has options {list(info.options)} "
                    f"(default {info.default!r}) but site {first.site!r} has {list(first.options)} "
                    f"(default {first.default!r}); sites of one choice must agree",
                    label=info.label,
                )
            stubs[gv.name_hint] = info

    order: list[str] = []
    contexts: dict[str, set[tuple[str, str] | None]] = {}
    visited: set[tuple[str, tuple[str, str] | None]] = set()

    def walk(gv: tvm.ir.GlobalVar, context: tuple[str, str] | None) -> None:
        if (gv.name_hint, context) in visited:
            return
        visited.add((gv.name_hint, context))
        func = mod[gv]
        if not isinstance(func, relax.Function):
            return
        for callee in called_global_vars(func):
            if callee.name_hint in stubs:
                info = stubs[callee.name_hint]
                if context is not None and context[0] == info.label:
                    raise ChoicePointError(
                        f"choice point {info.label!r} calls itself from its option {context[1]!r}",
                        label=info.label,
                        option=context[1],
                    )
                if callee.name_hint not in order:
                    order.append(callee.name_hint)
                contexts.setdefault(info.label, set()).add(context)
                for option, option_gv in zip(info.options, info.option_funcs, strict=True):
                    walk(option_gv, (info.label, option))
            else:
                walk(callee, context)

    for entry in _entry_functions(mod):
        walk(entry, None)

    result = []
    for name in order:
        info = stubs[name]
        ctx = contexts[info.label]
        if None in ctx:
            condition = None
        else:
            parents = sorted({parent for parent, _ in ctx})
            if len(parents) > 1:
                raise ChoicePointError(
                    f"choice point {info.label!r} is nested inside options of several choice "
                    f"points {parents}; a choice point may depend on one parent only",
                    label=info.label,
                )
            parent = first_of_label[parents[0]]
            condition = (parent.label, tuple(o for o in parent.options if (parent.label, o) in ctx))
        result.append(
            ChoicePoint(info.label, info.stub, info.options, info.option_funcs, info.default, condition, info.site)
        )
    return result
