"""One measured batch: build, run, tell the schedule strategy, count, then the measure callbacks."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tvm_nacos._compat import meta_schedule
from tvm_nacos.cosearch.measure_callbacks import MeasureCallback
from tvm_nacos.tuning.runner import shutdown_runner

if TYPE_CHECKING:
    from tvm_nacos.cosearch.session import SearchSession, TaskTuner

ms = meta_schedule()

logger = logging.getLogger(__name__)

__all__ = ["BatchMeasurer"]


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

    def close(self) -> None:
        """Stop the builder's and the runner's workers, those this measurer owns."""
        if self.owns_builder and hasattr(self.builder, "shutdown"):
            self.builder.shutdown()
        if self.owns_runner:
            shutdown_runner(self.runner)

    def measure(self, session: SearchSession, tuner: TaskTuner, candidates: list[Any]) -> int:
        """Measure ``candidates`` of ``tuner``'s kernel; returns the trials spent (``len(candidates)``)."""
        target = session.target
        with session.times.phase("build"):
            builds = self.builder.build([ms.builder.BuilderInput(c.sch.mod, target) for c in candidates])
        runnable = [
            (i, ms.runner.RunnerInput(b.artifact_path, session.device_type, c.args_info))
            for i, (c, b) in enumerate(zip(candidates, builds, strict=True))
            if b.error_msg is None
        ]
        results: list[Any] = [ms.runner.RunnerResult(None, b.error_msg) for b in builds]
        with session.times.phase("run"):
            futures = self.runner.run([r for _, r in runnable])
            for (i, _), future in zip(runnable, futures, strict=True):
                results[i] = future.result()
        tuner.context.notify_runner_results(candidates, results)
        tuner.trials += len(candidates)
        session.spend(len(candidates), tuner.key)
        for callback in self.callbacks:
            callback.apply(session, tuner.task_id, candidates, builds, results)
        return len(candidates)
