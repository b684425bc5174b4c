"""Fault injection for builders and runners: prove that a tuning session survives them.

:class:`FaultyBuild` wraps the normal build function. It is a picklable module-level object, so
it runs in builder workers like the real thing. It hits a candidate whose TIR (as TVMScript)
contains ``marker`` (give a buffer or function that name to aim at one candidate), or, with
``every=n``, about one candidate in ``n`` (those whose structural hash is a multiple of ``n``:
the same candidates in every run).

:class:`FaultPlanBuilder` aims by position instead: the i-th candidate the session submits gets
the fault ``plan[i]``, whatever schedules the search happens to propose. A whole search then
meets each fault a known number of times.

Faults of the build itself:

- ``"crash"``: the build worker dies (SIGKILL);
- ``"hang"``: the build sleeps for ``hang_sec`` (the builder's timeout must end it);
- ``"raise"``: the build raises an exception.

Faults of the built kernel, which builds fine and then misbehaves in the runner (the entry
function's body is replaced, the signature kept):

- ``"run-crash"``: the kernel calls ``abort()``, killing the runner's worker;
- ``"run-hang"``: the kernel sleeps for ``hang_sec`` (the runner's timeout must end it);
- ``"wrong-output"``: the kernel returns without writing its outputs; only the output check
  (:mod:`tvm_nacos.tuning.check`) can tell.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import tvm
from tvm.ir.utils import derived_object

from tvm_nacos._compat import meta_schedule, structural_hash, tirx
from tvm_nacos.tuning.builder import BuildFunction, PersistentBuilder, build_candidate

ms = meta_schedule()

__all__ = ["FAULT_KINDS", "FaultKind", "FaultPlanBuilder", "FaultyBuild", "PlannedFaultBuild"]

#: Module attribute that carries a planned fault from :class:`FaultPlanBuilder` to the worker.
FAULT_ATTR = "nacos.injected_fault"

FaultKind = Literal["crash", "hang", "raise", "run-crash", "run-hang", "wrong-output"]
FAULT_KINDS: tuple[str, ...] = ("crash", "hang", "raise", "run-crash", "run-hang", "wrong-output")


@dataclass(frozen=True)
class FaultyBuild:
    """A build function that injects a fault into some candidates.

    Parameters
    ----------
    kind : {"crash", "hang", "raise", "run-crash", "run-hang", "wrong-output"}
        What goes wrong (see the module docstring).
    marker : str, optional
        Hit the candidates whose TVMScript contains this text.
    hang_sec : float
        How long ``hang`` and ``run-hang`` sleep.
    every : int
        Hit the candidates whose structural hash is a multiple of ``every`` (about one in
        ``every``); 0 to select by ``marker`` only.
    build : callable
        The build function of the candidates not hit, and of the sabotaged kernels.
    """

    kind: FaultKind
    marker: str | None = None
    hang_sec: float = 3600.0
    every: int = 0
    build: BuildFunction = build_candidate

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; valid kinds: {list(FAULT_KINDS)}")
        if self.every < 0:
            raise ValueError(f"every must be >= 0, got {self.every}")
        if self.marker is None and not self.every:
            raise ValueError("FaultyBuild hits nothing: give a marker or every=n")

    def hits(self, mod: tvm.IRModule) -> bool:
        """Whether the candidate ``mod`` gets the fault."""
        if self.every and int(structural_hash(mod)) % self.every == 0:
            return True
        return self.marker is not None and self.marker in mod.script()

    def __call__(self, mod: tvm.IRModule, target: tvm.target.Target, **options: Any) -> str:
        if self.hits(mod):
            aim = f"marker {self.marker!r}" if self.marker is not None else f"hash multiple of {self.every}"
            mod = _inject(mod, self.kind, self.hang_sec, aim)
        return self.build(mod, target, **options)


@dataclass(frozen=True)
class PlannedFaultBuild:
    """A build function that injects the fault a :class:`FaultPlanBuilder` tagged a candidate with.

    Parameters
    ----------
    hang_sec : float
        How long ``hang`` and ``run-hang`` sleep.
    build : callable
        The build function proper.
    """

    hang_sec: float = 3600.0
    build: BuildFunction = build_candidate

    def __call__(self, mod: tvm.IRModule, target: tvm.target.Target, **options: Any) -> str:
        kind = None if mod.attrs is None else mod.attrs.get(FAULT_ATTR)
        if kind is not None:
            mod = _inject(mod.without_attr(FAULT_ATTR), str(kind), self.hang_sec, "as planned")
        return self.build(mod, target, **options)


@derived_object
class FaultPlanBuilder(ms.builder.PyBuilder):
    """A :class:`~tvm_nacos.tuning.builder.PersistentBuilder` whose i-th candidate gets fault ``plan[i]``.

    Candidates are counted across batches, from 0, in the order the session submits them.

    Parameters
    ----------
    plan : Mapping[int, str]
        Candidate index → fault kind (see :data:`FAULT_KINDS`).
    hang_sec : float
        How long ``hang`` and ``run-hang`` sleep.
    **builder_options
        Passed to :class:`~tvm_nacos.tuning.builder.PersistentBuilder` (``timeout_sec``,
        ``check_outputs``, ``max_workers`` ...).

    Attributes
    ----------
    injected : dict[int, str]
        The faults injected so far.
    """

    def __init__(self, plan: Mapping[int, str], *, hang_sec: float = 3600.0, **builder_options: Any) -> None:
        super().__init__()
        bad = {i: k for i, k in plan.items() if k not in FAULT_KINDS}
        if bad:
            raise ValueError(f"unknown fault kinds {bad}; valid kinds: {list(FAULT_KINDS)}")
        self.plan = dict(plan)
        self.inner = PersistentBuilder(f_build=PlannedFaultBuild(hang_sec), **builder_options)
        self.injected: dict[int, str] = {}
        self._count = 0

    @property
    def check_outputs(self) -> bool:
        """Whether the builder prepares the output check."""
        return bool(self.inner.check_outputs)

    def add_reference(self, mod: tvm.IRModule) -> str:
        """See :meth:`PersistentBuilder.add_reference <tvm_nacos.tuning.builder.PersistentBuilder.add_reference>`."""
        return self.inner.add_reference(mod)

    def build(self, build_inputs: list[Any]) -> list[Any]:
        """Tag the planned candidates and build the batch with the persistent builder."""
        tagged = []
        for build_input in build_inputs:
            kind = self.plan.get(self._count)
            if kind is not None:
                self.injected[self._count] = kind
                build_input = ms.builder.BuilderInput(build_input.mod.with_attr(FAULT_ATTR, kind), build_input.target)
            tagged.append(build_input)
            self._count += 1
        return self.inner.build(tagged)

    def shutdown(self) -> None:
        """Stop the persistent builder's workers."""
        self.inner.shutdown()


def _inject(mod: tvm.IRModule, kind: str, hang_sec: float, aim: str) -> tvm.IRModule:
    """Break the build now (``crash``, ``hang``, ``raise``), or return the sabotaged kernel."""
    if kind == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    elif kind == "hang":
        time.sleep(hang_sec)
    elif kind == "raise":
        raise RuntimeError(f"injected build failure ({aim})")
    else:
        return _sabotaged(mod, kind, hang_sec)
    return mod


def _sabotaged(mod: tvm.IRModule, kind: str, hang_sec: float) -> tvm.IRModule:
    """``mod`` with the body of its entry function replaced by the fault."""
    if kind == "run-crash":
        body = tirx.Evaluate(tirx.call_extern("int32", "abort"))
    elif kind == "run-hang":
        body = tirx.Evaluate(tirx.call_extern("int32", "sleep", tirx.const(int(min(hang_sec, 2**31 - 1)), "int32")))
    else:  # wrong-output
        body = tirx.Evaluate(tirx.const(0, "int32"))
    functions = {gv: func for gv, func in mod.functions_items()}
    entry = next((gv for gv in functions if gv.name_hint == "main"), next(iter(functions)))
    functions[entry] = functions[entry].with_body(body)
    return tvm.IRModule(functions, attrs=mod.attrs)
