"""``LegalizeOps`` that legalizes each distinct operator call once, across architectures.

Lowering an architecture legalizes every operator call of the specialized network: each call
builds a TE computation and a PrimFunc (``BlockBuilder.call_te``), about 2 ms a call, 200 calls
and 0.3–0.4 s per NAS-Bench-201 architecture, a third of its lowering. The architectures of a
search share almost all of those calls: the same convolution at the same shape, the same
elementwise tail. :class:`LegalizationCache` keeps the PrimFunc that legalizing a call gives,
keyed by what legalization reads (the operator, its attributes, the types of its arguments and
the values of scalar and small constant arguments, the target in scope), and answers a call with
the same key by adding that PrimFunc to the module under the same name hint, as ``call_te``
does. The result is the module ``LegalizeOps`` gives, function names included (checked in the
tests on the built-in spaces).

A call is answered from the cache only when its legalization, run alone, is one ``call_tir`` of
one new PrimFunc whose arguments are the call's own arguments (or fields of a tuple argument),
and every large constant argument reaches the kernel as an argument (its values cannot be
folded into the kernel, so they need not be part of the key). Anything else (legalizations that
emit several bindings, symbolic shapes, calls to packed functions) is legalized as
``LegalizeOps`` does, every time.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import tvm
from tvm import relax

from tvm_nacos._compat import GenericConst, TensorType, const_value, expr_type, structural_hash, tirx

logger = logging.getLogger(__name__)

__all__ = ["LegalizationCache", "default_legalization_cache"]

#: Constants with at most this many elements are part of the key by value (a legalization may
#: fold them into the kernel); larger ones must reach the kernel as an argument.
SMALL_CONSTANT = 64

_UNCACHEABLE = object()
_CALL_TIR = tvm.ir.Op.get("relax.call_tir")


@dataclass(frozen=True)
class _Legalized:
    """What legalizing one call gave: a kernel, its name hint, where its arguments come from."""

    func: tirx.PrimFunc
    name_hint: str
    arg_paths: tuple[tuple[int, ...], ...]
    ty_args: Any
    attrs: Any


def _static_tensor_type(ty: Any) -> bool:
    shape = getattr(ty, "shape", None) if isinstance(ty, TensorType) else None
    return isinstance(shape, relax.ShapeExpr) and all(isinstance(d, tirx.IntImm) for d in shape.values)


def _constant_key(const: Any) -> tuple | None:
    ty = expr_type(const)
    if not _static_tensor_type(ty) or not isinstance(const_value(const), tvm.runtime.Tensor):
        return None
    if int(np.prod([int(d) for d in ty.shape.values])) <= SMALL_CONSTANT:
        value = const_value(const).numpy()
        return ("small", str(value.dtype), value.shape, value.tobytes())
    return ("const", structural_hash(ty))


def _arg_key(arg: Any) -> tuple | None:
    """What legalization may read of one argument, or ``None`` when the call is not cached."""
    if isinstance(arg, GenericConst):
        return _constant_key(arg)
    if isinstance(arg, relax.Var):
        ty = expr_type(arg)
        return ("var", structural_hash(ty)) if _static_tensor_type(ty) else None
    if isinstance(arg, relax.ShapeExpr):
        if all(isinstance(d, tirx.IntImm) for d in arg.values):
            return ("shape", tuple(int(d) for d in arg.values))
        return None
    if isinstance(arg, (tirx.IntImm, tirx.FloatImm, tvm.ir.StringImm)):
        return ("imm", structural_hash(arg))
    if isinstance(arg, relax.Tuple):
        fields = tuple(_arg_key(f) for f in arg.fields)
        return None if any(f is None for f in fields) else ("tuple", fields)
    return None


def _arg_paths(call: relax.Call, kernel_args: Any) -> tuple[tuple[int, ...], ...] | None:
    """Where each argument of the legalized ``call_tir`` comes from in ``call.args``: ``(i,)``
    for an argument, ``(i, j)`` for field ``j`` of a tuple argument; ``None`` if one comes from
    elsewhere, or if a large constant argument does not reach the kernel."""
    paths = []
    for value in kernel_args:
        path = None
        for i, arg in enumerate(call.args):
            if value.same_as(arg):
                path = (i,)
                break
            if isinstance(arg, relax.Tuple):
                j = next((j for j, f in enumerate(arg.fields) if value.same_as(f)), None)
                if j is not None:
                    path = (i, j)
                    break
        if path is None:
            return None
        paths.append(path)
    used = set(paths)
    for i, arg in enumerate(call.args):
        items = [((i, j), f) for j, f in enumerate(arg.fields)] if isinstance(arg, relax.Tuple) else [((i,), arg)]
        for path, item in items:
            if isinstance(item, GenericConst) and path not in used and _constant_key(item)[0] != "small":
                return None
    return tuple(paths)


class LegalizationCache:
    """PrimFuncs of legalized operator calls, reused by every module the pass legalizes.

    Parameters
    ----------
    max_entries : int
        Distinct calls kept (least recently used dropped first).

    Examples
    --------
    .. code-block:: python

        cache = LegalizationCache()
        with target:
            legalized = cache.legalize_ops()(specialized)   # what relax.transform.LegalizeOps() gives
    """

    def __init__(self, max_entries: int = 8192) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries!r}")
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._pass: tvm.transform.Pass | None = None
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def legalize_ops(self) -> tvm.transform.Pass:
        """``relax.transform.LegalizeOps`` whose operators legalize through this cache."""
        if self._pass is None:
            custom = {}
            for name in tvm.ir.Op.list_op_names():
                default = tvm.ir.Op.get(name).get_attr("FLegalize")
                if default is not None:
                    custom[name] = self._wrap(name, default)
            self._pass = relax.transform.LegalizeOps(custom)
        return self._pass

    def _wrap(self, name: str, default: Any) -> Any:
        def legalize(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
            return self._legalize(name, default, bb, call)

        return legalize

    def _key(self, name: str, call: relax.Call) -> tuple | None:
        args = tuple(_arg_key(a) for a in call.args)
        if any(a is None for a in args):
            return None
        # Which arguments are one and the same value (``multiply(x, x)``): a kernel may read it once.
        flat = [f for a in call.args for f in (a.fields if isinstance(a, relax.Tuple) else [a])]
        aliases = tuple(next(j for j in range(i + 1) if flat[j].same_as(flat[i])) for i in range(len(flat)))
        target = tvm.target.Target.current(allow_none=True)
        return (
            name, args, aliases, None if call.attrs is None else structural_hash(call.attrs),
            tuple(structural_hash(t) for t in call.ty_args), None if target is None else str(target),
        )

    def _legalize(self, name: str, default: Any, bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
        key = self._key(name, call)
        if key is None:
            return default(bb, call)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.hits += 1
        if entry is None:
            entry = self._legalize_alone(default, call)
            with self._lock:
                self.misses += 1
                self._entries[key] = entry
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        if entry is _UNCACHEABLE:
            return default(bb, call)
        args = [call.args[p[0]] if len(p) == 1 else call.args[p[0]].fields[p[1]] for p in entry.arg_paths]
        gv = bb.add_func(entry.func, entry.name_hint)
        return relax.Call(_CALL_TIR, [gv, relax.Tuple(args)], entry.attrs, entry.ty_args)

    @staticmethod
    def _legalize_alone(default: Any, call: relax.Call) -> Any:
        """Legalize ``call`` in an empty module: a :class:`_Legalized`, or ``_UNCACHEABLE``."""
        alone = relax.BlockBuilder()
        try:
            result = default(alone, call)
        except Exception:  # noqa: BLE001 - e.g. a legalization that emits bindings needs a scope
            return _UNCACHEABLE
        functions = list(alone.get().functions_items())
        if (
            len(functions) != 1
            or not isinstance(functions[0][1], tirx.PrimFunc)
            or not isinstance(result, relax.Call)
            or not result.op.same_as(_CALL_TIR)
            or len(result.args) != 2
            or not result.args[0].same_as(functions[0][0])
            or not isinstance(result.args[1], relax.Tuple)
        ):
            return _UNCACHEABLE
        paths = _arg_paths(call, result.args[1].fields)
        if paths is None:
            return _UNCACHEABLE
        gv, func = functions[0]
        return _Legalized(func, gv.name_hint, paths, result.ty_args, result.attrs)


_DEFAULT = LegalizationCache()


def default_legalization_cache() -> LegalizationCache:
    """The process's cache, which :func:`~tvm_nacos.tuning.tasks.lower_for_tuning` uses."""
    return _DEFAULT
