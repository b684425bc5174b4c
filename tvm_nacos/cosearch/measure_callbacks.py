"""What happens to a measured batch: measure callbacks in MetaSchedule's form.

MetaSchedule splits the bookkeeping after a measurement into ``MeasureCallback`` objects
(``AddToDatabase``, ``UpdateCostModel``, ``RemoveBuildArtifact``) that its task scheduler calls
with ``(task_scheduler, task_id, measure_candidates, builder_results, runner_results)``. The
co-search does the same: :class:`~tvm_nacos.cosearch.measurement.BatchMeasurer` calls each
callback of :func:`default_callbacks` in order, with the
:class:`~tvm_nacos.cosearch.session.SearchSession` in the task scheduler's place and the
kernel's index in the session as ``task_id`` (``session.task(task_id)`` is its
:class:`~tvm_nacos.cosearch.session.TaskTuner`). The tuner's and the session's trial counts
already include the batch when the callbacks run.

A callback of your own subclasses :class:`MeasureCallback` and goes into
``SearchSession(measure_callbacks=...)``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tvm_nacos._compat import meta_schedule
from tvm_nacos.tuning.database import FAILED_RUN_SECS, mean_run_secs

if TYPE_CHECKING:
    from tvm_nacos.cosearch.session import SearchSession

ms = meta_schedule()

__all__ = [
    "AddToSearchDatabase",
    "LogFailures",
    "MeasureCallback",
    "RemoveBuildArtifacts",
    "ReportProgress",
    "SaveCheckpoint",
    "ShareBestSchedules",
    "UpdateSharedCostModel",
    "default_callbacks",
    "remove_build_artifacts",
    "succeeded",
]


def succeeded(result: Any) -> bool:
    """Whether a runner result holds run times (its build and run both worked)."""
    return result.error_msg is None and bool(result.run_secs)


class MeasureCallback(ms.measure_callback.PyMeasureCallback):
    """A step after every measured batch (MetaSchedule's ``PyMeasureCallback`` signature).

    In the co-search, ``task_scheduler`` is the :class:`~tvm_nacos.cosearch.session.SearchSession`.
    """

    def apply(
        self,
        task_scheduler: SearchSession,
        task_id: int,
        measure_candidates: Sequence[Any],
        builder_results: Sequence[Any],
        runner_results: Sequence[Any],
    ) -> None:
        raise NotImplementedError


class AddToSearchDatabase(MeasureCallback):
    """Append every candidate to the tuning database (failed ones with MetaSchedule's failure time).

    A schedule transferred from an anchor sibling whose trace does not replay on the kernel by
    itself cannot be a database record: its mean run time is kept in the session's
    ``anchors.transfers`` instead (``None`` when it failed), and compiling re-derives the schedule
    (:func:`tvm_nacos.tuning.database.apply_tuned_schedules`).
    """

    def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results) -> None:
        session, tuner = task_scheduler, task_scheduler.task(task_id)
        for candidate, result in zip(measure_candidates, runner_results, strict=True):
            ok = succeeded(result)
            run_secs = result.run_secs if ok else [FAILED_RUN_SECS * 10]
            if tuner.is_unreplayable_transfer(candidate):
                session.anchors.transfers[tuner.key] = mean_run_secs(run_secs) if ok else None
            else:
                session.database.commit_tuning_record(
                    ms.database.TuningRecord(
                        candidate.sch.trace, tuner.workload, [float(x) for x in run_secs], session.target,
                        candidate.args_info,
                    )
                )


class ShareBestSchedules(MeasureCallback):
    """Keep each kernel's best run time, and offer a new best schedule to its anchor siblings."""

    def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results) -> None:
        session, tuner = task_scheduler, task_scheduler.task(task_id)
        for candidate, result in zip(measure_candidates, runner_results, strict=True):
            if not succeeded(result):
                continue
            secs = mean_run_secs(result.run_secs)
            transferred = tuner.is_transfer(candidate)
            if transferred:
                session.anchors.num_transfers += 1
            if tuner.best_secs is None or secs < tuner.best_secs:
                tuner.best_secs = secs
                if not transferred:
                    session.anchors.share(tuner.mod, candidate.sch.trace, result.run_secs, candidate.args_info)


class LogFailures(MeasureCallback):
    """Count failed candidates by reason and append each reason to the checkpoint's failure log."""

    def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results) -> None:
        session, tuner = task_scheduler, task_scheduler.task(task_id)
        first_trial = session.trials_used - len(measure_candidates)
        for result in runner_results:
            if not succeeded(result):
                session.record_failure(tuner.name, result.error_msg or "no run time", trial=first_trial)


class UpdateSharedCostModel(MeasureCallback):
    """Train the cost model that every kernel of every architecture shares on the batch."""

    def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results) -> None:
        session = task_scheduler
        with session.times.phase("cost model"):
            session.cost_model.update(session.task(task_id).context, list(measure_candidates), list(runner_results))


class RemoveBuildArtifacts(MeasureCallback):
    """Delete the temporary folders of the batch's build artifacts (MetaSchedule's
    ``RemoveBuildArtifact``, limited to folders our builders create under the temp dir), but the
    new best of its kernel, if the batch has one: that one goes to the session's
    ``best_artifacts`` (the front's kernels are run again at the end,
    :mod:`~tvm_nacos.cosearch.kernel_retiming`), which deletes the one it replaces."""

    def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results) -> None:
        session, tuner = task_scheduler, task_scheduler.task(task_id)
        best = None
        kept = getattr(session, "best_artifacts", None)
        if kept is not None and tuner.best_secs is not None:
            best = next((i for i, (build, result) in enumerate(zip(builder_results, runner_results, strict=True))
                         if build.artifact_path and succeeded(result)
                         and mean_run_secs(result.run_secs) == tuner.best_secs), None)
        if best is not None:
            kept.keep(tuner.key, builder_results[best], measure_candidates[best].args_info)
        remove_build_artifacts([build for i, build in enumerate(builder_results) if i != best])


def remove_build_artifacts(builder_results: Sequence[Any]) -> None:
    """Delete the temporary folders of these builds' artifacts: folders our builders create
    under the temp dir (``nacos-*``) or MetaSchedule's (``tmp*``), nothing else."""
    for build in builder_results:
        path = build.artifact_path
        if path:
            folder = os.path.dirname(str(path))
            if os.path.basename(folder).startswith(("nacos-", "tmp")) and folder.startswith(tempfile.gettempdir()):
                shutil.rmtree(folder, ignore_errors=True)


class SaveCheckpoint(MeasureCallback):
    """Save what a resumed run needs (the session's :meth:`~SearchSession.checkpoint`)."""

    def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results) -> None:
        task_scheduler.checkpoint()


class ReportProgress(MeasureCallback):
    """Hand a :class:`~tvm_nacos.cosearch.progress.SearchProgress` to the session's progress callback."""

    def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results) -> None:
        session = task_scheduler
        if session.progress is not None:
            session.progress(session.progress_event(session.task(task_id).name))


def default_callbacks() -> list[MeasureCallback]:
    """The co-search's pipeline, in the order it runs: database, best schedules, failures,
    cost model, artifacts, checkpoint, progress."""
    return [
        AddToSearchDatabase(),
        ShareBestSchedules(),
        LogFailures(),
        UpdateSharedCostModel(),
        RemoveBuildArtifacts(),
        SaveCheckpoint(),
        ReportProgress(),
    ]
