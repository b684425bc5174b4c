"""Targets: the host CPU by default, any TVM target dict otherwise."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

import tvm

from tvm_nacos.errors import NacosError

logger = logging.getLogger(__name__)


class TargetError(NacosError, ValueError):
    """A target description that TVM cannot parse."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity; every core where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def host_target(num_cores: int | None = None) -> tvm.target.Target:
    """The host CPU as an LLVM target, with its real ``mcpu`` and core count.

    ``{"kind": "llvm"}`` alone compiles for generic x86-64 (no AVX-512): a tuned matmul runs
    about 3× slower than with the host's ``mcpu``, and ``"mcpu": "native"`` is rejected by
    LLVM. :meth:`tvm.target.Target.from_device` finds the CPU; we add ``num-cores`` so that
    MetaSchedule plans parallelism for the cores this process may use.

    Parameters
    ----------
    num_cores : int, optional
        Cores to plan for; by default those this process may run on.
    """
    detected = dict(tvm.target.Target.from_device(tvm.cpu()).export())
    detected["num-cores"] = num_cores or usable_cores()
    detected.pop("tag", None)
    target = tvm.target.Target(detected)
    logger.debug("host target: %s", target)
    return target


def as_target(target: tvm.target.Target | Mapping[str, Any] | str | None) -> tvm.target.Target:
    """Turn ``None`` (the host CPU), a dict, a JSON string or a Target into a checked :class:`tvm.target.Target`.

    An LLVM target without ``num-cores`` gets this host's core count (MetaSchedule cannot
    plan parallel loops without it), logged; one without ``mcpu`` is accepted with a warning
    (see :func:`check_target`).

    Raises
    ------
    TargetError
        The JSON is malformed, TVM rejects the description, or the target cannot be tuned
        (the message quotes it and says what to write instead).
    """
    if target is None:
        return host_target()
    if isinstance(target, tvm.target.Target):
        return check_target(target)
    if isinstance(target, str):
        text = target.strip()
        if not text.startswith("{"):
            raise TargetError(
                f"target {target!r} is not a JSON object; TVM 0.27 takes target dicts such as "
                '{"kind": "llvm", "mcpu": "znver4", "num-cores": 2} or {"kind": "cuda"}'
            )
        try:
            target = json.loads(text)
        except json.JSONDecodeError as err:
            raise TargetError(
                f"target {text!r} is not valid JSON: {err}; write a JSON object such as "
                '{"kind": "llvm", "mcpu": "znver4", "num-cores": 2}'
            ) from err
    if not isinstance(target, Mapping):
        raise TargetError(f"target must be a tvm.target.Target, a dict or a JSON object, not {type(target).__name__}")
    try:
        parsed = tvm.target.Target(dict(target))
    except Exception as err:  # noqa: BLE001 - TVM raises its own error types here
        raise TargetError(f"TVM rejects target {dict(target)!r}: {err}") from err
    return check_target(parsed)


#: Targets already warned about a missing ``mcpu`` (once per target and process, as ``warnings`` does).
_WARNED_GENERIC: set[str] = set()


def check_target(target: tvm.target.Target) -> tvm.target.Target:
    """``target``, completed where MetaSchedule needs it, or a :class:`TargetError` now rather
    than deep inside the first tuning task.

    - LLVM without ``num-cores``: MetaSchedule's CPU rules fail with "Target does not have
      attribute num-cores". For this host's triple the host's core count is added (and
      logged); for another triple (a cross-compiled board) the count cannot be guessed.
    - LLVM without ``mcpu``: compiles for the generic CPU of its triple (no AVX-512 on x86):
      a tuned matmul ran 3× slower here than with the host's ``mcpu``. Accepted with a warning.
    """
    if target.kind.name != "llvm":
        return target
    attrs = dict(target.export())
    host_triple = str(tvm.target.Target({"kind": "llvm"}).export().get("mtriple", ""))
    triple = str(attrs.get("mtriple", "") or host_triple)
    if attrs.get("num-cores") is None:
        if triple != host_triple:
            raise TargetError(
                f"target {target} has no num-cores, and its triple {triple!r} is not this host's ({host_triple!r}), so "
                'the core count cannot be guessed: add "num-cores": N (the cores of the device it runs on)'
            )
        attrs["num-cores"] = usable_cores()
        attrs.pop("tag", None)
        target = tvm.target.Target(attrs)
        logger.info("target has no num-cores: tuning for this host's %d cores (%s)", attrs["num-cores"], target)
    if not attrs.get("mcpu") and str(target) not in _WARNED_GENERIC:
        _WARNED_GENERIC.add(str(target))
        host_cpu = str(tvm.target.Target.from_device(tvm.cpu()).export().get("mcpu", "")) if triple == host_triple else ""
        logger.warning(
            "target %s has no mcpu: LLVM compiles for the generic CPU of %s (no AVX-512 on x86), and a tuned matmul "
            "ran 3x slower than with the real one; add \"mcpu\"%s or use tvm_nacos.host_target()",
            target, triple, f' (this host: "{host_cpu}")' if host_cpu else "",
        )
    return target


def device_for(target: tvm.target.Target, index: int = 0) -> Any:
    """The local device that runs code built for ``target`` (``llvm`` → CPU)."""
    kind = target.kind.name
    return tvm.device("cpu" if kind in ("llvm", "c") else kind, index)
