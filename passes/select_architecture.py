"""SelectArchitecture: specialize a supernet to the architecture of a search's front that a rule picks."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import tvm

from tvm_nacos.errors import SearchConfigError, WorkDirError
from tvm_nacos.passes.specialize_arch import SpecializeArch
from tvm_nacos.search_space import ArchSample

__all__ = ["PREFERENCES", "SelectArchitecture", "select_point"]

#: How :func:`select_point` orders the architectures that meet the constraints.
PREFERENCES = ("fastest", "most-accurate")

Preference = Literal["fastest", "most-accurate"]


def _accuracy(point: Mapping[str, Any]) -> float:
    value = point.get("accuracy")
    return -math.inf if value is None else float(value)


def _describe(points: Sequence[Mapping[str, Any]]) -> str:
    if not points:
        return "the front is empty"
    accuracies = [_accuracy(p) for p in points]
    latencies = [float(p["latency_ms"]) for p in points]
    return (
        f"the front's {len(points)} architectures span accuracy {min(accuracies):g}..{max(accuracies):g} "
        f"and latency {min(latencies):g}..{max(latencies):g} ms"
    )


def select_point(
    result: Mapping[str, Any],
    *,
    arch_id: str | None = None,
    min_accuracy: float | None = None,
    max_latency_ms: float | None = None,
    prefer: Preference = "fastest",
) -> Mapping[str, Any]:
    """The point of a search's ``pareto.json`` that a rule picks.

    ``arch_id`` picks that architecture (of the front, or any the search evaluated). Otherwise
    the front's architectures with ``accuracy >= min_accuracy`` and ``latency_ms <=
    max_latency_ms`` are kept, and the fastest (``prefer="fastest"``) or the most accurate
    (``prefer="most-accurate"``; the faster of equals) is picked. Ties go to the one listed
    first. With no rule at all this is the fastest of the front, as ``tvm-nacos compile`` picks.

    Parameters
    ----------
    result : Mapping
        A parsed ``pareto.json`` (``pareto`` and ``evaluated`` lists of points with
        ``arch_id``, ``sample``, ``accuracy``, ``latency_ms``).
    arch_id : str, optional
        An architecture by id; not together with the other rules.
    min_accuracy, max_latency_ms : float, optional
        Constraints on the front's architectures.
    prefer : {"fastest", "most-accurate"}
        Which of the architectures meeting the constraints.

    Returns
    -------
    Mapping
        The point (``arch_id``, ``sample``, ``accuracy``, ``latency_ms`` ...).

    Raises
    ------
    SearchConfigError
        An unknown ``prefer``; ``arch_id`` together with a constraint; no architecture meets
        the constraints (the message says what the front offers).
    WorkDirError
        An unknown ``arch_id`` (the message lists the front's ids).
    """
    if prefer not in PREFERENCES:
        raise SearchConfigError(f"prefer must be one of {list(PREFERENCES)}, got {prefer!r}")
    front = list(result.get("pareto", []))
    if arch_id is not None:
        if min_accuracy is not None or max_latency_ms is not None:
            raise SearchConfigError(
                f"give an architecture id or constraints, not both (arch_id={arch_id!r}, "
                f"min_accuracy={min_accuracy!r}, max_latency_ms={max_latency_ms!r})"
            )
        # Looked up as ``tvm-nacos compile --arch`` does: the front, then every evaluated one.
        points = {str(p["arch_id"]): p for p in [*result.get("evaluated", []), *front]}
        if arch_id not in points:
            raise WorkDirError(
                f"no architecture {arch_id!r} in this search; the front has {[str(p['arch_id']) for p in front]} "
                f"(pareto.csv lists all {len(points)} measured ones)"
            )
        return points[arch_id]
    meets = [
        p for p in front
        if (min_accuracy is None or _accuracy(p) >= min_accuracy)
        and (max_latency_ms is None or float(p["latency_ms"]) <= max_latency_ms)
    ]
    if not meets:
        raise SearchConfigError(
            f"no architecture of the front has accuracy >= {min_accuracy} and latency <= {max_latency_ms} ms; "
            f"{_describe(front)}"
        )
    if prefer == "fastest":
        return min(meets, key=lambda p: float(p["latency_ms"]))
    return min(meets, key=lambda p: (-_accuracy(p), float(p["latency_ms"])))


@tvm.transform.module_pass(opt_level=0, name="SelectArchitecture")
class SelectArchitecture:
    """Specialize a supernet to one architecture of a finished search, picked by a rule.

    The pick is made once, when the pass is created (:func:`select_point`: an id, accuracy and
    latency constraints, fastest or most accurate), so a rule that picks nothing fails there,
    not inside ``tvm.compile``; applying the pass is
    :class:`~tvm_nacos.passes.SpecializeArch` of that architecture. It is the first step of
    :func:`tvm_nacos.pipeline.architecture_pipeline`, which also applies the tuned kernels.

    Parameters
    ----------
    result : Mapping
        A search's parsed ``pareto.json``; read one from a work directory with
        :func:`tvm_nacos.pipeline.select_architecture`.
    arch_id : str, optional
        The architecture with this id (of the front or any the search evaluated).
    min_accuracy, max_latency_ms : float, optional
        Keep the front's architectures at least this accurate and at most this slow.
    prefer : {"fastest", "most-accurate"}
        Which of those to pick.

    Attributes
    ----------
    sample : ArchSample
        The architecture picked.
    point : Mapping
        Its point of the front (``arch_id``, ``accuracy``, ``latency_ms``, ...).

    Raises
    ------
    SearchConfigError, WorkDirError
        As :func:`select_point`.

    Examples
    --------
    The most accurate architecture within 2 ms, from the supernet the search ran on:

    .. code-block:: python

        select = tvm_nacos.pipeline.select_architecture("nacos-work", max_latency_ms=2.0, prefer="most-accurate")
        select.sample           # ArchSample({"block.kernel": "k3"})
        arch = select(supernet) # supernet has choice points; arch has none

    Before, a ``main`` calling a choice point (a private stub whose options are ``k1``/``k3``):

    .. code-block:: python

        @R.function
        def main(x: R.Tensor((1, 4, 8, 8), "float32")) -> R.Tensor((1, 4, 8, 8), "float32"):
            with R.dataflow():
                lv = Supernet.choice__block_kernel(x)
                R.output(lv)
            return lv

    After, the picked option inlined and the others gone:

    .. code-block:: python

        @R.function
        def main(x: R.Tensor((1, 4, 8, 8), "float32")) -> R.Tensor((1, 4, 8, 8), "float32"):
            with R.dataflow():
                lv = R.nn.conv2d(x, metadata["ir.GenericConst"][0], padding=[1, 1, 1, 1])
                R.output(lv)
            return lv
    """

    def __init__(
        self,
        result: Mapping[str, Any],
        *,
        arch_id: str | None = None,
        min_accuracy: float | None = None,
        max_latency_ms: float | None = None,
        prefer: Preference = "fastest",
    ) -> None:
        self.point = select_point(
            result, arch_id=arch_id, min_accuracy=min_accuracy, max_latency_ms=max_latency_ms, prefer=prefer
        )
        self.sample = ArchSample(self.point["sample"])

    def transform_module(self, mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        return SpecializeArch(self.sample)(mod)
