"""CheckChoicePoints: verify that every choice point of a module is well formed."""

from __future__ import annotations

import tvm
from tvm import relax

from tvm_nacos.errors import ChoicePointError
from tvm_nacos.ir.builder import check_option_signatures
from tvm_nacos.ir.choice import ATTR_OPTION, ATTR_OPTION_OF, find_choice_points


@tvm.transform.module_pass(opt_level=0, name="CheckChoicePoints")
class CheckChoicePoints:
    """Raise :class:`~tvm_nacos.errors.ChoicePointError` on a malformed choice point.

    The module is returned unchanged. Checked, for every choice point reachable from a public
    function:

    - its label is unique and it has at least two options with distinct names;
    - every option names a function that exists and is tagged as an option of that label;
    - every option takes the same inputs as the stub and returns the same shape and dtype.

    The error names the label and, where one is at fault, the option.

    Examples
    --------
    .. code-block:: python

        seq = tvm.transform.Sequential([CheckChoicePoints(), SpecializeArch(sample)])
        specialized = seq(supernet)
    """

    def transform_module(self, mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        for cp in find_choice_points(mod):
            stub = mod[cp.stub]
            options: dict[str, relax.Function] = {}
            for option, gv in zip(cp.options, cp.option_funcs, strict=True):
                func = mod[gv]
                if not isinstance(func, relax.Function):
                    raise ChoicePointError(
                        f"choice point {cp.label!r}: option {option!r} ({gv.name_hint}) is not a Relax function",
                        label=cp.label,
                        option=option,
                    )
                attrs = func.attrs
                tagged = (
                    attrs is not None
                    and str(attrs.get(ATTR_OPTION_OF, "")) == cp.label
                    and str(attrs.get(ATTR_OPTION, "")) == option
                )
                if not tagged:
                    raise ChoicePointError(
                        f"choice point {cp.label!r}: function {gv.name_hint!r} is listed as option "
                        f"{option!r} but is not tagged {{{ATTR_OPTION_OF!r}: {cp.label!r}, "
                        f"{ATTR_OPTION!r}: {option!r}}}",
                        label=cp.label,
                        option=option,
                    )
                options[option] = func
            check_option_signatures(cp.label, options)
            check_option_signatures(cp.label, {cp.default: options[cp.default], f"stub {cp.stub.name_hint}": stub})
        return mod
