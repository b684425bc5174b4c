"""Tuning: results land in the work directory's database and are not measured twice."""

from __future__ import annotations

import pytest
import tvm
from tuning_helpers import host_cpu, matmul

from tvm_nacos.examples import example_input, example_supernet
from tvm_nacos.testing.fake import SMALL_SCHEDULE_SEARCH
from tvm_nacos.tuning import database_dir, open_database, tune_architecture, tune_kernels
from tvm_nacos.tuning.database import num_records

TARGET = tvm.target.Target(host_cpu(2))


def test_database_reopened_is_not_measured_again(tmp_path) -> None:
    kernels = [("mm32", matmul(32), 1.0)]
    measured = tune_kernels(kernels, target=TARGET, work_dir=tmp_path, trials_per_kernel=8, num_trials_per_iter=8,
                            schedule_options=SMALL_SCHEDULE_SEARCH)
    assert measured >= 8
    files = {p.name for p in database_dir(tmp_path, TARGET).iterdir()}
    assert {"database_workload.json", "database_tuning_record.json", "target.json"} <= files
    database = open_database(tmp_path, TARGET)  # a fresh object reading the files
    assert num_records(database, matmul(32)) == measured
    again = tune_kernels(kernels, target=TARGET, work_dir=tmp_path, trials_per_kernel=8)
    assert again == 0
    assert num_records(open_database(tmp_path, TARGET), matmul(32)) == measured


def test_another_target_has_its_own_database(tmp_path) -> None:
    other = tvm.target.Target({"kind": "llvm", "num-cores": 2})
    assert database_dir(tmp_path, other) != database_dir(tmp_path, TARGET)


@pytest.mark.slow
def test_tune_architecture_end_to_end(supernet: tvm.IRModule, tmp_path) -> None:
    import numpy as np
    import torch
    from tvm import relax

    from tvm_nacos.frontend.torch import apply_sample

    sample = {"block1.op": "conv3x3", "block2.depth": "skip"}
    tuned = tune_architecture(supernet, sample, target=TARGET, work_dir=tmp_path, max_trials=24,
                              schedule_options=SMALL_SCHEDULE_SEARCH)
    assert tuned.trials_measured > 0 and tuned.latency_ms > 0
    assert all(t.best_latency_ms is not None for t in tuned.tasks)
    assert all(t.weight >= 1 for t in tuned.tasks)
    vm = relax.VirtualMachine(tuned.executable, tvm.cpu())
    x = example_input(seed=5)
    out = vm["main"](tvm.runtime.tensor(x.numpy())).numpy()
    with torch.no_grad():
        reference = apply_sample(example_supernet(), sample)(x).numpy()
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-4)
    again = tune_architecture(supernet, sample, target=TARGET, work_dir=tmp_path, max_trials=24)
    assert again.trials_measured == 0
