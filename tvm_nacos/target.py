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


def _core_count() -> int:
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
    detected["num-cores"] = num_cores or _core_count()
    detected.pop("tag", None)
    target = tvm.target.Target(detected)
    logger.debug("host target: %s", target)
    return target


def as_target(target: tvm.target.Target | Mapping[str, Any] | str | None) -> tvm.target.Target:
    """Turn ``None`` (the host CPU), a dict, a JSON string or a Target into a :class:`tvm.target.Target`.

    Raises
    ------
    TargetError
        The JSON is malformed or TVM rejects the description; the message quotes it.
    """
    if target is None:
        return host_target()
    if isinstance(target, tvm.target.Target):
        return target
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
    try:
        return tvm.target.Target(dict(target))
    except Exception as err:  # TVM raises its own error types here
        raise TargetError(f"TVM rejects target {dict(target)!r}: {err}") from err


def device_for(target: tvm.target.Target, index: int = 0) -> Any:
    """The local device that runs code built for ``target`` (``llvm`` → CPU)."""
    kind = target.kind.name
    return tvm.device("cpu" if kind in ("llvm", "c") else kind, index)
