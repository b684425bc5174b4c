"""Fault injection for builders and runners: prove that a tuning session survives them.

These wrap the normal build function. They are picklable module-level objects, so they run in
builder workers like the real thing. A candidate is hit when its TIR (as TVMScript) contains
``marker``; give a buffer or function that name to aim at one candidate.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from typing import Literal

import tvm

from tvm_nacos.tuning.builder import build_candidate

FaultKind = Literal["crash", "hang", "raise"]
FAULT_KINDS: tuple[str, ...] = ("crash", "hang", "raise")


@dataclass(frozen=True)
class FaultyBuild:
    """A build function that fails on the candidates whose TIR mentions ``marker``.

    Parameters
    ----------
    kind : {"crash", "hang", "raise"}
        ``crash`` kills the worker process (SIGKILL), ``hang`` sleeps for ``hang_sec``,
        ``raise`` raises a ``RuntimeError``.
    marker : str
        Text to look for in the candidate's TVMScript.
    hang_sec : float
        How long ``hang`` sleeps.
    """

    kind: FaultKind
    marker: str
    hang_sec: float = 3600.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; valid kinds: {list(FAULT_KINDS)}")

    def __call__(self, mod: tvm.IRModule, target: tvm.target.Target) -> str:
        if self.marker in mod.script():
            if self.kind == "crash":
                os.kill(os.getpid(), signal.SIGKILL)
            elif self.kind == "hang":
                time.sleep(self.hang_sec)
            else:
                raise RuntimeError(f"injected build failure on {self.marker!r}")
        return build_candidate(mod, target)
