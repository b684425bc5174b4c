"""Several targets in one search: what each target is, and where it is measured.

:func:`tvm_nacos.search` takes ``targets={name: spec}``. A spec is a target alone (a
:class:`tvm.target.Target`, a dict, a JSON string, or ``"host"``/``None`` for this machine's
CPU) measured on this machine, or a mapping with the target and where to measure it::

    targets = {
        "x86": "host",
        "board": {"target": {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "num-cores": 4},
                  "runner": "rpc://10.0.0.5:9190/board"},
    }

Each name becomes a directory (``WORK_DIR/targets/NAME``) holding that target's tuning
database, cost model, checkpoint and front.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tvm_nacos.errors import SearchConfigError

__all__ = ["TARGET_SPEC_KEYS", "TargetSpec", "resolve_targets"]

#: The keys of a target's spec given as a mapping (a mapping with ``"kind"`` is a target itself).
TARGET_SPEC_KEYS = ("target", "runner", "devices")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class TargetSpec:
    """One target of a search over several.

    Attributes
    ----------
    name : str
        Its name: the directory ``WORK_DIR/targets/NAME`` and the key of its front.
    target : tvm.target.Target
    runner : Any
        ``None`` (this machine), ``"rpc://HOST:PORT/KEY"`` or a MetaSchedule runner.
    devices : int or None
        Devices to keep busy (default: see :class:`~tvm_nacos.cosearch.session.SearchSession`).
    """

    name: str
    target: Any
    runner: Any = None
    devices: int | None = None

    @property
    def where(self) -> str:
        """Where it is measured, in words."""
        return "this machine" if self.runner is None else str(self.runner)


def _split(name: str, spec: Any) -> tuple[Any, Any, Any]:
    """(target, runner, devices) of one spec."""
    if isinstance(spec, Mapping) and "kind" not in spec:
        unknown = sorted(set(spec) - set(TARGET_SPEC_KEYS))
        if unknown:
            raise SearchConfigError(
                f"target {name!r}: unknown key(s) {unknown}; a target's spec takes {list(TARGET_SPEC_KEYS)} "
                "(or give the target itself, a dict with 'kind')"
            )
        runner = spec.get("runner")
        return spec.get("target"), None if runner in (None, "local") else runner, spec.get("devices")
    return spec, None, None


def resolve_targets(targets: Mapping[str, Any]) -> list[TargetSpec]:
    """Check ``targets`` (see the module's docstring) and resolve each one's target.

    Raises
    ------
    SearchConfigError
        ``targets`` is not a non-empty mapping, a name is not a plain directory name, a spec has
        unknown keys, or two names give the same target measured in the same place.
    TargetError
        A target TVM rejects (the message names it).
    RunnerSpecError
        A bad runner or device count (as for one target).
    """
    from tvm_nacos.target import TargetError, as_target
    from tvm_nacos.tuning.runner import RPCEndpoint, resolve_devices

    if not isinstance(targets, Mapping) or not targets:
        raise SearchConfigError(
            f"targets must be a non-empty mapping of names to targets, e.g. {{'x86': 'host', 'board': "
            f"{{'target': {{...}}, 'runner': 'rpc://HOST:PORT/KEY'}}}}; got {targets!r}"
        )
    specs: list[TargetSpec] = []
    for name, spec in targets.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise SearchConfigError(
                f"target name {name!r} must be letters, digits, '_', '.' or '-' (it names a directory), at most 64"
            )
        target, runner, devices = _split(name, spec)
        try:
            tvm_target = as_target(None if target in (None, "host") else target)
        except TargetError as err:
            raise TargetError(f"target {name!r}: {err}") from None
        if isinstance(runner, str):
            RPCEndpoint.parse(runner)  # a bad form fails here, before any tracker is asked
        if devices is not None:
            resolve_devices(runner, devices)
        specs.append(TargetSpec(name, tvm_target, runner, devices))
    seen: dict[tuple[str, str], str] = {}
    for spec in specs:
        key = (str(spec.target), str(spec.runner))
        if key in seen:
            raise SearchConfigError(
                f"targets {seen[key]!r} and {spec.name!r} are the same target measured in the same place "
                f"({spec.target} on {spec.where}); give one of them"
            )
        seen[key] = spec.name
    return specs
