"""Architecture strategies: which architectures a search looks at and which kernel it measures next.

A strategy is a function ``run(session, **options) -> list[ArchSample]`` that spends the
session's budget (:class:`~tvm_nacos.cosearch.session.SearchSession`) and returns the
architectures whose kernels were all measured; :func:`tvm_nacos.search` then times the front
end to end. Its options are its keyword-only parameters. (The per-kernel schedule strategy that
MetaSchedule drives is :class:`~tvm_nacos.cosearch.schedule_strategy.NACOSSearchStrategy`.)

Measurements land late. ``session.measure(key)`` sends a batch and returns: on one local
device the batch builds while the strategy proposes the next one (building ahead), on remote
devices several batches are in flight at once. A batch's results reach the database, the cost
model and the session's estimates (``session.estimate``, ``session.measured_front()``) when the
next batch is sent, or at ``session.wait_for_any()`` / ``session.wait_all()``. A strategy that
reads what it just measured calls ``session.wait_all()`` first (the built-in strategies do).

A search over several targets (``search(..., targets=...)``) runs a strategy's
``across_targets(sessions, **options) -> {name: list[ArchSample]}`` when it has one (the joint
strategy's shares one exploration of the architectures among the targets), else the strategy
on each target's session in turn (:func:`get_strategy_across_targets`).

The registry maps names to ``"module:function"`` and imports a strategy on first use, so the
command line can list the names without importing TVM. Register your own with
:func:`register_strategy`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from tvm_nacos.errors import SearchConfigError

__all__ = [
    "get_strategy",
    "get_strategy_across_targets",
    "register_strategy",
    "strategy_names",
    "strategy_options",
]

_REGISTRY: dict[str, str | Callable[..., Any]] = {
    "joint": "tvm_nacos.cosearch.strategies.joint:run_joint",
    "two-stage": "tvm_nacos.cosearch.strategies.two_stage:run_two_stage",
    "random": "tvm_nacos.cosearch.strategies.random_search:run_random",
    "exhaustive": "tvm_nacos.cosearch.strategies.exhaustive:run_exhaustive",
}


def strategy_names() -> tuple[str, ...]:
    """The registered strategies, the default (``joint``) first."""
    return tuple(_REGISTRY)


def register_strategy(name: str, run: Callable[..., Any] | str, *, override: bool = False) -> None:
    """Make ``run`` (or ``"module:function"``) available as ``search(..., strategy=name)``.

    Raises
    ------
    SearchConfigError
        ``name`` is taken and ``override`` is not set.
    """
    if name in _REGISTRY and not override:
        raise SearchConfigError(f"strategy {name!r} is already registered; pass override=True to replace it")
    _REGISTRY[name] = run


def get_strategy(name: str) -> Callable[..., Any]:
    """The strategy registered as ``name``.

    Raises
    ------
    SearchConfigError
        No strategy has that name (the message lists the valid ones).
    """
    if name not in _REGISTRY:
        raise SearchConfigError(f"unknown strategy {name!r}; valid: {sorted(_REGISTRY)}")
    entry = _REGISTRY[name]
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
    return entry


def get_strategy_across_targets(name: str) -> Callable[..., dict[str, Any]]:
    """Strategy ``name`` for several targets: ``run(sessions, **options) -> {target name:
    fully measured architectures}``; its ``across_targets`` if it has one, else the strategy on
    each session in turn.

    Raises
    ------
    SearchConfigError
        No strategy has that name.
    """
    run = get_strategy(name)
    across = getattr(run, "across_targets", None)
    if across is not None:
        return across

    def in_turn(sessions: Any, **options: Any) -> dict[str, Any]:
        return {target: run(session, **options) for target, session in sessions.items()}

    return in_turn


def strategy_options(name: str) -> list[str]:
    """The options (keyword-only parameters) that strategy ``name`` takes, sorted."""
    parameters = inspect.signature(get_strategy(name)).parameters
    return sorted(n for n, p in parameters.items() if p.kind is p.KEYWORD_ONLY)
