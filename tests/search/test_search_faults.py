"""A real search meets every kind of fault: each is recorded as a failed trial with its reason,
and the search goes on to a front."""

from __future__ import annotations

import logging

import example_modules
import pytest

import tvm_nacos
from tvm_nacos.analysis import search_space
from tvm_nacos.target import as_target
from tvm_nacos.testing.faults import FaultPlanBuilder
from tvm_nacos.tuning import MeasureConfig, TaskPool, make_runner, open_database
from tvm_nacos.tuning.database import FAILED_RUN_SECS

#: Candidate index → fault. The two convolutions get 6 trials each (candidates 0-5 and 6-11),
#: the ReLU kernel of the identity architecture has one schedule: every task keeps good ones.
PLAN = {1: "crash", 3: "hang", 4: "raise", 6: "run-crash", 8: "run-hang", 10: "wrong-output"}
#: What each fault looks like in the session's log of failed candidates.
REASONS = {
    "crash": "PersistentBuilder: build worker crashed",
    "hang": "PersistentBuilder: build timed out after 3 s",
    "raise": "PersistentBuilder: build failed: RuntimeError: injected build failure (as planned)",
    "run-crash": "CheckingLocalRunner: run worker crashed",
    "run-hang": "CheckingLocalRunner: run timed out after 2 s",
    "wrong-output": "CheckingLocalRunner: output mismatch: max abs error",
}


def accuracy(samples) -> list[float]:
    return [{"k3": 0.8, "k5": 0.9, "identity": 0.5}[s["block.kernel"]] for s in samples]


@pytest.mark.slow  # seven worker processes start (each imports TVM) and two timeouts run out
def test_faults_are_recorded_with_reasons_and_the_search_goes_on(tmp_path, caplog) -> None:
    mod = example_modules.one_kernel_choice()
    target = as_target(None)
    builder = FaultPlanBuilder(PLAN, max_workers=2, timeout_sec=3, check_outputs=True, hang_sec=60)
    # The references of the output check: the unscheduled kernels of every architecture.
    # (Matched by signature, so the session's own copies of these kernels find them.)
    pool = TaskPool(target)
    for sample in search_space(mod).enumerate():
        pool.add_architecture(mod, sample)
    for task in pool.tasks:
        builder.add_reference(task.mod)
    runner = make_runner(
        "local", measure=MeasureConfig(number=1, repeat=1, min_repeat_ms=0, timeout_sec=2, check_outputs=True)
    )
    caplog.set_level(logging.DEBUG, logger="tvm_nacos.cosearch.session")
    try:
        result = tvm_nacos.search(
            mod, target=target, accuracy=accuracy, budget=13, strategy="exhaustive",
            strategy_options={"trials_per_task": 6}, work_dir=tmp_path, builder=builder, runner=runner,
            measure_end_to_end=False, deterministic=True,
        )
    finally:
        builder.shutdown()
        runner.shutdown()

    assert builder.injected == PLAN  # every planned fault was met ...
    assert result.failed_trials == len(PLAN)  # ... and counted as a failed trial
    failures = [r.getMessage() for r in caplog.records if "failed:" in r.getMessage()]
    assert len(failures) == len(PLAN)
    for kind, reason in REASONS.items():
        assert sum(reason in message for message in failures) == 1, (kind, failures)
    # In the tuning database as failed records, next to the good ones.
    records = open_database(tmp_path, target).get_all_tuning_records()
    failed = [r for r in records if min(float(s) for s in r.run_secs) >= FAILED_RUN_SECS]
    assert len(records) == result.trials_used and len(failed) == len(PLAN)
    # The search went on: every architecture was measured, and a front came out.
    assert {p.sample["block.kernel"] for p in result.evaluated} == {"k3", "k5", "identity"}
    assert result.pareto and all(0 < p.latency_ms < 1e3 for p in result.pareto)
