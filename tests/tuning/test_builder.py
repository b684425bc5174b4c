"""PersistentBuilder: workers survive batches; crashes, hangs and errors become build errors."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tuning_helpers import matmul

from tvm_nacos._compat import meta_schedule
from tvm_nacos.testing.faults import FaultyBuild
from tvm_nacos.tuning import PersistentBuilder

ms = meta_schedule()
TARGET = tvm.target.Target({"kind": "llvm"})


def _batch(victim: bool = True) -> list:
    mods = [matmul(16), matmul(32, "victim" if victim else "A"), matmul(24)]
    return [ms.builder.BuilderInput(m, TARGET) for m in mods]


def test_builds_batches_with_one_pool() -> None:
    builder = PersistentBuilder(max_workers=2)
    try:
        first = builder.build(_batch(victim=False))
        pool = builder._pool
        second = builder.build(_batch(victim=False))
        assert builder._pool is pool  # the same workers served both batches
        for result in first + second:
            assert result.error_msg is None and result.artifact_path.endswith(".o")
        assert builder.num_builds == 6 and builder.num_failures == 0
    finally:
        builder.shutdown()


def test_cpu_artifact_is_an_object_file_that_loads_and_computes() -> None:
    """The runner loads a CPU candidate from a plain ``.o`` (no tar), and it computes a matmul."""
    builder = PersistentBuilder(max_workers=1)
    try:
        (result,) = builder.build([ms.builder.BuilderInput(matmul(16), TARGET)])
    finally:
        builder.shutdown()
    assert result.error_msg is None and result.artifact_path.endswith(".o")
    lib = tvm.runtime.load_module(result.artifact_path)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((16, 16), dtype="float32"), rng.standard_normal((16, 16), dtype="float32")
    device = tvm.cpu()
    out = tvm.runtime.tensor(np.zeros((16, 16), dtype="float32"), device)
    lib["main"](tvm.runtime.tensor(a, device), tvm.runtime.tensor(b, device), out)
    np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("crash", "worker crashed"), ("hang", "timed out after 4 s"), ("raise", "injected build failure")],
)
def test_fault_in_one_candidate_is_an_error_and_the_session_goes_on(kind: str, reason: str) -> None:
    builder = PersistentBuilder(max_workers=2, timeout_sec=4, f_build=FaultyBuild(kind, "victim"))
    try:
        results = builder.build(_batch())
        assert results[0].error_msg is None and results[2].error_msg is None
        assert results[1].artifact_path is None and reason in results[1].error_msg
        # The pool healed: the next batch builds completely.
        again = builder.build(_batch(victim=False))
        assert [r.error_msg for r in again] == [None, None, None]
        assert builder.num_failures == 1
    finally:
        builder.shutdown()


def test_worker_recycling() -> None:
    builder = PersistentBuilder(max_workers=1, builds_per_worker=2)
    try:
        results = builder.build(_batch(victim=False) + _batch(victim=False))
        assert all(r.error_msg is None for r in results)
    finally:
        builder.shutdown()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="timeout_sec"):
        PersistentBuilder(timeout_sec=0)
    with pytest.raises(ValueError, match="builds_per_worker"):
        PersistentBuilder(builds_per_worker=0)
    with pytest.raises(ValueError, match=r"unknown fault kind 'melt'.*crash"):
        FaultyBuild("melt", "x")  # type: ignore[arg-type]
