"""A deterministic stand-in for building and running, for reproducibility tests of strategies.

:class:`DeterministicBuilder` compiles nothing: its "artifact" names the structural hash of the
scheduled candidate. :class:`DeterministicRunner` turns that hash into a run time, so the same
schedule always "measures" the same, and a whole search is a pure function of its seed.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tvm.ir.utils import derived_object

from tvm_nacos._compat import meta_schedule, structural_hash

ms = meta_schedule()

__all__ = ["DeterministicBuilder", "DeterministicRunner", "FakeDevicesRunner", "SMALL_SCHEDULE_SEARCH"]

#: ``schedule_options`` of searches and tuning calls in tests: a quarter of MetaSchedule-sized
#: defaults (population 64, 2 rounds), one round of evolution, which the co-search now takes by
#: default too (:data:`~tvm_nacos.tuning.schedule_options.COSEARCH_SCHEDULE_SEARCH`); a tuning
#: call outside a search (``tune_tir``, ``tune_architecture``) must be given them.
SMALL_SCHEDULE_SEARCH = {"population_size": 16, "init_min_unmeasured": 8, "genetic_num_iters": 1}

_SUFFIX = ".deterministic"


@derived_object
class DeterministicBuilder(ms.builder.PyBuilder):
    """Pretends to build: the artifact's file name carries the candidate's structural hash."""

    def build(self, build_inputs: list[Any]) -> list[Any]:
        # A real (empty) folder per artifact: MetaSchedule's callbacks delete the artifact's folder.
        return [
            ms.builder.BuilderResult(
                os.path.join(tempfile.mkdtemp(prefix="nacos-fake-"), f"{int(structural_hash(b.mod)) & 0xFFFFFFFF}{_SUFFIX}"),
                None,
            )
            for b in build_inputs
        ]


@derived_object
class DeterministicRunner(ms.runner.PyRunner):
    """Run time = a fixed function of the candidate's hash, between 1 and 11 µs.

    Parameters
    ----------
    fail_every : int
        Report every n-th distinct hash (by value) as a failed run; 0 never fails.
    """

    def __init__(self, fail_every: int = 0) -> None:
        super().__init__()
        self.fail_every = fail_every

    def run(self, runner_inputs: list[Any]) -> list[Any]:
        futures = []
        for runner_input in runner_inputs:
            result = self.result_of(runner_input)
            futures.append(ms.runner.LocalRunnerFuture(result.run_secs, result.error_msg))
        return futures

    def result_of(self, runner_input: Any) -> Any:
        """The ``RunnerResult`` of one input: a function of its artifact's hash."""
        code = int(os.path.basename(str(runner_input.artifact_path)).removesuffix(_SUFFIX))
        if self.fail_every and code % self.fail_every == 0:
            return ms.runner.RunnerResult(None, "DeterministicRunner: injected run failure")
        return ms.runner.RunnerResult([1e-6 * (1 + (code % 1000) / 100)], None)


@derived_object
class _ThreadFuture(ms.runner.PyRunnerFuture):
    """A runner future on a ``concurrent.futures.Future`` that yields a ``RunnerResult``."""

    def __init__(self, future: Future) -> None:
        super().__init__()
        self.future = future

    def done(self) -> bool:
        return self.future.done()

    def result(self) -> Any:
        return self.future.result()


@derived_object
class FakeDevicesRunner(ms.runner.PyRunner):
    """``num_devices`` pretend devices that take ``secs_per_trial`` each per candidate.

    Results are :class:`DeterministicRunner`'s (with :class:`DeterministicBuilder`); runs
    happen on threads, one per device, so candidates of several batches run at once and come
    back in their own time, as on a fleet of devices behind an RPC tracker. For tests of
    measurement in flight, where real devices would be slow or absent.

    Parameters
    ----------
    num_devices : int
        Devices (the session keeps this many busy: it reads ``num_devices``).
    secs_per_trial : float
        Each run's duration.
    fail_every : int
        As :class:`DeterministicRunner`'s.

    Attributes
    ----------
    max_concurrent : int
        The most runs that were under way at once.
    runs : int
        Runs finished.
    """

    def __init__(self, num_devices: int = 4, secs_per_trial: float = 0.02, fail_every: int = 0) -> None:
        super().__init__()
        self.num_devices = num_devices
        self.secs_per_trial = secs_per_trial
        self.results = DeterministicRunner(fail_every)
        self.max_concurrent = 0
        self.runs = 0
        self._running = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=num_devices, thread_name_prefix="fake-device")

    def _run_one(self, runner_input: Any) -> Any:
        with self._lock:
            self._running += 1
            self.max_concurrent = max(self.max_concurrent, self._running)
        try:
            time.sleep(self.secs_per_trial)
            return self.results.result_of(runner_input)
        finally:
            with self._lock:
                self._running -= 1
                self.runs += 1

    def run(self, runner_inputs: list[Any]) -> list[Any]:
        return [_ThreadFuture(self._pool.submit(self._run_one, r)) for r in runner_inputs]

    def shutdown(self) -> None:
        """Stop the device threads (after the runs under way)."""
        self._pool.shutdown(wait=True)
