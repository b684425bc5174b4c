"""Build choice points with a Relax :class:`~tvm.relax.BlockBuilder`.

.. code-block:: python

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 8, 16, 16), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = emit_choice(bb, "block.op", {"conv3x3": conv3x3_func, "identity": identity_func}, [x])
            out = bb.emit_output(relax.op.nn.relu(y))
        bb.emit_func_output(out)
    supernet = bb.get()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import tvm
from tvm import relax

from tvm_nacos._compat import structural_equal
from tvm_nacos.errors import ChoicePointError
from tvm_nacos.ir.choice import (
    ATTR_CHOICE,
    ATTR_DEFAULT,
    ATTR_OPTION,
    ATTR_OPTION_FUNCS,
    ATTR_OPTION_OF,
    ATTR_OPTIONS,
    ATTR_SITE,
    function_name,
)


def _same_type(a: tvm.ir.Type, b: tvm.ir.Type) -> bool:
    return bool(structural_equal(a, b, map_free_vars=True))


def check_option_signatures(label: str, options: Mapping[str, relax.Function]) -> None:
    """Raise :class:`ChoicePointError` unless all options take the same inputs and return the same type.

    Parameters
    ----------
    label : str
        The choice point's label, for the message.
    options : Mapping[str, relax.Function]
        Option name → option function.
    """
    if len(options) < 2:
        raise ChoicePointError(
            f"choice point {label!r} has {len(options)} option(s) {list(options)}; "
            "a choice point needs at least two",
            label=label,
        )
    (ref_name, ref), *others = options.items()
    for name, func in others:
        if len(func.params) != len(ref.params):
            raise ChoicePointError(
                f"choice point {label!r}: option {name!r} takes {len(func.params)} inputs, "
                f"option {ref_name!r} takes {len(ref.params)}",
                label=label,
                option=name,
            )
        for i, (p, q) in enumerate(zip(func.params, ref.params, strict=True)):
            if not _same_type(p.ty, q.ty):
                raise ChoicePointError(
                    f"choice point {label!r}: input {i} of option {name!r} is {p.ty}, "
                    f"of option {ref_name!r} {q.ty}",
                    label=label,
                    option=name,
                )
        if not _same_type(func.ret_ty, ref.ret_ty):
            raise ChoicePointError(
                f"choice point {label!r}: option {name!r} returns {func.ret_ty}, "
                f"option {ref_name!r} returns {ref.ret_ty}; every option must return the same "
                "shape and dtype",
                label=label,
                option=name,
            )


def add_choice_point(
    bb: relax.BlockBuilder,
    label: str,
    options: Mapping[str, relax.Function],
    *,
    default: str | None = None,
    site: str | None = None,
) -> tvm.ir.GlobalVar:
    """Add a choice point (its option functions and its stub) to the module of ``bb``.

    Parameters
    ----------
    bb : relax.BlockBuilder
        The builder whose module receives the functions; it may be inside a function.
    label : str
        Stable label, for example ``"stage2.block1.kernel"``.
    options : Mapping[str, relax.Function]
        Option name → Relax function. All options take the same inputs and return the same type.
        Public functions are made private.
    default : str, optional
        The option the stub calls when the module runs unspecialized; the first by default.
    site : str, optional
        Where this stub applies the decision ``label``, when several stubs share it (for
        example ``"stage2.cell3"``); sites of one label must have the same option names.

    Returns
    -------
    tvm.ir.GlobalVar
        The stub, to be called with the choice point's inputs.
    """
    check_option_signatures(label, options)
    names = list(options)
    default = names[0] if default is None else default
    if default not in options:
        raise ChoicePointError(
            f"choice point {label!r}: default {default!r} is not one of its options {names}",
            label=label,
            option=default,
        )
    option_gvs = {}
    for name, func in options.items():
        if func.attrs is not None and "global_symbol" in func.attrs:
            func = func.without_attr("global_symbol")
        func = func.with_attrs({ATTR_OPTION_OF: label, ATTR_OPTION: name})
        option_gvs[name] = bb.add_func(func, function_name(label, name, site=site))

    stub_name = function_name(label, site=site)
    ref = options[names[0]]
    params = [relax.Var(p.name, p.ty) for p in ref.params]
    stub_builder = relax.BlockBuilder()
    attrs = {
        ATTR_CHOICE: label,
        ATTR_OPTIONS: names,
        ATTR_OPTION_FUNCS: [option_gvs[n].name_hint for n in names],
        ATTR_DEFAULT: default,
    }
    if site is not None:
        attrs[ATTR_SITE] = site
    with stub_builder.function(stub_name, params, attrs=attrs, private=True):
        out = stub_builder.emit(relax.Call(option_gvs[default], params))
        stub_builder.emit_func_output(out)
    return bb.add_func(stub_builder.get()[stub_name], stub_name)


def emit_choice(
    bb: relax.BlockBuilder,
    label: str,
    options: Mapping[str, relax.Function],
    args: Sequence[relax.Expr],
    *,
    default: str | None = None,
    site: str | None = None,
    name_hint: str = "",
) -> relax.Var:
    """Add a choice point to ``bb``'s module and emit a call to it in the current block.

    Parameters are those of :func:`add_choice_point`, plus the call's ``args`` and the
    ``name_hint`` of the bound variable.

    Returns
    -------
    relax.Var
        The variable bound to the choice point's output.
    """
    stub = add_choice_point(bb, label, options, default=default, site=site)
    return bb.emit(relax.Call(stub, list(args)), name_hint=name_hint)
