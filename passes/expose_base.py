"""ExposePass: the shared base of the NAS moves that turn subgraphs of any Relax module into choice points.

A *NAS move* finds matching subgraphs of a module (an imported model without choice points, or
one that already has some) and replaces each by a choice point (see :mod:`tvm_nacos.ir.choice`)
whose options are the unchanged subgraph, named ``"original"``, and one or more alternatives.
The module then spans a search space that still contains the input network: the sample that
picks ``"original"`` everywhere specializes back to it.

A move is one short subclass of :class:`ExposePass`:

.. code-block:: python

    @tvm.transform.module_pass(opt_level=0, name="ExposeActivation")
    class ExposeActivation(ExposePass):
        suffix = "act"                                    # labels are "<op name>.act", e.g. "relu3.act"

        def match(self, call, context):                   # which calls are candidates
            return call.op == tvm.ir.Op.get("relax.nn.relu")

        def options(self, call, context):                 # named alternatives (besides "original")
            return {"gelu": lambda bb, inputs: relax.op.nn.gelu(inputs[0]),
                    "silu": lambda bb, inputs: relax.op.nn.silu(inputs[0])}

The base does the rest, the same way for every move:

1. **Find matches.** Every binding ``var = op(...)`` in a dataflow block of every Relax
   function that is not a choice-point stub (``main``, other functions and, as
   ``inside_options`` says, the options of existing choice points) is offered to
   :meth:`ExposePass.match`, in binding order. Calls to functions are not offered.
2. **Restrict.** ``names`` (glob patterns over the op name or the label) and ``where`` (a predicate
   on the call and its :class:`MatchContext`) keep a subset of the matches.
3. **Cut a region.** :meth:`ExposePass.region` says which bindings the choice point replaces:
   by default the matched call alone; a move may take more (a conv and its consumers, a
   residual branch). A region has one output and its intermediate values are used only inside
   it. Regions of one pass never overlap: the first match in binding order wins.
4. **Build the choice point.** Each option is a private Relax function with the region's
   inputs as parameters and the region's output type; ``"original"`` is a copy of the region.
   :func:`tvm_nacos.ir.add_choice_point` adds the options and a stub (default ``"original"``),
   and the region is replaced by one call to the stub, bound to the region's output variable.

**Op names and labels.** A call's *op name* says where it is: the op's kind and its index
among the calls of that kind in its function, in binding order (``conv3`` is the fourth
``nn.conv2d``, ``add0`` the first ``add``). Kinds are ``conv`` (``nn.conv2d``), ``bn``
(``nn.batch_norm``) and otherwise the op's name without namespace (``relu``, ``add``, ``clip``).
The label is ``"<op name>.<suffix>"``, e.g. ``"conv3.kernel"``. Op names stay stable when
passes compose: every stub made by an expose pass records the names it swallowed (attribute
``"nacos.exposed_names"``), and numbering skips them, so ``conv4`` keeps its name after
``conv3`` moved into a choice point. Inside the option ``o`` of a choice point ``L``, op names
are prefixed with ``"L.o."`` (``"conv3.kernel.k5.conv0"``; ``"<site>.L.o."`` for a stub with a
``nacos.site``), so the same op exposed by two passes gets distinct labels: ``"conv3.kernel"``
and, inside each kernel option, ``"conv3.kernel.k5.conv0.groups"``.
Labels never depend on the order in which matches are found or on random state.

**Weights.** New weights are Relax constants. They are drawn from
:func:`option_rng` (seeded by the pass's ``seed``, the label and the option name), so they do
not depend on which other matches or passes ran, and :func:`he_normal` gives them the variance
of He initialization. The module is not modified; the pass returns a new one.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import tvm
from tvm import relax

from tvm_nacos._compat import GenericConst, TensorType, structural_equal, tirx
from tvm_nacos.errors import ChoicePointError, SearchSpaceError
from tvm_nacos.ir.builder import add_choice_point
from tvm_nacos.ir.choice import (
    ATTR_CHOICE,
    ATTR_OPTION,
    ATTR_OPTION_FUNCS,
    ATTR_OPTION_OF,
    ATTR_OPTIONS,
    ATTR_SITE,
    called_global_vars,
)

__all__ = [
    "ATTR_EXPOSED_NAMES",
    "ELEMENTWISE_BINARY_OPS",
    "ELEMENTWISE_UNARY_OPS",
    "ORIGINAL",
    "Conv2dInfo",
    "ExposePass",
    "InsideOptions",
    "MatchContext",
    "OptionBuilder",
    "Region",
    "conv2d_info",
    "emit_region",
    "he_normal",
    "make_conv2d",
    "option_rng",
    "same_type",
    "INITS",
    "check_fractions",
    "check_init",
    "fraction_name",
    "reads_variables",
    "static_shape",
]

logger = logging.getLogger(__name__)

#: Name of the option that keeps the matched subgraph unchanged.
ORIGINAL = "original"
#: Stub attribute: the op names (in the calling function) of the calls the choice point replaced.
ATTR_EXPOSED_NAMES = "nacos.exposed_names"

#: Builds one option. Called inside a dataflow block of the option function with the option's
#: parameters (one per region input); emits what it needs with ``bb`` and returns the option's
#: output: an expression, which the base emits as the block's output, or a variable.
OptionBuilder = Callable[[relax.BlockBuilder, Sequence[relax.Var]], relax.Expr]

#: Element-wise ops of one tensor (activations): they keep every axis as it is, so a move may
#: slice channels or features through them.
ELEMENTWISE_UNARY_OPS = frozenset(
    {
        "relax.nn.relu",
        "relax.nn.gelu",
        "relax.nn.gelu_tanh",
        "relax.nn.silu",
        "relax.nn.leakyrelu",
        "relax.nn.softplus",
        "relax.nn.selu",
        "relax.sigmoid",
        "relax.tanh",
        "relax.clip",
    }
)

#: Element-wise binary ops through which a move may slice channels or features when the other
#: operand is a per-channel (or scalar) constant: a bias, a scale.
ELEMENTWISE_BINARY_OPS = frozenset({"relax.add", "relax.subtract", "relax.multiply", "relax.divide"})

_KINDS = {"relax.nn.conv2d": "conv", "relax.nn.batch_norm": "bn"}
_INSIDE_OPTIONS = ("all", "original", "none")
#: Which options of existing choice points a pass looks into (see :class:`ExposePass`).
InsideOptions = Literal["all", "original", "none"]
_OP_NAME = re.compile(r"^(?P<kind>.*\D)(?P<index>\d+)$")


# ----------------------------------------------------------------------------------------------
# Helpers for moves: shapes, constants, weights, convolutions.


def static_shape(expr: relax.Expr) -> tuple[int, ...] | None:
    """The static shape of a tensor-typed expression, or ``None`` (not a tensor, symbolic shape)."""
    ty = expr.ty
    if not isinstance(ty, TensorType) or not isinstance(ty.shape, relax.ShapeExpr):
        return None
    dims = []
    for value in ty.shape.values:
        if not isinstance(value, tirx.IntImm):
            return None
        dims.append(int(value))
    return tuple(dims)


def reads_variables(args: Sequence[relax.Expr]) -> bool:
    """Whether any of ``args`` uses a variable (is not built from constants and attributes only)."""
    return any(relax.analysis.free_vars(a) for a in args)


def fraction_name(fraction: float, prefix: str = "w") -> str:
    """The option name of a fraction: ``"w0_5"`` for 0.5 (``"w1"`` for 1)."""
    return prefix + f"{fraction:g}".replace(".", "_")


def check_fractions(
    owner: str, values: Iterable[float], *, what: str = "fractions", of: str = "", example: str = "(0.5, 1.0)",
    one: bool = True,
) -> tuple[float, ...]:
    """``values`` as a tuple if they are distinct numbers in (0, 1] ((0, 1) when ``one`` is
    false), else a :class:`~tvm_nacos.errors.SearchSpaceError` that names ``owner`` (the pass),
    the bad values and the valid ones."""
    values = tuple(values)
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 < v <= 1 if one else 0 < v < 1)]
    if not values or bad or len({f"{v:g}" for v in values}) != len(values):
        interval = "(0, 1]" if one else "(0, 1)"
        raise SearchSpaceError(
            f"{owner} {what} {values!r} are invalid{f' ({bad!r})' if bad else ''}: "
            f"give distinct {what}{f' of {of}' if of else ''} in {interval}, e.g. {example}"
        )
    return values


def option_rng(seed: int, label: str, option: str) -> np.random.Generator:
    """The generator that initializes the new weights of ``option`` of choice point ``label``.

    It depends only on its arguments (CRC-32 of the strings, not Python's salted ``hash``), so
    the weights of an option are the same whatever else the pass or the pipeline did.
    """
    return np.random.default_rng([seed, zlib.crc32(label.encode()), zlib.crc32(option.encode())])


#: How the conv moves initialize a new option's weights: drawn (He-normal, from ``seed``), or
#: derived from the original weight (:mod:`tvm_nacos.passes.inherit`).
INITS = ("random", "inherit")


def check_init(init: str, pass_name: str) -> str:
    """``init`` if it is one of :data:`INITS`, else a :class:`SearchSpaceError` that lists them."""
    if init not in INITS:
        raise SearchSpaceError(f"{pass_name} init {init!r} is unknown; valid: {list(INITS)}")
    return init


def he_normal(rng: np.random.Generator, shape: Sequence[int], *, fan_in: int, dtype: str = "float32") -> np.ndarray:
    """Normal weights with standard deviation ``sqrt(2 / fan_in)`` (He et al., 2015)."""
    return (rng.standard_normal(tuple(shape)) * np.sqrt(2.0 / max(fan_in, 1))).astype(dtype)


@dataclass(frozen=True)
class Conv2dInfo:
    """What the moves need to know about an ``nn.conv2d`` call (layout NCHW / OIHW).

    Attributes
    ----------
    weight : numpy.ndarray
        The constant weight, shape ``(out_channels, in_channels // groups, kh, kw)``.
    in_channels, out_channels, groups : int
        Channel counts of the data and the output, and the group count.
    kernel, strides, dilation : tuple of int
        ``(kh, kw)``, ``(sh, sw)``, ``(dh, dw)``.
    padding : tuple of int
        ``(top, left, bottom, right)``.
    input_shape, output_shape : tuple of int
        Static NCHW shapes of the data and the output.
    """

    weight: np.ndarray
    in_channels: int
    out_channels: int
    groups: int
    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilation: tuple[int, int]
    padding: tuple[int, int, int, int]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    @property
    def is_depthwise(self) -> bool:
        """One input channel per group and one group per input channel."""
        return self.groups == self.in_channels and self.groups > 1 and self.weight.shape[1] == 1


def conv2d_info(call: relax.Call) -> Conv2dInfo | None:
    """Describe an ``nn.conv2d`` call, or ``None`` when it is not one the moves handle.

    Handled: layouts NCHW (data, output) and OIHW (weight), a constant weight, static shapes.
    """
    if not isinstance(call.op, tvm.ir.Op) or call.op.name != "relax.nn.conv2d":
        return None
    attrs = call.attrs
    layouts = (str(attrs.data_layout), str(attrs.kernel_layout), str(attrs.out_layout))
    if layouts != ("NCHW", "OIHW", "NCHW"):
        return None
    data, weight = call.args
    if not isinstance(weight, GenericConst):
        return None
    in_shape, out_shape = static_shape(data), static_shape(call)
    if in_shape is None or out_shape is None or len(in_shape) != 4:
        return None
    w = weight.value.numpy()
    return Conv2dInfo(
        weight=w,
        in_channels=in_shape[1],
        out_channels=out_shape[1],
        groups=int(attrs.groups),
        kernel=(int(w.shape[2]), int(w.shape[3])),
        strides=tuple(int(s) for s in attrs.strides),
        dilation=tuple(int(d) for d in attrs.dilation),
        padding=tuple(int(p) for p in attrs.padding),
        input_shape=in_shape,
        output_shape=out_shape,
    )


def make_conv2d(
    like: relax.Call,
    data: relax.Expr,
    weight: np.ndarray | relax.Expr,
    *,
    strides: Sequence[int] | None = None,
    padding: Sequence[int] | None = None,
    dilation: Sequence[int] | None = None,
    groups: int | None = None,
) -> relax.Expr:
    """An ``nn.conv2d`` with the attributes of ``like``, except those given.

    ``weight`` may be a numpy array (it becomes a Relax constant). The expression is not emitted.
    """
    attrs = like.attrs
    if isinstance(weight, np.ndarray):
        weight = relax.const(weight)
    return relax.op.nn.conv2d(
        data,
        weight,
        strides=list(attrs.strides) if strides is None else list(strides),
        padding=list(attrs.padding) if padding is None else list(padding),
        dilation=list(attrs.dilation) if dilation is None else list(dilation),
        groups=int(attrs.groups) if groups is None else int(groups),
        data_layout=str(attrs.data_layout),
        kernel_layout=str(attrs.kernel_layout),
        out_layout=str(attrs.out_layout),
        out_dtype=attrs.out_dtype,
    )


# ----------------------------------------------------------------------------------------------
# Regions and their copies.


@dataclass(frozen=True, eq=False)
class Region:
    """The bindings that one choice point replaces.

    Attributes
    ----------
    bindings : tuple of relax.VarBinding
        In binding order, all in one block; the last binds ``output``.
    inputs : tuple of relax.Var
        Variables the bindings use but do not define, in order of first use: the parameters of
        every option.
    output : relax.Var
        The region's single result; after the rewrite it is bound to the stub's call.
    """

    bindings: tuple[relax.VarBinding, ...]
    inputs: tuple[relax.Var, ...]
    output: relax.Var

    @property
    def vars(self) -> tuple[relax.Var, ...]:
        """The variables the region binds."""
        return tuple(b.var for b in self.bindings)


class _NotCopyable(Exception):
    """A region holds an expression that :func:`emit_region` cannot re-emit."""


def _substitute(expr: relax.Expr, var_map: Mapping[relax.Var, relax.Expr]) -> relax.Expr:
    if isinstance(expr, relax.Var):
        return var_map.get(expr, expr)
    if not relax.analysis.free_vars(expr):
        return expr  # constants, shapes, prim values, strings, global vars: shared as they are
    if isinstance(expr, relax.Call):
        return relax.Call(expr.op, [_substitute(a, var_map) for a in expr.args], expr.attrs, expr.ty_args)
    if isinstance(expr, relax.Tuple):
        return relax.Tuple([_substitute(f, var_map) for f in expr.fields])
    if isinstance(expr, relax.TupleGetItem):
        return relax.TupleGetItem(_substitute(expr.tuple_value, var_map), expr.index)
    raise _NotCopyable(f"cannot copy a {type(expr).__name__} binding value")


def emit_region(
    bb: relax.BlockBuilder,
    region: Region,
    inputs: Sequence[relax.Expr],
    *,
    rewrite: Callable[[relax.VarBinding, relax.Expr], relax.Expr] | None = None,
) -> relax.Expr:
    """Re-emit ``region`` with ``bb`` on new ``inputs``; returns the output, not emitted.

    Parameters
    ----------
    bb : relax.BlockBuilder
        A builder inside a dataflow block.
    region : Region
        The bindings to copy.
    inputs : Sequence[relax.Expr]
        One expression per ``region.inputs``.
    rewrite : callable, optional
        ``rewrite(binding, value) -> value`` may replace each value (already rewired to the new
        inputs) before it is emitted, for example to slice its constant weights.

    Returns
    -------
    relax.Expr
        The (rewritten) value of the last binding, for the caller to emit.
    """
    var_map: dict[relax.Var, relax.Expr] = dict(zip(region.inputs, inputs, strict=True))
    value: relax.Expr | None = None
    for i, binding in enumerate(region.bindings):
        value = _substitute(binding.value, var_map)
        if rewrite is not None:
            value = rewrite(binding, value)
        if i + 1 < len(region.bindings):
            var_map[binding.var] = bb.emit(value, name_hint=str(binding.var.name))
    assert value is not None  # a region has at least one binding
    return value


# ----------------------------------------------------------------------------------------------
# One function of the module, indexed for matching.


def _kind(op: tvm.ir.Op) -> str:
    name = str(op.name)
    kind = _KINDS.get(name, re.sub(r"\W", "_", name.rsplit(".", 1)[-1]))
    return kind + "_" if kind[-1:].isdigit() else kind


def _split_name(op_name: str) -> tuple[str, int] | None:
    m = _OP_NAME.match(op_name)
    return (m.group("kind"), int(m.group("index"))) if m else None


def _option_owners(mod: tvm.IRModule) -> dict[str, str]:
    """Prefix of the op names in every option function: ``"L.o."``, or ``"<site>.L.o."``.

    The site is added for the option of a stub with a ``nacos.site``, unless the function is
    an option of several sites (the BlockBuilder shares structurally equal functions): its ops
    are then the same at every site.
    """
    owners: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for func in mod.functions.values():
        attrs = func.attrs
        if not isinstance(func, relax.Function) or attrs is None or ATTR_CHOICE not in attrs:
            continue
        site = str(attrs[ATTR_SITE]) if ATTR_SITE in attrs else ""
        for option, option_func in zip(attrs.get(ATTR_OPTIONS, []), attrs.get(ATTR_OPTION_FUNCS, []), strict=True):
            owners[str(option_func)].add((site, str(attrs[ATTR_CHOICE]), str(option)))
    prefixes = {}
    for name, owned in owners.items():
        site, label, option = min(owned)
        if len(owned) > 1 and len({(lb, op) for _, lb, op in owned}) == 1:
            site = ""
        prefixes[name] = f"{site}.{label}.{option}." if site else f"{label}.{option}."
    return prefixes


def _function_prefix(name: str, func: relax.Function, owners: Mapping[str, str]) -> str:
    if name in owners:
        return owners[name]
    attrs = func.attrs
    if attrs is not None and ATTR_OPTION_OF in attrs and ATTR_OPTION in attrs:
        return f"{attrs[ATTR_OPTION_OF]}.{attrs[ATTR_OPTION]}."
    return "" if name == "main" else f"{name}."


class _FunctionIndex:
    """Bindings, uses and op names of one Relax function."""

    def __init__(self, mod: tvm.IRModule, name: str, func: relax.Function, prefix: str) -> None:
        self.mod = mod
        self.name = name
        self.func = func
        self.position: dict[relax.Var, tuple[int, int]] = {}
        self.binding: dict[relax.Var, relax.Binding] = {}
        self.order: list[relax.Binding] = []
        self.users: dict[relax.Var, list[relax.Var]] = defaultdict(list)
        self.dataflow_blocks = {
            bi for bi, block in enumerate(func.body.blocks) if isinstance(block, relax.DataflowBlock)
        }
        for bi, block in enumerate(func.body.blocks):
            for pi, binding in enumerate(block.bindings):
                self.position[binding.var] = (bi, pi)
                self.binding[binding.var] = binding
                self.order.append(binding)
                for var in relax.analysis.free_vars(binding.value):
                    self.users[var].append(binding.var)
        self.escaping = set(relax.analysis.free_vars(func.body.body))
        # Values computed from constants alone (bindings are in dependency order).
        self.constant_only: set[relax.Var] = set()
        for binding in self.order:
            if isinstance(binding, relax.VarBinding) and all(
                v in self.constant_only for v in relax.analysis.free_vars(binding.value)
            ):
                self.constant_only.add(binding.var)
        self.prefix = prefix
        self.op_names = self._name_ops(prefix)

    def _name_ops(self, prefix: str) -> dict[relax.Var, str]:
        # Indices already taken by calls that earlier expose passes moved into choice points.
        taken: dict[str, set[int]] = defaultdict(set)
        for binding in self.order:
            value = binding.value
            if isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.GlobalVar):
                callee = self.mod[value.op]
                if callee.attrs is not None and ATTR_EXPOSED_NAMES in callee.attrs:
                    for op_name in callee.attrs[ATTR_EXPOSED_NAMES]:
                        split = _split_name(str(op_name))
                        if split is not None:
                            taken[split[0]].add(split[1])
        next_index: dict[str, int] = defaultdict(int)
        names = {}
        for binding in self.order:
            value = binding.value
            if isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.Op):
                kind = _kind(value.op)
                index = next_index[kind]
                while index in taken[kind]:
                    index += 1
                next_index[kind] = index + 1
                names[binding.var] = f"{prefix}{kind}{index}"
        return names

    def local_name(self, var: relax.Var) -> str:
        """The op name of ``var`` without the function's prefix (what a stub records)."""
        return self.op_names[var][len(self.prefix):]


# ----------------------------------------------------------------------------------------------
# What a move sees of one match.


class MatchContext:
    """The surroundings of one candidate call, handed to a move's methods.

    Attributes
    ----------
    mod : tvm.IRModule
        The module the pass runs on (not modified).
    function_name : str
        Name of the function that holds the call (``"main"``, an option function, ...).
    function : relax.Function
        That function.
    var : relax.Var
        The variable bound to the call.
    name : str
        The call's op name, e.g. ``"conv3"`` or ``"conv3.kernel.k5.conv0"``.
    label : str
        The label the choice point gets: ``"<name>.<suffix>"``.
    seed : int
        The pass's seed.
    """

    def __init__(self, index: _FunctionIndex, var: relax.Var, suffix: str, seed: int) -> None:
        self._index = index
        self.mod = index.mod
        self.function_name = index.name
        self.function = index.func
        self.var = var
        self.name = index.op_names[var]
        self.label = f"{self.name}.{suffix}"
        self.seed = seed

    def value_of(self, var: relax.Expr) -> relax.Expr | None:
        """The value bound to ``var`` in this function, or ``None`` (a parameter, not a variable)."""
        binding = self._index.binding.get(var) if isinstance(var, relax.Var) else None
        return binding.value if isinstance(binding, relax.VarBinding) else None

    def users(self, var: relax.Var) -> list[relax.Var]:
        """Variables whose bound values use ``var``, in binding order."""
        return list(self._index.users.get(var, []))

    def escapes(self, var: relax.Var) -> bool:
        """Whether the function returns ``var`` (a use that is not a binding)."""
        return var in self._index.escaping

    def single_user(self, var: relax.Var) -> relax.Var | None:
        """The one variable whose value uses ``var``, or ``None`` if there are several, none, or it escapes."""
        users = self._index.users.get(var, [])
        if len(users) != 1 or self.escapes(var):
            return None
        return users[0]

    def not_exposed(self, reason: str) -> None:
        """Log (at debug level) why this match is not exposed."""
        logger.debug("%s: not exposed: %s", self.label, reason)

    def constant_only(self, var: relax.Expr) -> bool:
        """Whether ``var`` is bound to a value computed from constants alone (a constant bound to
        a variable, an attention mask built from ``arange``): the same for every input."""
        return isinstance(var, relax.Var) and var in self._index.constant_only

    def in_binding_order(self, variables: Iterable[relax.Var]) -> list[relax.Var]:
        """``variables`` (bound in this function) sorted by where they are bound."""
        return sorted(variables, key=lambda v: self._index.position[v])

    def name_of(self, var: relax.Var) -> str | None:
        """The op name of the call bound to ``var`` (``None`` if it is not an op call)."""
        return self._index.op_names.get(var)

    @staticmethod
    def constant(expr: relax.Expr) -> np.ndarray | None:
        """The value of a Relax constant as a numpy array, or ``None``."""
        return expr.value.numpy() if isinstance(expr, GenericConst) else None

    def rng(self, option: str) -> np.random.Generator:
        """:func:`option_rng` for this match's label and ``option``."""
        return option_rng(self.seed, self.label, option)

    def make_region(self, variables: Iterable[relax.Var], output: relax.Var | None = None) -> Region | None:
        """The region that binds ``variables``, or ``None`` (logged) if it cannot be replaced.

        A region must lie in one dataflow block, end with the binding of ``output`` (by default
        the last of ``variables``), hold only ``VarBinding`` s, and use none of its intermediate
        values outside itself.
        """
        index = self._index
        chosen = set(variables)
        if not chosen or any(v not in index.binding for v in chosen):
            logger.debug("%s: a region variable is not bound in %s", self.label, self.function_name)
            return None
        ordered = sorted(chosen, key=lambda v: index.position[v])
        output = ordered[-1] if output is None else output
        blocks = {index.position[v][0] for v in ordered}
        if len(blocks) != 1 or not blocks <= index.dataflow_blocks or not ordered[-1].same_as(output):
            logger.debug("%s: region is not within one dataflow block or does not end at its output", self.label)
            return None
        bindings = [index.binding[v] for v in ordered]
        if not all(isinstance(b, relax.VarBinding) for b in bindings):
            logger.debug("%s: region holds a match_cast", self.label)
            return None
        for var in ordered[:-1]:
            if var in index.escaping or any(u not in chosen for u in index.users.get(var, [])):
                logger.debug("%s: %s is used outside the region", self.label, var.name)
                return None
        inputs: dict[relax.Var, None] = {}
        for binding in bindings:
            for var in relax.analysis.free_vars(binding.value):
                if var not in chosen:
                    inputs.setdefault(var)
        return Region(tuple(bindings), tuple(inputs), output)


# ----------------------------------------------------------------------------------------------
# The base class.


class ExposePass:
    """Base of the passes that expose architecture choices (NAS moves) in a Relax module.

    A subclass sets :attr:`suffix` and implements :meth:`match` and :meth:`options`; it may
    override :meth:`region` to replace more than the matched call. Decorate the subclass with
    ``@tvm.transform.module_pass(opt_level=0, name=...)`` to make it a pass (the decorator
    wraps the class, so decorate leaves of the hierarchy only). See the module docstring for
    how matches become choice points and how labels are formed.

    Parameters
    ----------
    names : str or Sequence[str], optional
        Glob patterns (:func:`fnmatch.fnmatchcase`); a match is kept when its op name or its label
        fits one of them, e.g. ``"conv[1-3]"``, ``("conv1", "conv4.kernel")``. All by default.
    where : callable, optional
        ``where(call, context) -> bool`` on the matched call and its :class:`MatchContext`;
        the match is kept when it returns true. All by default.
    seed : int
        Seed of the new weights (see :func:`option_rng`); a non-negative integer.
    inside_options : {"all", "original", "none"}
        Which options of the choice points already in the module the pass looks into.
        ``"all"``: every option, so moves multiply (a convolution can get a new kernel size
        *and* a grouping; the module grows with the product of the options). ``"original"``:
        only options named ``"original"`` whose parents are all ``"original"`` too (the input
        network's path), so each op is changed by one move at a time and the module grows with
        the sum. ``"none"``: only functions that are not options.

    Raises
    ------
    TypeError
        ``names`` is not a string or a sequence of strings, or ``where`` is not callable.
    tvm_nacos.errors.SearchSpaceError
        A negative seed or an unknown ``inside_options``.
    tvm_nacos.errors.ChoicePointError
        While the pass runs: a label that the module already has, an option named
        ``"original"`` or options whose outputs differ from the original's.
    """

    #: Last part of every label this move creates, e.g. ``"kernel"`` gives ``"conv3.kernel"``.
    suffix: ClassVar[str] = ""

    def __init__(
        self,
        *,
        names: str | Sequence[str] | None = None,
        where: Callable[[relax.Call, MatchContext], bool] | None = None,
        seed: int = 0,
        inside_options: InsideOptions = "all",
    ) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", type(self).suffix or ""):
            raise TypeError(
                f"{type(self).__name__}.suffix is {type(self).suffix!r}; set it to an identifier "
                "such as 'kernel' (labels are '<op name>.<suffix>')"
            )
        if isinstance(names, str):
            names = (names,)
        if names is not None:
            names = tuple(names)
            bad = [n for n in names if not isinstance(n, str)]
            if bad or not names:
                raise TypeError(f"names must be a glob pattern or a non-empty sequence of them, got {names!r}")
        if where is not None and not callable(where):
            raise TypeError(f"where must be callable as where(call, context) -> bool, got {where!r}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise SearchSpaceError(f"seed must be a non-negative integer, got {seed!r}")
        if inside_options not in _INSIDE_OPTIONS:
            raise SearchSpaceError(
                f"inside_options must be one of {list(_INSIDE_OPTIONS)}, got {inside_options!r}"
            )
        self.names: tuple[str, ...] | None = names
        self.where = where
        self.seed = int(seed)
        self.inside_options = inside_options

    # -- what a move defines ------------------------------------------------------------------

    def match(self, call: relax.Call, context: MatchContext) -> bool:
        """Whether ``call`` is a candidate for this move."""
        raise NotImplementedError(f"{type(self).__name__} must implement match(call, context)")

    def region(self, call: relax.Call, context: MatchContext) -> Region | None:
        """The bindings the choice point replaces; ``None`` drops the match. Default: the call alone."""
        return context.make_region([context.var])

    def options(self, call: relax.Call, context: MatchContext) -> dict[str, OptionBuilder]:
        """Named alternatives to the region; ``"original"`` is added by the base.

        Option names are distinct strings other than ``"original"``. An empty dict drops
        the match (for example when no alternative keeps the output shape).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement options(call, context)")

    # -- the shared machinery -----------------------------------------------------------------

    def selected(self, call: relax.Call, context: MatchContext) -> bool:
        """Whether the restrictions (``names``, ``where``) keep this match."""
        if self.names is not None and not any(
            fnmatch.fnmatchcase(context.name, p) or fnmatch.fnmatchcase(context.label, p) for p in self.names
        ):
            return False
        return self.where is None or bool(self.where(call, context))

    def transform_module(self, mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        """Expose every selected match of every function (see the module docstring)."""
        labels = {
            str(func.attrs[ATTR_CHOICE])
            for func in mod.functions.values()
            if func.attrs is not None and ATTR_CHOICE in func.attrs
        }
        bb = relax.BlockBuilder(mod)
        exposed: list[str] = []
        eligible = _eligible_functions(mod, self.inside_options)
        owners = _option_owners(mod)
        targets = sorted(
            ((gv, func) for gv, func in mod.functions_items() if gv.name_hint in eligible),
            key=lambda item: (item[0].name_hint != "main", item[0].name_hint),
        )
        for gv, func in targets:
            new_func = self._rewrite_function(bb, mod, gv.name_hint, func, labels, exposed, owners)
            if new_func is not None:
                bb.update_func(gv, new_func)
        logger.info(
            "%s exposed %d choice point(s)%s",
            type(self).__name__,
            len(exposed),
            f": {', '.join(exposed)}" if exposed else "",
        )
        return bb.get()

    def _rewrite_function(
        self,
        bb: relax.BlockBuilder,
        mod: tvm.IRModule,
        name: str,
        func: relax.Function,
        labels: set[str],
        exposed: list[str],
        owners: Mapping[str, str],
    ) -> relax.Function | None:
        index = _FunctionIndex(mod, name, func, _function_prefix(name, func, owners))
        claimed: set[relax.Var] = set()
        replaced: dict[relax.Var, relax.Expr] = {}  # region output -> call of the stub
        for binding in index.order:
            call = binding.value
            in_dataflow = index.position[binding.var][0] in index.dataflow_blocks
            if not (in_dataflow and isinstance(call, relax.Call) and isinstance(call.op, tvm.ir.Op)):
                continue
            context = MatchContext(index, binding.var, self.suffix, self.seed)
            if not self.match(call, context) or not self.selected(call, context):
                continue
            region = self.region(call, context)
            if region is None:
                continue
            if any(v in claimed for v in region.vars):
                logger.debug("%s: overlaps a region exposed earlier in this pass; skipped", context.label)
                continue
            stub = self._add_choice_point(bb, call, context, region, labels, index)
            if stub is None:
                continue
            claimed.update(region.vars)
            replaced[region.output] = bb.normalize(relax.Call(stub, list(region.inputs)))
            labels.add(context.label)
            exposed.append(context.label)
        if not replaced:
            return None

        blocks = []
        for block in func.body.blocks:
            bindings = []
            for binding in block.bindings:
                if binding.var in replaced:
                    bindings.append(relax.VarBinding(binding.var, replaced[binding.var]))
                elif binding.var not in claimed:
                    bindings.append(binding)
            cls = relax.DataflowBlock if isinstance(block, relax.DataflowBlock) else relax.BindingBlock
            blocks.append(cls(bindings))
        body = bb.normalize(relax.SeqExpr(blocks, func.body.body))
        return relax.Function(func.params, body, func.ret_ty, func.is_pure, func.attrs)

    def _add_choice_point(
        self,
        bb: relax.BlockBuilder,
        call: relax.Call,
        context: MatchContext,
        region: Region,
        labels: set[str],
        index: _FunctionIndex,
    ) -> tvm.ir.GlobalVar | None:
        label = context.label
        builders = self.options(call, context)
        if not builders:
            logger.debug("%s: no alternative applies; skipped", label)
            return None
        if ORIGINAL in builders:
            raise ChoicePointError(
                f"{type(self).__name__}.options returned an option named {ORIGINAL!r} for {label!r}; "
                f"the base adds the original itself; other options: {sorted(builders)}",
                label=label,
                option=ORIGINAL,
            )
        if label in labels:
            raise ChoicePointError(
                f"{type(self).__name__}: the module already has a choice point labelled {label!r}; "
                "restrict the pass with names=... or where=... to leave that op alone",
                label=label,
            )
        try:
            original = _option_function(region, lambda b, inputs: emit_region(b, region, inputs))
        except _NotCopyable as err:
            logger.debug("%s: %s; skipped", label, err)
            return None
        functions = {ORIGINAL: original}
        for option, builder in builders.items():
            functions[option] = _option_function(region, builder)
        stub = add_choice_point(bb, label, functions, default=ORIGINAL)

        # Record what the stub swallowed, so the next pass numbers the remaining ops as before.
        swallowed: list[str] = []
        for binding in region.bindings:
            value = binding.value
            if binding.var in index.op_names:
                swallowed.append(index.local_name(binding.var))
            elif isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.GlobalVar):
                callee = context.mod[value.op]
                if callee.attrs is not None and ATTR_EXPOSED_NAMES in callee.attrs:
                    swallowed.extend(str(s) for s in callee.attrs[ATTR_EXPOSED_NAMES])
        stub_func = bb.get()[stub]
        bb.update_func(stub, stub_func.with_attrs({ATTR_EXPOSED_NAMES: swallowed}))
        return stub


def _eligible_functions(mod: tvm.IRModule, inside_options: str) -> set[str]:
    """Names of the functions a pass looks into (see ``ExposePass(inside_options=...)``)."""
    relax_funcs = {
        gv.name_hint: func
        for gv, func in mod.functions_items()
        if isinstance(func, relax.Function) and isinstance(func.body, relax.SeqExpr)
    }
    stubs = {name for name, func in relax_funcs.items() if func.attrs is not None and ATTR_CHOICE in func.attrs}
    options = {name for name, func in relax_funcs.items() if func.attrs is not None and ATTR_OPTION_OF in func.attrs}
    if inside_options == "all":
        return set(relax_funcs) - stubs
    if inside_options == "none":
        return set(relax_funcs) - stubs - options
    # "original": what the input network runs, following stubs into their "original" option only.
    reached: set[str] = set()
    stack = [name for name, func in relax_funcs.items() if func.attrs is not None and "global_symbol" in func.attrs]
    while stack:
        name = stack.pop()
        if name in reached or name not in relax_funcs:
            continue
        reached.add(name)
        for callee in called_global_vars(relax_funcs[name]):
            if callee.name_hint not in stubs:
                stack.append(callee.name_hint)
                continue
            attrs = relax_funcs[callee.name_hint].attrs
            names = [str(o) for o in attrs.get(ATTR_OPTIONS, [])]
            if ORIGINAL in names:
                stack.append(str(attrs[ATTR_OPTION_FUNCS][names.index(ORIGINAL)]))
    return reached - stubs


def _option_function(region: Region, builder: OptionBuilder) -> relax.Function:
    """A private function: parameters like ``region.inputs``, body built by ``builder``."""
    bb = relax.BlockBuilder()
    params = [relax.Var(str(v.name), v.ty) for v in region.inputs]
    with bb.function("option", params, private=True):
        with bb.dataflow():
            out = bb.emit_output(builder(bb, params), name_hint=str(region.output.name))
        bb.emit_func_output(out)
    return bb.get()["option"]


def same_type(a: relax.Expr, b: relax.Expr) -> bool:
    """Whether two expressions have structurally equal types (same shape and dtype)."""
    return bool(structural_equal(a.ty, b.ty, map_free_vars=True))
