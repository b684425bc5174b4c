"""Analyses of modules with choice points: the space they span, and counts (MACs) per architecture."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import tvm
from tvm import relax

from tvm_nacos.ir.choice import ChoicePoint, find_choice_points
from tvm_nacos.search_space import ChoiceSpec, Condition, SearchSpace

__all__ = ["ArchitectureCounter", "ArchitectureMacs", "count_macs", "search_space", "space_of_choice_points"]


def search_space(mod: tvm.IRModule) -> SearchSpace:
    """The search space that the choice points of ``mod`` span.

    Parameters
    ----------
    mod : tvm.IRModule
        A module with choice points (see :mod:`tvm_nacos.ir.choice`).

    Returns
    -------
    SearchSpace
        One choice per label, in the order of :func:`~tvm_nacos.ir.find_choice_points`;
        nested choice points become conditional choices, and stubs that share a label
        (sites) are one choice. A module without choice points gives
        an empty space (size 1: the module itself).
    """
    return space_of_choice_points(find_choice_points(mod))


def space_of_choice_points(points: Iterable[ChoicePoint]) -> SearchSpace:
    """The search space of choice points already found by :func:`~tvm_nacos.ir.find_choice_points`
    (what :func:`search_space` returns, without walking the module again)."""
    specs: dict[str, ChoiceSpec] = {}
    for cp in points:
        # Sites of one label are one choice (find_choice_points checked that they agree).
        specs.setdefault(
            cp.label,
            ChoiceSpec(
                label=cp.label,
                options=cp.options,
                default=cp.default,
                condition=None if cp.condition is None else Condition(*cp.condition),
            ),
        )
    return SearchSpace(list(specs.values()))


def _call_macs(call: relax.Call) -> int:
    """Multiply-accumulates of one operator call: conv2d and matmul, 0 for anything else."""
    name = call.op.name
    if name == "relax.nn.conv2d":
        out = [int(d) for d in call.ty.shape.values]
        weight = [int(d) for d in call.args[1].ty.shape.values]  # O, I/groups, kh, kw
        return math.prod(out) * weight[1] * weight[2] * weight[3]
    if name == "relax.matmul":
        out = [int(d) for d in call.ty.shape.values]
        return math.prod(out) * int(call.args[0].ty.shape.values[-1])
    return 0


def count_macs(mod: tvm.IRModule) -> int:
    """Multiply-accumulates of one inference: conv2d and matmul calls of every Relax function."""
    total = 0

    def visit(expr: relax.Expr) -> None:
        nonlocal total
        if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.Op):
            total += _call_macs(expr)

    for func in mod.functions.values():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func.body, visit)
    return total


class ArchitectureCounter:
    """A count over the graph an architecture runs, read off a module with choice points
    without specializing it.

    Reads the module once: each Relax function's own count (``count_expr`` summed over the
    expressions of its body) and the functions it calls. An architecture's count is then a
    walk of the call graph from the public functions that enters, at each choice point's stub,
    the option the architecture picks (the default where it picks none). The result equals
    counting the module :class:`~tvm_nacos.passes.SpecializeArch` makes for the architecture
    (the tests check it), which takes ~0.3 s per architecture on ``nas-bench-201``; this walk
    is pure Python.

    Parameters
    ----------
    mod : tvm.IRModule
        A module with choice points (see :mod:`tvm_nacos.ir.choice`).
    count_expr : callable
        ``expr -> int`` for every expression of a function body (0 for most).
    per_call : bool
        Count a function once per call (work, e.g. MACs) rather than once per architecture
        that reaches it (storage, e.g. weights).
    """

    def __init__(self, mod: tvm.IRModule, count_expr: Callable[[relax.Expr], int], *, per_call: bool = True) -> None:
        self.per_call = per_call
        self._own: dict[str, int] = {}
        self._calls: dict[str, list[str]] = {}
        #: stub name → (label, {option: option function name}, default option)
        self._stubs: dict[str, tuple[str, dict[str, str], str]] = {
            point.stub.name_hint: (point.label, {o: f.name_hint for o, f in zip(point.options, point.option_funcs, strict=True)},
                                   point.default)
            for point in find_choice_points(mod)
        }
        self._entries: list[str] = []
        for gv, func in mod.functions_items():
            if not isinstance(func, relax.Function):
                continue
            name = gv.name_hint
            own, calls = 0, []

            def visit(expr: relax.Expr, calls: list[str] = calls) -> None:
                nonlocal own
                own += count_expr(expr)
                if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.GlobalVar):
                    calls.append(expr.op.name_hint)

            relax.analysis.post_order_visit(func.body, visit)
            self._own[name], self._calls[name] = own, calls
            if func.attrs is not None and "global_symbol" in func.attrs:
                self._entries.append(name)

    def _resolve(self, name: str, sample: Mapping[str, str]) -> str:
        """``name``, or the option function its stub enters for ``sample``."""
        while name in self._stubs:
            label, funcs, default = self._stubs[name]
            option = sample.get(label, default)
            if option not in funcs:
                raise ValueError(f"option {option!r} of {label!r} is not one of {sorted(funcs)}")
            name = funcs[option]
        return name

    def __call__(self, sample: Mapping[str, str]) -> int:
        """The count of the architecture ``sample`` (``{label: option}``)."""
        if self.per_call:

            def total(name: str) -> int:
                name = self._resolve(name, sample)
                return self._own.get(name, 0) + sum(total(callee) for callee in self._calls.get(name, ()))

            return sum(total(entry) for entry in self._entries)
        return sum(self._own.get(name, 0) for name in self.reached(sample))

    @property
    def entries(self) -> list[str]:
        """The public functions (those with a ``global_symbol``) the walks start from."""
        return list(self._entries)

    def reached(self, sample: Mapping[str, str]) -> set[str]:
        """The functions the architecture ``sample`` runs: the public ones and every function
        they call, an option in place of each choice point's stub."""
        reached: set[str] = set()
        pending = list(self._entries)
        while pending:
            name = self._resolve(pending.pop(), sample)
            if name not in reached:
                reached.add(name)
                pending.extend(self._calls.get(name, ()))
        return reached


def _expr_macs(expr: relax.Expr) -> int:
    return _call_macs(expr) if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.Op) else 0


class ArchitectureMacs(ArchitectureCounter):
    """MACs (conv2d and matmul) of any architecture of ``mod``, as :func:`count_macs` counts
    them on the specialized module; see :class:`ArchitectureCounter`."""

    def __init__(self, mod: tvm.IRModule) -> None:
        super().__init__(mod, _expr_macs)
