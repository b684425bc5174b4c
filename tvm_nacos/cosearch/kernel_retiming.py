"""The front's kernels timed again, in turns, before the search compares whole architectures.

A kernel's latency in the tuning database is one measurement, taken during the search under
whatever load there was. On a shared host, 9–17 % of a search's kernels read more than 1.3×
their quiet latency there (up to 3–6×): a core taken from the kernel for the whole measurement,
not a short burst. An architecture's estimate sums its kernels, so one such reading misplaces it
on the front and teaches the end-to-end model a residual that is not the network's.

So, once the schedule search is over, the best schedule of every kernel of the architectures
that may reach the front is run again, all of them in a few rounds whose order alternates (load
then weighs on every kernel alike), with nothing of the search building, in the process that
times the front's networks next (a remote device: by the runner), and the fastest run becomes
the kernel's latency (:attr:`~tvm_nacos.cosearch.session.TaskTuner.best_secs`, the one value
estimates read). Nothing is rebuilt: the measure callbacks keep the build artifact of each
kernel's best candidate (:class:`BestArtifacts`); only a kernel measured by an earlier run of a
resumed search is built again, from its database record.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tvm_nacos._compat import meta_schedule
from tvm_nacos.cosearch.measure_callbacks import remove_build_artifacts, succeeded
from tvm_nacos.target import device_for
from tvm_nacos.tuning.builder import start_build
from tvm_nacos.tuning.database import mean_run_secs
from tvm_nacos.tuning.runner import alloc_in_bounds_arguments

if TYPE_CHECKING:
    from tvm_nacos.cosearch.session import SearchSession

ms = meta_schedule()

logger = logging.getLogger(__name__)

__all__ = ["REMOTE_RETIME_ROUNDS", "RETIME_ROUNDS", "SLOW_IN_DATABASE", "BestArtifacts", "KernelRetiming", "retime_kernels"]

#: Rounds of runs per kernel; their order alternates, the fastest is kept (load only slows a run
#: down; the front's networks are judged by their fastest sample too). Here, a run is one
#: sample of about :data:`SAMPLE_MS`; on a remote device, one of the runner's measurements.
RETIME_ROUNDS = 5
REMOTE_RETIME_ROUNDS = 3
#: A sample times as many calls as the kernel's database latency says fill this long (fixed
#: beforehand: finding the count anew doubles each sample's cost, as ``min_repeat_ms`` does).
SAMPLE_MS = 15.0
#: A database latency this many times the re-timed one counts as read under load (reported).
SLOW_IN_DATABASE = 1.3


@dataclass
class KeptArtifact:
    """The build of a kernel's best candidate: what the runner needs to run it again."""

    build: Any
    args_info: Any

    @property
    def path(self) -> str:
        return str(self.build.artifact_path)


class BestArtifacts:
    """The build artifact of each kernel's best candidate, by kernel key, until :meth:`clear`.

    :class:`~tvm_nacos.cosearch.measure_callbacks.RemoveBuildArtifacts` hands over the best
    candidate's build of a batch that improved its kernel (:meth:`keep`) instead of deleting it;
    the artifact it replaces is deleted then.
    """

    def __init__(self) -> None:
        self._kept: dict[str, KeptArtifact] = {}

    def keep(self, key: str, build: Any, args_info: Any) -> None:
        """Keep ``build`` as kernel ``key``'s best (deleting the one kept before)."""
        previous = self._kept.pop(key, None)
        if previous is not None:
            remove_build_artifacts([previous.build])
        self._kept[key] = KeptArtifact(build, args_info)

    def get(self, key: str) -> KeptArtifact | None:
        return self._kept.get(key)

    def __len__(self) -> int:
        return len(self._kept)

    def clear(self) -> None:
        """Delete every kept artifact."""
        remove_build_artifacts([kept.build for kept in self._kept.values()])
        self._kept.clear()


@dataclass(frozen=True)
class KernelRetiming:
    """What re-timing the front's kernels found.

    Attributes
    ----------
    kernels : int
        Kernels re-timed.
    rebuilt : int
        Of those, built again from the database (no artifact kept: measured by an earlier run).
    rounds : int
        Runs per kernel.
    secs : float
        Wall seconds it took.
    median_ratio : float
        Median over the kernels of database latency / re-timed latency.
    slow_in_database : int
        Kernels whose database latency was more than :data:`SLOW_IN_DATABASE` × the re-timed one.
    """

    kernels: int
    rebuilt: int
    rounds: int
    secs: float
    median_ratio: float
    slow_in_database: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "kernels": self.kernels, "rebuilt": self.rebuilt, "rounds": self.rounds, "secs": round(self.secs, 3),
            "median_ratio": round(self.median_ratio, 4), "slow_in_database": self.slow_in_database,
            "slow_threshold": SLOW_IN_DATABASE,
        }


def _rebuild(session: SearchSession, keys: Sequence[str]) -> dict[str, KeptArtifact]:
    """Builds of the database's best schedule of each of ``keys`` (those with a record)."""
    candidates = {}
    for key in keys:
        sch = session.database.query_schedule(session.tuner(key).mod, session.target, workload_name="main")
        if sch is not None:
            candidates[key] = ms.MeasureCandidate(sch, ms.arg_info.ArgInfo.from_entry_func(sch.mod, remove_preproc=True))
    if not candidates:
        return {}
    inputs = [ms.builder.BuilderInput(c.sch.mod, session.target) for c in candidates.values()]
    builds = start_build(session.measurer.builder, inputs).result()
    rebuilt = {}
    for (key, candidate), build in zip(candidates.items(), builds, strict=True):
        if build.error_msg is None:
            rebuilt[key] = KeptArtifact(build, candidate.args_info)
        else:
            logger.warning("kernel %s: its best schedule no longer builds (%s); its database latency stays",
                           session.tuner(key).name, build.error_msg.strip().splitlines()[-1])
    return rebuilt


def _turns(order: list[str], rounds: int) -> Iterator[list[str]]:
    """``order`` once per round, reversed every other round: each kernel's samples then sit
    alike, on average, within a drift of the host's load."""
    for round_index in range(rounds):
        yield order if round_index % 2 == 0 else order[::-1]


def _runs_here(session: SearchSession, artifacts: dict[str, KeptArtifact], rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each kernel, ``rounds`` samples, timed in this process as the front's
    networks are (each library loaded and its arguments allocated once, before any timing)."""
    import tvm

    device = device_for(session.target)
    timers = {}
    for key, kept in artifacts.items():
        try:
            library = tvm.runtime.load_module(kept.path)
            args = alloc_in_bounds_arguments(device, [info.as_json() for info in kept.args_info], 1)[0]
            calls = max(1, math.ceil(SAMPLE_MS / (1e3 * session.tuner(key).best_secs)))
            evaluator = library.time_evaluator(library.entry_name, device, number=calls, repeat=1)
        except Exception as err:  # noqa: BLE001 - one kernel that does not load keeps its figure
            _cannot_time(session, key, err)
            continue
        timers[key] = (evaluator, args)
    samples: dict[str, list[float]] = {key: [] for key in timers}
    for turn in _turns(list(timers), rounds):
        for key in turn:
            if key not in timers:
                continue
            evaluator, args = timers[key]
            try:
                samples[key].append(float(evaluator(*args).mean))
            except Exception as err:  # noqa: BLE001 - nor does one that fails to run
                _cannot_time(session, key, err)
                del timers[key]
                samples[key].clear()
    return samples


def _cannot_time(session: SearchSession, key: str, err: Exception) -> None:
    logger.warning("kernel %s could not be timed again (%s); its database latency stays",
                   session.tuner(key).name, str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__)


def _runs_on_runner(session: SearchSession, artifacts: dict[str, KeptArtifact], rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each kernel, one per round that ran, measured by the session's runner."""
    samples: dict[str, list[float]] = {key: [] for key in artifacts}
    for turn in _turns(list(artifacts), rounds):
        inputs = [ms.runner.RunnerInput(artifacts[key].path, session.device_type, artifacts[key].args_info) for key in turn]
        results = [future.result() for future in session.measurer.runner.run(inputs)]
        for key, result in zip(turn, results, strict=True):
            if succeeded(result):
                samples[key].append(mean_run_secs(result.run_secs))
    return samples


def retime_kernels(session: SearchSession, keys: Iterable[str], *, rounds: int | None = None) -> KernelRetiming | None:
    """Run the best schedule of each measured kernel of ``keys`` again, in turns, and make the
    fastest of its ``rounds`` runs its latency (``tuner.best_secs``).

    Batches still in flight land first; nothing of the search builds meanwhile. On a local
    device the kernels are timed in this process (:data:`RETIME_ROUNDS` samples of about
    :data:`SAMPLE_MS` each), as the front's networks are next; on a remote one the session's
    runner measures them
    (:data:`REMOTE_RETIME_ROUNDS` each). A kernel whose runs fail keeps its database latency.
    Returns ``None`` when there is nothing to re-time. (The caller files the seconds under a
    phase of its own: these are not the search's measurements.)
    """
    session.wait_all()
    keys = [key for key in dict.fromkeys(keys) if key in session.tuners and session.tuners[key].best_secs is not None]
    if not keys:
        return None
    start = time.perf_counter()
    artifacts = {key: kept for key in keys if (kept := session.best_artifacts.get(key)) is not None}
    rebuilt = _rebuild(session, [key for key in keys if key not in artifacts])
    artifacts.update(rebuilt)
    artifacts = {key: artifacts[key] for key in keys if key in artifacts}
    here = session.endpoint is None
    if rounds is None:
        rounds = RETIME_ROUNDS if here else REMOTE_RETIME_ROUNDS
    samples = (_runs_here if here else _runs_on_runner)(session, artifacts, rounds)
    remove_build_artifacts([kept.build for kept in rebuilt.values()])
    ratios = []
    for key, values in samples.items():
        if not values:
            continue
        tuner = session.tuners[key]
        retimed = float(np.min(values))
        ratios.append(tuner.best_secs / retimed)
        tuner.best_secs = retimed
    if not ratios:
        return None
    found = KernelRetiming(
        kernels=len(ratios), rebuilt=len(rebuilt), rounds=rounds, secs=time.perf_counter() - start,
        median_ratio=float(np.median(ratios)), slow_in_database=sum(r > SLOW_IN_DATABASE for r in ratios),
    )
    logger.info(
        "re-timed %d kernels in turns (%d rounds, %.1f s): the database read a median %.2f× their latency, "
        "%d of them more than %.1f×", found.kernels, rounds, found.secs, found.median_ratio, found.slow_in_database,
        SLOW_IN_DATABASE,
    )
    return found
