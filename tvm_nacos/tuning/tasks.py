"""From one architecture to tuning tasks, and a task pool shared by every architecture.

The path of one architecture: :class:`~tvm_nacos.passes.SpecializeArch` → inference
simplifications (:func:`simplify_for_inference`: batch norm folded into the preceding
convolution, constants folded) → Relax's ``zero`` pipeline (legalize, fuse, FuseTIR) → fused
TIR kernels, each a MetaSchedule task weighted by how often the network calls it.

Without the fold, batch norm legalizes to kernels of its own that nothing fuses: on 24
NAS-Bench-201 architectures 125 of 137 unique tasks were batch-norm / ReLU / add / pool kernels
and only 12 convolutions. Folded, the convolution absorbs scale and shift and the elementwise
tail fuses into it, so tuning time goes to the kernels that matter.

A kernel that several architectures share is one task in the :class:`TaskPool`, keyed by the
structural hash of its PrimFunc (the same equality as the tuning database), and is tuned once.
Task names are not identifiers: two architectures can give the same name to different kernels.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import tvm
from tvm import relax

from tvm_nacos._compat import (
    META_SCHEDULE_FFI_PREFIX,
    estimate_tir_flops,
    meta_schedule,
    structural_equal,
    structural_hash,
    tir_schedule_class,
    tirx,
)
from tvm_nacos.passes import SpecializeArch
from tvm_nacos.search_space import ArchSample
from tvm_nacos.tuning.inference import inference_specializer, simplify_for_inference
from tvm_nacos.tuning.legalize import LegalizationCache, default_legalization_cache

ms = meta_schedule()

logger = logging.getLogger(__name__)

__all__ = [
    "ArchitectureTasks",
    "PoolTask",
    "TaskPool",
    "argument_bytes",
    "extract_tasks",
    "lower_for_tuning",
    "specialize_for_inference",
    "simplify_for_inference",
    "strip_unknown_schedule_rules",
    "task_key",
    "zero_pipeline",
]

#: Module equality used by task dedup, the tuning database and task extraction alike.
MODULE_EQUALITY = "structural"


#: Block annotation that hands a block to a custom MetaSchedule rule (e.g. legalized pooling).
SCHEDULE_RULE_ATTR = "schedule_rule"


def _has_custom_rule(rule: str, target_keys: Iterable[str]) -> bool:
    return any(
        tvm.get_global_func(f"{META_SCHEDULE_FFI_PREFIX}.{key}.{rule}", allow_missing=True) is not None
        for key in target_keys
    )


def strip_unknown_schedule_rules(mod: tvm.IRModule, target: tvm.target.Target) -> tvm.IRModule:
    """Drop ``schedule_rule`` block annotations that name no rule registered for ``target``.

    Relax legalizes pooling with a ``"meta_schedule.pool_avg"`` / ``"pool_max"`` annotation for
    a custom rule that TVM registers for no CPU target: MetaSchedule then logs "Unknown schedule
    rule" for every design space of every pooling kernel (tens of lines per search) and applies
    its generic rules anyway. Dropping the annotation keeps the same design space (checked in
    the tests) without the noise. Functions without such blocks are returned as they are, so
    their workload keys do not change.
    """
    functions = {}
    changed = False
    keys = tuple(str(key) for key in target.keys)
    for gv, func in mod.functions_items():
        if isinstance(func, tirx.PrimFunc):
            stripped = _STRIPPED.get(func, keys)
            if stripped is not func:
                func, changed = stripped, True
        functions[gv] = func
    if not changed:
        return mod
    return tvm.IRModule(functions, attrs=mod.attrs, global_infos=mod.global_infos)


def _strip_function(func: tirx.PrimFunc, keys: tuple[str, ...]) -> tirx.PrimFunc:
    """``func`` without the ``schedule_rule`` annotations no rule of ``keys`` reads (``func``
    itself when it has none)."""
    sch = tir_schedule_class()(func)
    stripped = False
    todo = [sch.get_sblock("root")] if _has_root(func) else []
    while todo:
        for block in sch.get_child_blocks(todo.pop()):
            rule = sch.get(block).annotations.get(SCHEDULE_RULE_ATTR)
            if rule is not None and not _has_custom_rule(str(rule), keys):
                sch.unannotate(block, SCHEDULE_RULE_ATTR)
                stripped = True
            todo.append(block)
    if not stripped:
        return func
    return sch.mod["main"].with_attrs(dict(func.attrs)) if func.attrs is not None else sch.mod["main"]


class _StrippedKernels:
    """:func:`_strip_function` of the kernels lowered so far, by structural hash and target keys:
    the architectures of a search share most of their kernels, and scheduling each one anew to
    look for annotations cost ~1 ms a kernel (30 ms an architecture on nas-bench-201); a hash is
    ~0.15 ms. A hit is checked for structural equality, so a hash collision only costs time."""

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[int, tuple[str, ...]], tuple[tirx.PrimFunc, tirx.PrimFunc]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, func: tirx.PrimFunc, keys: tuple[str, ...]) -> tirx.PrimFunc:
        key = (int(structural_hash(func)), keys)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is not None and structural_equal(entry[0], func):
            return func if entry[1] is entry[0] else entry[1]
        stripped = _strip_function(func, keys)
        with self._lock:
            self._entries[key] = (func, stripped)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return stripped


_STRIPPED = _StrippedKernels()


def _has_root(func: tirx.PrimFunc) -> bool:
    return type(func.body).__name__ == "SBlockRealize"


def lower_for_tuning(
    mod: tvm.IRModule,
    target: tvm.target.Target,
    *,
    sample: ArchSample | Mapping[str, str] | None = None,
    fold_batch_norm: bool = True,
    specialized: tvm.IRModule | None = None,
    legalization_cache: LegalizationCache | None = None,
) -> tvm.IRModule:
    """Specialize (optionally), simplify and fuse: the module whose PrimFuncs are the tasks.

    Pooling kernels lose their custom-rule annotation where the target has no such rule (see
    :func:`strip_unknown_schedule_rules`).

    Parameters
    ----------
    mod : tvm.IRModule
        A module with choice points (then ``sample`` is required) or a plain one.
    target : tvm.target.Target
        The target the kernels are fused for.
    sample : ArchSample or Mapping, optional
        The architecture to specialize.
    fold_batch_norm : bool
        Apply :func:`simplify_for_inference` (on by default; off only to measure its effect).
    specialized : tvm.IRModule, optional
        :func:`specialize_for_inference` of ``mod`` and ``sample``, if already at hand (then
        ``mod``, ``sample`` and ``fold_batch_norm`` are not read).
    legalization_cache : LegalizationCache, optional
        Where legalized operator calls are kept for the next architecture (by default the
        process's: :func:`~tvm_nacos.tuning.legalize.default_legalization_cache`). The module is
        the one Relax's ``zero`` pipeline gives either way.

    Returns
    -------
    tvm.IRModule
        Relax ``main`` calling fused PrimFuncs. Compile it as it is (``tvm.compile``) after
        applying a tuning database with ``MetaScheduleApplyDatabase``; do not run the zero
        pipeline on it again (``AnnotateTIROpPattern`` would change every workload key).
    """
    if specialized is None:
        specialized = specialize_for_inference(mod, sample=sample, fold_batch_norm=fold_batch_norm)
    cache = legalization_cache if legalization_cache is not None else default_legalization_cache()
    with target:
        fused = zero_pipeline(cache)(specialized)
    return strip_unknown_schedule_rules(fused, target)


def zero_pipeline(legalization_cache: LegalizationCache) -> tvm.transform.Pass:
    """Relax's ``zero`` pipeline (legalize, annotate, fold, fuse, ``FuseTIR``; a database in
    scope applied), its legalization through ``legalization_cache``."""

    @tvm.transform.module_pass(opt_level=0, name="NacosZeroPipeline")
    def _zero(mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        mod = tvm.transform.Sequential([
            legalization_cache.legalize_ops(),
            relax.transform.AnnotateTIROpPattern(),
            relax.transform.FoldConstant(),
            relax.transform.FuseOps(),
            relax.transform.FuseTIR(),
        ])(mod)
        if ms.database.Database.current():
            mod = relax.transform.MetaScheduleApplyDatabase()(mod)
        return mod

    return _zero


def specialize_for_inference(
    mod: tvm.IRModule, *, sample: ArchSample | Mapping[str, str] | None = None, fold_batch_norm: bool = True
) -> tvm.IRModule:
    """What :func:`lower_for_tuning` does before it fuses for a target: specialize ``sample``
    (when given) and :func:`simplify_for_inference` (unless not ``fold_batch_norm``). It does not
    depend on the target: a search over several targets does it once per architecture."""
    if sample is not None and fold_batch_norm:
        return inference_specializer(mod)(sample)  # the supernet's options folded once
    if sample is not None:
        mod = SpecializeArch(sample)(mod)
    return simplify_for_inference(mod) if fold_batch_norm else mod


def extract_tasks(fused: tvm.IRModule, target: tvm.target.Target) -> list[Any]:
    """MetaSchedule tasks (``ExtractedTask``) of a module from :func:`lower_for_tuning`."""
    return list(ms.relax_integration.extract_tasks(fused, target, module_equality=MODULE_EQUALITY))


@dataclass
class PoolTask:
    """One unique kernel of the pool.

    Attributes
    ----------
    key : str
        Hex structural hash of the kernel's module: stable across processes.
    name : str
        Name of the kernel in the first architecture that had it (for humans only).
    mod : tvm.IRModule
        The kernel, as MetaSchedule tunes it (``{"main": PrimFunc}``).
    extracted : ms.ExtractedTask or None
        The extracted task (its ``dispatched`` modules, target and name); ``None`` for a kernel
        taken from an :class:`~tvm_nacos.tuning.extraction_cache.ExtractionCache`.
    architectures : dict[str, int]
        Architecture id → how many times that architecture calls the kernel.
    """

    key: str
    name: str
    mod: tvm.IRModule
    extracted: Any
    architectures: dict[str, int] = field(default_factory=dict)

    @property
    def flop(self) -> float:
        """Floating-point operations of one call (MetaSchedule's estimate)."""
        return float(estimate_tir_flops(self.mod))

    @property
    def argument_bytes(self) -> int:
        """Bytes of the kernel's arguments: what one call reads and writes at least."""
        return argument_bytes(self.mod)


def argument_bytes(mod: tvm.IRModule) -> int:
    """Bytes of the arguments (inputs, weights, outputs) of a kernel ``{"main": PrimFunc}``."""
    total = 0
    for info in ms.arg_info.ArgInfo.from_prim_func(mod["main"]):
        elements = 1
        for extent in info.shape:
            elements *= int(extent)
        total += elements * tvm.runtime.DataType(str(info.dtype)).bits // 8
    return total


@dataclass(frozen=True)
class ArchitectureTasks:
    """The tasks of one architecture: pool keys and call counts.

    Attributes
    ----------
    sample : ArchSample
        The architecture.
    weights : dict[str, int]
        Pool task key → calls per inference.
    """

    sample: ArchSample
    weights: dict[str, int]

    @property
    def num_calls(self) -> int:
        """Kernel calls per inference."""
        return sum(self.weights.values())


def task_key(mod: tvm.IRModule) -> str:
    """Hex structural hash of a kernel module: its identity in pools, ledgers and reports."""
    return f"{int(structural_hash(mod)) & 0xFFFFFFFFFFFFFFFF:016x}"


class TaskPool:
    """The unique kernels of a set of architectures; a shared kernel is one task.

    Parameters
    ----------
    target : tvm.target.Target
        The target the kernels are extracted for.

    Examples
    --------
    .. code-block:: python

        pool = TaskPool(target)
        for sample in samples:
            pool.add_architecture(supernet, sample)
        pool.sharing_ratio()          # kernel occurrences per unique kernel
    """

    def __init__(self, target: tvm.target.Target) -> None:
        self.target = target
        self._tasks: dict[str, PoolTask] = {}
        self._architectures: dict[str, ArchitectureTasks] = {}

    @property
    def tasks(self) -> list[PoolTask]:
        """Unique tasks, in the order they were first seen."""
        return list(self._tasks.values())

    def __len__(self) -> int:
        return len(self._tasks)

    def __getitem__(self, key: str) -> PoolTask:
        return self._tasks[key]

    @property
    def architectures(self) -> dict[str, ArchitectureTasks]:
        """Architecture id → its tasks."""
        return dict(self._architectures)

    @property
    def fewest_kernels(self) -> int:
        """The kernels of the architecture with the fewest (0 without architectures): each needs
        at least one trial before any architecture of the pool is measured."""
        return min((len(arch.weights) for arch in self._architectures.values()), default=0)

    def architecture(self, arch_id: str) -> ArchitectureTasks | None:
        """The tasks of architecture ``arch_id``, or ``None`` when it is not in the pool."""
        return self._architectures.get(arch_id)

    def add_architecture(
        self,
        mod: tvm.IRModule,
        sample: ArchSample | Mapping[str, str],
        *,
        fold_batch_norm: bool = True,
    ) -> ArchitectureTasks:
        """Specialize ``mod`` to ``sample``, extract its tasks and merge them into the pool.

        Returns the architecture's tasks (cached: adding it again costs nothing).
        """
        sample = sample if isinstance(sample, ArchSample) else ArchSample(sample)
        if sample.id in self._architectures:
            return self._architectures[sample.id]
        fused = lower_for_tuning(mod, self.target, sample=sample, fold_batch_norm=fold_batch_norm)
        return self.add_fused(sample, fused)

    def add_fused(self, sample: ArchSample, fused: tvm.IRModule) -> ArchitectureTasks:
        """Merge the tasks of an already lowered architecture (see :func:`lower_for_tuning`).

        Cached like :meth:`add_architecture`: an architecture already in the pool returns its
        tasks without extracting them again.
        """
        if sample.id in self._architectures:
            return self._architectures[sample.id]
        extracted = extract_tasks(fused, self.target)
        kernels = [(task.dispatched[0], str(task.task_name), int(task.weight)) for task in extracted]
        return self.add_kernels(sample, kernels, extracted)

    def add_kernels(
        self, sample: ArchSample, kernels: Sequence[tuple[tvm.IRModule, str, int]], extracted: Sequence[Any] | None = None
    ) -> ArchitectureTasks:
        """Merge an architecture's kernels, each ``(module, name, calls)``: extracted here
        (:meth:`add_fused`) or earlier (:class:`~tvm_nacos.tuning.extraction_cache.ExtractionCache`).

        Cached like :meth:`add_architecture`.
        """
        if sample.id in self._architectures:
            return self._architectures[sample.id]
        weights: dict[str, int] = {}
        for i, (task_mod, name, calls) in enumerate(kernels):
            key = self._find_or_add(task_mod, name, None if extracted is None else extracted[i])
            weights[key] = weights.get(key, 0) + int(calls)
        for key, count in weights.items():
            self._tasks[key].architectures[sample.id] = count
        arch = ArchitectureTasks(sample, weights)
        self._architectures[sample.id] = arch
        logger.debug("architecture %s: %d tasks, %d calls", sample.id, len(weights), arch.num_calls)
        return arch

    def _find_or_add(self, task_mod: tvm.IRModule, name: str, extracted: Any) -> str:
        key = task_key(task_mod)
        existing = self._tasks.get(key)
        if existing is not None:
            if not structural_equal(existing.mod, task_mod):  # a hash collision: keep both
                key = f"{key}-{len(self._tasks)}"
            else:
                return key
        self._tasks[key] = PoolTask(key, name, task_mod, extracted)
        return key

    def sharing_ratio(self, architecture_ids: Iterable[str] | None = None) -> float:
        """Task occurrences summed over architectures, divided by unique tasks among them.

        1.0 means no two architectures share a kernel; higher means tuning one task serves
        several architectures.
        """
        ids = list(self._architectures) if architecture_ids is None else list(architecture_ids)
        occurrences = sum(len(self._architectures[i].weights) for i in ids)
        unique = {key for i in ids for key in self._architectures[i].weights}
        return occurrences / len(unique) if unique else 0.0
