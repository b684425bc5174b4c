"""A deterministic stand-in for building and running, for reproducibility tests of strategies.

:class:`DeterministicBuilder` compiles nothing: its "artifact" names the structural hash of the
scheduled candidate. :class:`DeterministicRunner` turns that hash into a run time, so the same
schedule always "measures" the same, and a whole search is a pure function of its seed.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from tvm.ir.utils import derived_object

from tvm_nacos._compat import meta_schedule, structural_hash

ms = meta_schedule()

__all__ = ["DeterministicBuilder", "DeterministicRunner", "SMALL_SCHEDULE_SEARCH"]

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
            code = int(os.path.basename(str(runner_input.artifact_path)).removesuffix(_SUFFIX))
            if self.fail_every and code % self.fail_every == 0:
                result = ms.runner.RunnerResult(None, "DeterministicRunner: injected run failure")
            else:
                result = ms.runner.RunnerResult([1e-6 * (1 + (code % 1000) / 100)], None)
            futures.append(ms.runner.LocalRunnerFuture(result.run_secs, result.error_msg))
        return futures
