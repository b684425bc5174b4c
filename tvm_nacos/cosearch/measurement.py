"""Measured batches: build, send to the runner, then (when the runs are back) tell the schedule
strategy, count, and run the measure callbacks.

A batch is submitted (:meth:`BatchMeasurer.submit`: built, its runs handed to the runner) and
landed later (:meth:`BatchMeasurer.land`: run results collected, callbacks called). With several
remote devices the search keeps batches in flight while it builds the next
(:class:`~tvm_nacos.cosearch.session.SearchSession`'s ``devices``). On one local device nothing
may run beside a timing, but the host is free while a batch builds: a batch is submitted
*ahead* (``submit(..., ahead=True)``: only handed to the builder), the host proposes the next
one meanwhile, and the batch is run (:meth:`BatchMeasurer.run`, the builder idle) just before
the next one goes to the builder; its results are taken in while that one builds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tvm_nacos._compat import meta_schedule
from tvm_nacos.cosearch.measure_callbacks import MeasureCallback, RemoveBuildArtifacts, remove_build_artifacts
from tvm_nacos.tuning.builder import PendingBuild, start_build
from tvm_nacos.tuning.runner import shutdown_runner

if TYPE_CHECKING:
    from tvm_nacos.cosearch.session import SearchSession, TaskTuner

ms = meta_schedule()

logger = logging.getLogger(__name__)

__all__ = ["BatchMeasurer", "InFlightBatch"]


@dataclass
class InFlightBatch:
    """A batch whose runs were handed to the runner and whose results are not taken yet.

    Attributes
    ----------
    tuner : TaskTuner
        The kernel measured.
    candidates : list
        Its ``ms.MeasureCandidate`` objects.
    builds : list
        The builder's results, one per candidate.
        (Empty while the batch is still building.)
    futures : list of (int, RunnerFuture)
        The runs of the candidates that built, by index in ``candidates``.
    building : PendingBuild, optional
        A batch submitted ahead: its builds, until :meth:`BatchMeasurer.run` takes them.
    results : list of RunnerResult, optional
        Once the runs are back (:meth:`BatchMeasurer.run`), before the batch lands.
    runs_sent : float
        When its runs went to the runner (``time.perf_counter()``).
    """

    tuner: TaskTuner
    candidates: list[Any]
    builds: list[Any]
    futures: list[tuple[int, Any]] = field(default_factory=list)
    building: PendingBuild | None = None
    results: list[Any] | None = None
    runs_sent: float = 0.0

    def done(self) -> bool:
        """Whether the batch can land without waiting: every run has a result, or (submitted
        ahead) every build is back and its runs only wait for the device."""
        if self.building is not None:
            return self.building.done()
        return all(future.done() for _, future in self.futures)

    def __len__(self) -> int:
        return len(self.candidates)


class BatchMeasurer:
    """Measures batches of schedule candidates with one builder and runner.

    MetaSchedule's task scheduler does the same for ``ms.tune_tasks`` (send to builder, send to
    runner, join, callbacks); the co-search drives it one kernel and one batch at a time, so
    that the task pool can grow while the search moves through architectures.

    Parameters
    ----------
    builder, runner
        MetaSchedule builder and runner.
    callbacks : sequence of MeasureCallback
        Called in order after every batch (:func:`~tvm_nacos.cosearch.measure_callbacks.default_callbacks`).
    owns_builder, owns_runner : bool
        Whether :meth:`close` stops the builder's (the runner's) workers: made for this measurer.
    """

    def __init__(
        self, builder: Any, runner: Any, callbacks: Sequence[MeasureCallback], *, owns_builder: bool = False,
        owns_runner: bool = False,
    ) -> None:
        self.builder = builder
        self.runner = runner
        self.callbacks = list(callbacks)
        self.owns_builder = owns_builder
        self.owns_runner = owns_runner

    def close(self, dropped: Sequence[InFlightBatch] = ()) -> None:
        """Stop the builder's and the runner's workers, those this measurer owns.

        ``dropped`` are batches that will never land: their builds are awaited (a worker
        stopped mid-build would leave its folder behind) and, as
        :class:`~tvm_nacos.cosearch.measure_callbacks.RemoveBuildArtifacts` would have done had
        they landed, their artifacts deleted once the workers are stopped.
        """
        builds = []
        for batch in dropped:
            builds.extend(batch.building.result() if batch.building is not None else batch.builds)
        if self.owns_builder and hasattr(self.builder, "shutdown"):
            self.builder.shutdown()
        if self.owns_runner:
            shutdown_runner(self.runner)
        if any(isinstance(callback, RemoveBuildArtifacts) for callback in self.callbacks):
            remove_build_artifacts(builds)

    def submit(
        self, session: SearchSession, tuner: TaskTuner, candidates: list[Any], *, ahead: bool = False
    ) -> InFlightBatch:
        """Build ``candidates`` of ``tuner``'s kernel and hand their runs to the runner; with
        ``ahead``, only hand them to the builder (:meth:`run` runs them).

        The trials count against the budget (and the kernel's trials) from here: a batch in
        flight is spent, so that nothing plans with trials already on their way.
        """
        target = session.target
        inputs = [ms.builder.BuilderInput(c.sch.mod, target) for c in candidates]
        if ahead:
            batch = InFlightBatch(tuner, list(candidates), [], building=start_build(self.builder, inputs))
        else:
            with session.times.phase("build"):
                building = start_build(self.builder, inputs)
                builds = building.result()
            session.times.busy(building.started, building.finished)
            batch = InFlightBatch(tuner, list(candidates), list(builds))
            self._send_runs(session, batch)
        tuner.trials += len(candidates)
        session.spend(len(candidates), tuner.key)
        return batch

    def _send_runs(self, session: SearchSession, batch: InFlightBatch) -> None:
        runnable = [
            (i, ms.runner.RunnerInput(b.artifact_path, session.device_type, c.args_info))
            for i, (c, b) in enumerate(zip(batch.candidates, batch.builds, strict=True))
            if b.error_msg is None
        ]
        batch.runs_sent = time.perf_counter()
        with session.times.phase("run"):
            futures = self.runner.run([r for _, r in runnable])
        batch.futures = [(i, future) for (i, _), future in zip(runnable, futures, strict=True)]

    def run(self, session: SearchSession, batch: InFlightBatch) -> None:
        """Take ``batch``'s run results, waiting for them (a batch submitted ahead: for its builds
        first, then for its runs, the builder idle)."""
        if batch.results is not None:
            return
        if batch.building is not None:
            with session.times.phase("build"):
                batch.builds = list(batch.building.result())
            session.times.busy(batch.building.started, batch.building.finished)
            batch.building = None
            self._send_runs(session, batch)
        results: list[Any] = [ms.runner.RunnerResult(None, b.error_msg) for b in batch.builds]
        with session.times.phase("run"):
            for i, future in batch.futures:
                results[i] = future.result()
        session.times.busy(batch.runs_sent, time.perf_counter())
        batch.results = results

    def land(self, session: SearchSession, batch: InFlightBatch) -> None:
        """Take ``batch``'s run results (waiting for those not back yet), tell its kernel's
        schedule strategy, and run the measure callbacks."""
        self.run(session, batch)
        batch.tuner.context.notify_runner_results(batch.candidates, batch.results)
        for callback in self.callbacks:
            callback.apply(session, batch.tuner.task_id, batch.candidates, batch.builds, batch.results)

    def measure(self, session: SearchSession, tuner: TaskTuner, candidates: list[Any]) -> int:
        """Measure ``candidates`` of ``tuner``'s kernel and land them; returns the trials spent."""
        batch = self.submit(session, tuner, candidates)
        self.land(session, batch)
        return len(batch)
