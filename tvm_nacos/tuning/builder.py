"""A MetaSchedule builder whose worker processes live across batches.

The stock ``LocalBuilder`` starts a new process pool for every batch, and every worker imports
all tensor intrinsics (~25 s here) before it compiles anything: at 16 candidates per batch,
tuning runs at about 27 trials a minute on a 2-core host. :class:`PersistentBuilder` keeps one
pool for the whole session. Its workers import TVM once and never import the intrinsics
(candidates arrive already scheduled and tensorized), and each is recycled after a number of
builds to bound the memory its LLVM contexts accumulate. A worker that crashes or exceeds the
timeout is replaced, and its candidate is reported as a build error with the reason: the tuning
session never stalls.

With ``check_outputs=True`` the builder also prepares the output check of
:mod:`tvm_nacos.tuning.check`: the reference outputs of each task's unscheduled kernel, and
beside each artifact the file that tells the runner where they are.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import tvm
from tvm.ir.utils import derived_object
from tvm.support.popen_pool import PopenPoolExecutor, StatusKind

from tvm_nacos._compat import meta_schedule, remove_weight_layout_rewrite_block, structural_equal
from tvm_nacos.target import usable_cores
from tvm_nacos.tuning.check import ReferenceStore, write_check_file

ms = meta_schedule()

logger = logging.getLogger(__name__)

__all__ = ["PendingBuild", "PersistentBuilder", "build_candidate", "start_build", "without_layout_rewrite"]

#: Signature of a build function: (scheduled TIR module, target) → path of the exported library.
#: With ``keep_layout_rewrite=True`` (asked only by the output check) it must keep the blocks that
#: rewrite weight layouts, so that the library takes the weights in their original layout.
BuildFunction = Callable[..., str]


def without_layout_rewrite(mod: tvm.IRModule) -> tvm.IRModule:
    """``mod`` without its weight-layout-rewrite blocks, as a candidate is built for timing
    (MetaSchedule's builder does the same): the rewrite runs once, ahead of inference, in a
    compiled network."""
    return remove_weight_layout_rewrite_block(skip_tensor_rewrite=True)(mod)


def build_candidate(mod: tvm.IRModule, target: tvm.target.Target, *, keep_layout_rewrite: bool = False) -> str:
    """Compile one scheduled candidate and write it where the runner loads it from.

    Runs in a builder worker. Unlike MetaSchedule's ``default_build`` it does not import the
    tensor intrinsics, which compiled candidates do not need. Blocks that rewrite the layout of
    weights are removed (the compiled network rewrites constant weights once, ahead of time),
    unless ``keep_layout_rewrite``.

    A CPU candidate is one LLVM module without imports: it is written as a plain object file
    (``candidate.o``), which ``tvm.runtime.load_module`` links as it links a tar's contents.
    That skips the temporary folder, the copy and the ``tar -czf`` subprocess of
    ``export_library`` here, and the ``tar -xf`` subprocess in the runner. A module with imports
    (a GPU kernel under its host module) is exported as a tar, as MetaSchedule does.
    """
    import warnings

    from tvm.support.tar import tar

    from tvm_nacos._compat import tirx

    if not keep_layout_rewrite:
        mod = without_layout_rewrite(mod)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        rt_mod = tirx.build(mod, target=target)
    folder = tempfile.mkdtemp(prefix="nacos-build-")
    if rt_mod.kind == "llvm" and not rt_mod.imports:
        path = os.path.join(folder, "candidate.o")
        rt_mod.write_to_file(path)
    else:
        path = os.path.join(folder, "candidate." + tar.output_format)
        rt_mod.export_library(path, fcompile=tar)
    return path


def _last_line(text: str) -> str:
    """The error itself, without the worker's traceback."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else text


def _noop() -> None:
    """Nothing: submitted to make a worker start."""


def _build_in_worker(f_build: BuildFunction, mod: tvm.IRModule, target: tvm.target.Target) -> str:
    return f_build(mod, target)


def _build_checked_in_worker(
    f_build: BuildFunction, mod: tvm.IRModule, target: tvm.target.Target
) -> tuple[str, str | None]:
    """The timed artifact, and (only for a candidate that rewrites weight layouts) one that
    takes the original layouts, for the output check."""
    path = f_build(mod, target)
    if structural_equal(without_layout_rewrite(mod), mod):
        return path, None
    built = f_build(mod, target, keep_layout_rewrite=True)
    # Beside the timed artifact, so that deleting that artifact's folder deletes both.
    check_path = os.path.join(os.path.dirname(path), "check-" + os.path.basename(built))
    shutil.move(built, check_path)
    if not os.listdir(os.path.dirname(built)):
        os.rmdir(os.path.dirname(built))
    return path, check_path


class PendingBuild:
    """A batch handed to a builder: its ``BuilderResult`` list once every build is back.

    :meth:`PersistentBuilder.build_async` returns one while its workers compile; the host is
    free meanwhile (the co-search proposes its next batch). ``started`` and ``finished`` are
    ``time.perf_counter()`` readings: when the batch went out and when its last build came back
    (``None`` until then).

    Parameters
    ----------
    futures : sequence of Future
        One per input, in order.
    collect : callable
        ``futures -> list of BuilderResult``, called once, by :meth:`result`.
    """

    def __init__(self, futures: Sequence[Future], collect: Callable[[Sequence[Future]], list[Any]]) -> None:
        self.futures = list(futures)
        self._collect = collect
        self._results: list[Any] | None = None
        self.started = time.perf_counter()
        self.finished: float | None = None if self.futures else self.started
        self._left = len(self.futures)
        self._lock = threading.Lock()
        for future in self.futures:
            future.add_done_callback(self._one_done)

    @classmethod
    def completed(cls, results: Sequence[Any], started: float) -> PendingBuild:
        """A batch built already (by a builder without :meth:`~PersistentBuilder.build_async`)."""
        pending = cls([], lambda _: list(results))
        pending.started = started
        return pending

    def _one_done(self, _: Future) -> None:
        with self._lock:
            self._left -= 1
            if self._left == 0:
                self.finished = time.perf_counter()

    def done(self) -> bool:
        """Whether every build of the batch is back."""
        return all(future.done() for future in self.futures)

    def result(self) -> list[Any]:
        """The ``BuilderResult`` of each input, in order (waits for the builds still running)."""
        if self._results is None:
            self._results = self._collect(self.futures)
            if self.finished is None:  # the last callback may run just after the wait returns
                self.finished = time.perf_counter()
        return self._results


def start_build(builder: Any, build_inputs: Sequence[Any]) -> PendingBuild:
    """Hand ``build_inputs`` to ``builder``: in the background where it can
    (:meth:`PersistentBuilder.build_async`), else built now."""
    if hasattr(builder, "build_async"):
        return builder.build_async(list(build_inputs))
    started = time.perf_counter()
    return PendingBuild.completed(builder.build(list(build_inputs)), started)


def _outcome(future: Future) -> tuple[Any, Any]:
    """(status, value) of a worker's job, as the pool's ``map_with_error_catching`` reports it."""
    try:
        return StatusKind.COMPLETE, future.result()
    except TimeoutError as err:
        return StatusKind.TIMEOUT, err
    except Exception as err:  # noqa: BLE001 - a build's own error becomes its result
        return StatusKind.EXCEPTION, err


@derived_object
class PersistentBuilder(ms.builder.PyBuilder):
    """MetaSchedule builder with a persistent, self-healing worker pool.

    Parameters
    ----------
    max_workers : int, optional
        Worker processes; the number of cores by default.
    timeout_sec : float
        A build that takes longer is killed, its worker replaced, and the candidate reported as
        a build error.
    builds_per_worker : int
        A worker is replaced after this many builds.
    f_build : callable, optional
        ``(mod, target) -> artifact path``; :func:`build_candidate` by default. It must be
        importable by name in a worker (a module-level function or a picklable object). With
        ``check_outputs`` it must also take ``keep_layout_rewrite=True`` (see :data:`BuildFunction`).
    check_outputs : bool
        Prepare the output check (see :mod:`tvm_nacos.tuning.check`): give the builder each
        task's unscheduled kernel with :meth:`add_reference`, and measure with the checking
        runner, ``make_runner("local", measure=MeasureConfig(check_outputs=True))``.

    Examples
    --------
    .. code-block:: python

        builder = PersistentBuilder(max_workers=2)
        ms.tune_tasks(tasks=..., builder=builder, runner=..., ...)
        builder.shutdown()
    """

    def __init__(
        self,
        max_workers: int | None = None,
        timeout_sec: float = 60.0,
        builds_per_worker: int = 256,
        f_build: BuildFunction | None = None,
        check_outputs: bool = False,
    ) -> None:
        super().__init__()
        if timeout_sec <= 0:
            raise ValueError(f"timeout_sec must be positive, got {timeout_sec}")
        if builds_per_worker < 1:
            raise ValueError(f"builds_per_worker must be at least 1, got {builds_per_worker}")
        self.max_workers = max_workers or usable_cores()
        self.timeout_sec = timeout_sec
        self.builds_per_worker = builds_per_worker
        self.f_build = f_build or build_candidate
        self._pool: PopenPoolExecutor | None = None
        self.num_builds = 0
        self.num_failures = 0
        self.check_outputs = check_outputs
        self._references: ReferenceStore | None = None

    def _get_pool(self) -> PopenPoolExecutor:
        if self._pool is None:
            logger.debug("starting %d builder workers", self.max_workers)
            self._pool = PopenPoolExecutor(
                max_workers=self.max_workers,
                timeout=self.timeout_sec,
                maximum_process_uses=self.builds_per_worker,
            )
        return self._pool

    def warm_up(self) -> None:
        """Start the workers now, in the background, so the first batch does not wait for them."""
        pool = self._get_pool()
        for _ in range(self.max_workers):
            pool.submit(_noop)

    @property
    def references(self) -> ReferenceStore:
        """The unscheduled kernels candidates are checked against (``check_outputs`` only)."""
        if not self.check_outputs:
            raise ValueError("this builder does not check outputs; create it with check_outputs=True")
        if self._references is None:
            self._references = ReferenceStore(tempfile.mkdtemp(prefix="nacos-reference-"))
        return self._references

    def add_reference(self, mod: tvm.IRModule) -> str:
        """Check the candidates of the kernel ``mod`` against it (``mod`` unscheduled, as tuned).

        Its reference outputs are computed when its first candidate is built. Returns its key.
        """
        return self.references.add(mod)

    def build(self, build_inputs: list[Any]) -> list[Any]:
        """Build a batch; one :class:`BuilderResult` per input, in order."""
        return self.build_async(build_inputs).result()

    def build_async(self, build_inputs: list[Any]) -> PendingBuild:
        """Hand a batch to the workers and return at once; its results come from the
        :class:`PendingBuild` (:meth:`build` waits for them)."""
        pool = self._get_pool()
        worker = _build_checked_in_worker if self.check_outputs else _build_in_worker
        futures = [pool.submit(worker, self.f_build, b.mod, b.target) for b in build_inputs]
        inputs = list(build_inputs)
        return PendingBuild(futures, lambda done: self._results(inputs, [_outcome(f) for f in done]))

    def _results(self, build_inputs: list[Any], outcomes: list[tuple[Any, Any]]) -> list[Any]:
        results = []
        for build_input, (status, value) in zip(build_inputs, outcomes, strict=True):
            self.num_builds += 1
            if status == StatusKind.COMPLETE:
                path = value
                if self.check_outputs:
                    path, check_path = value
                    try:
                        references = self.references.references_for(build_input.mod, build_input.target)
                    except RuntimeError as err:
                        self.num_failures += 1
                        results.append(ms.builder.BuilderResult(None, f"PersistentBuilder: output check: {err}"))
                        continue
                    write_check_file(path, check_artifact=check_path, references=references)
                results.append(ms.builder.BuilderResult(path, None))
                continue
            self.num_failures += 1
            if status == StatusKind.TIMEOUT:
                reason = f"PersistentBuilder: build timed out after {self.timeout_sec:g} s; worker replaced"
            elif isinstance(value, ChildProcessError):
                reason = f"PersistentBuilder: build worker crashed ({value}); worker replaced"
            else:
                logger.debug("build failed: %s", value)
                reason = f"PersistentBuilder: build failed: {_last_line(str(value))}"
            logger.debug("%s", reason)
            results.append(ms.builder.BuilderResult(None, reason))
        return results

    def shutdown(self) -> None:
        """Stop the workers (a later :meth:`build` starts new ones). Reference outputs stay
        until the builder is deleted: artifacts built so far can still be checked."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __del__(self) -> None:
        try:
            self.shutdown()
            if self._references is not None:
                self._references.clear_files()
        except Exception:
            pass
