"""Relax ``nn`` front end: a :class:`tvm.relax.frontend.nn.Module` that is a choice point.

.. code-block:: python

    from tvm.relax.frontend import nn
    from tvm_nacos.frontend.nn import Choice

    class Net(nn.Module):
        def __init__(self):
            self.op = Choice("op", {"k3": nn.Conv2D(8, 8, 3, padding=1),
                                    "k5": nn.Conv2D(8, 8, 5, padding=2)})
        def forward(self, x: nn.Tensor):
            return nn.relu(self.op(x))

    mod, named_params = Net().export_tvm(spec={"forward": {"x": nn.spec.Tensor([1, 8, 16, 16], "float32")}})

In ``relax.frontend.nn`` weights are function parameters, not constants. So that every option
takes the same inputs, each option function (and the stub) takes the choice's activations
followed by the weights of *all* options of that choice, in ``named_parameters`` order, and
ignores the weights of the others. The exported entry function keeps its full parameter list
after :class:`~tvm_nacos.passes.SpecializeArch`, so the same ``named_params`` feed every
architecture; the weights of unselected options are simply unused.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping

from tvm import relax
from tvm.relax.frontend import nn

from tvm_nacos.errors import ChoicePointError
from tvm_nacos.ir.builder import add_choice_point
from tvm_nacos.ir.choice import function_name

__all__ = ["Choice"]

# The builder that receives option and stub functions: the one of the outermost Choice, so
# that choice points nested in options land in the exported module too.
_ROOT_BUILDER: contextvars.ContextVar[relax.BlockBuilder | None] = contextvars.ContextVar(
    "tvm_nacos_nn_root_builder", default=None
)


class Choice(nn.Module):
    """A choice point among ``nn.Module`` options, for ``nn.Module.export_tvm``.

    Parameters
    ----------
    label : str
        Stable label, unique in the model.
    options : Mapping[str, tvm.relax.frontend.nn.Module]
        Option name → module; every option takes the same inputs and returns one tensor of the
        same shape and dtype.
    default : str, optional
        The option the unspecialized module runs; the first by default.
    site : str, optional
        Where this module applies the decision ``label``, when several share it.
    """

    def __init__(
        self,
        label: str,
        options: Mapping[str, nn.Module],
        *,
        default: str | None = None,
        site: str | None = None,
    ) -> None:
        if len(options) < 2:
            raise ChoicePointError(
                f"Choice {label!r} has {len(options)} option(s) {list(options)}; a choice point needs at least two",
                label=label,
            )
        self.label = label
        self.default = default
        self.site = site
        self.option_names = tuple(options)
        # A ModuleList, so that nn's parameter discovery (and export) sees the options' weights.
        self.options = nn.ModuleList(list(options.values()))

    def forward(self, *inputs: nn.Tensor) -> nn.Tensor:
        outer = relax.BlockBuilder.current()
        if outer is None:
            raise RuntimeError("tvm_nacos.frontend.nn.Choice only runs while nn.Module.export_tvm traces")
        root = _ROOT_BUILDER.get() or outer
        token = _ROOT_BUILDER.set(root)
        try:
            weights = list(self.named_parameters())
            options = {
                name: self._trace_option(name, module, inputs, weights)
                for name, module in zip(self.option_names, self.options, strict=True)
            }
            stub = add_choice_point(root, self.label, options, default=self.default, site=self.site)
        finally:
            _ROOT_BUILDER.reset(token)
        args = [t._expr for t in inputs] + [p._expr for _, p in weights]
        return nn.Tensor(_expr=outer.emit(relax.Call(stub, args), name_hint="choice"))

    def _trace_option(
        self,
        name: str,
        module: nn.Module,
        inputs: tuple[nn.Tensor, ...],
        weights: list[tuple[str, nn.Parameter]],
    ) -> relax.Function:
        """Trace one option into a private function of (activations, all options' weights)."""
        input_vars = [relax.Var(f"x{i}", t._expr.ty) for i, t in enumerate(inputs)]
        weight_vars = [relax.Var(wname.replace(".", "_"), p._expr.ty) for wname, p in weights]
        saved = [p._expr for _, p in weights]
        func_name = function_name(self.label, name, site=self.site)
        builder = relax.BlockBuilder()
        try:
            for (_, p), var in zip(weights, weight_vars, strict=True):
                p._expr = var
            with builder.function(func_name, input_vars + weight_vars, private=True):
                with builder.dataflow():
                    out = module(*[nn.Tensor(_expr=v) for v in input_vars])
                    if not isinstance(out, nn.Tensor):
                        raise ChoicePointError(
                            f"Choice {self.label!r}: option {name!r} returns {type(out).__name__}; "
                            "a choice must return one tensor",
                            label=self.label,
                            option=name,
                        )
                    result = builder.emit_output(out._expr)
                builder.emit_func_output(result)
        finally:
            for (_, p), expr in zip(weights, saved, strict=True):
                p._expr = expr
        return builder.get()[func_name]
