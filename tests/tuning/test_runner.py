"""Runners: local defaults, and measurement through TVM's RPC tracker on loopback."""

from __future__ import annotations

import pytest
import tvm
from tuning_helpers import gather, matmul

from tvm_nacos._compat import meta_schedule
from tvm_nacos.tuning import MeasureConfig, PersistentBuilder, RPCEndpoint, make_runner
from tvm_nacos.tuning.runner import BackgroundStartLocalRunner, RunnerSpecError, shutdown_runner

ms = meta_schedule()
TARGET = tvm.target.Target({"kind": "llvm"})


def _built(mods: list) -> list:
    builder = PersistentBuilder(max_workers=2)
    try:
        results = builder.build([ms.builder.BuilderInput(m, TARGET) for m in mods])
    finally:
        builder.shutdown()
    return [
        ms.runner.RunnerInput(r.artifact_path, "cpu", ms.arg_info.ArgInfo.from_prim_func(m["main"]))
        for r, m in zip(results, mods, strict=True)
    ]


def test_a_runner_shut_down_while_its_worker_starts_stops_it() -> None:
    # The worker starts in the background; shutting down at once used to hit TVM's PopenWorker
    # between its process and its pipes (AttributeError: no attribute '_writer').
    runner = make_runner("local")
    shutdown_runner(runner)
    assert runner.worker_started.done()
    workers = list(runner.pool._worker_map.values())
    assert workers and all(w._proc is None or w._proc.poll() is not None for w in workers)


def test_runner_names() -> None:
    for name in (None, "local"):
        runner = make_runner(name)
        assert isinstance(runner, BackgroundStartLocalRunner)  # MetaSchedule's, its worker started in the background
        shutdown_runner(runner)
    assert isinstance(make_runner("rpc://127.0.0.1:9190/k"), ms.runner.RPCRunner)
    custom = ms.runner.LocalRunner()
    assert make_runner(custom) is custom
    assert RPCEndpoint.parse("rpc://host.example:9000/my-key") == RPCEndpoint("host.example", 9000, "my-key")
    with pytest.raises(RunnerSpecError, match=r"'gpu0'.*'local'.*rpc://HOST:PORT/KEY"):
        make_runner("gpu0")
    with pytest.raises(RunnerSpecError, match="rpc://HOST:PORT/KEY"):
        make_runner("rpc://nohostport")


def test_measure_config_defaults_suit_a_small_host() -> None:
    config = MeasureConfig().evaluator_config()
    assert config.min_repeat_ms == 25 and config.repeat == 2 and not config.enable_cpu_cache_flush


def test_local_runner_measures() -> None:
    inputs = _built([matmul(32), matmul(64)])
    runner = make_runner("local")
    try:
        results = [f.result() for f in runner.run(inputs)]
    finally:
        shutdown_runner(runner)
    secs = [float(r.run_secs[0]) for r in results]
    assert all(r.error_msg is None for r in results)
    assert 0 < secs[0] < secs[1]  # 8× the work takes longer


def test_integer_inputs_are_in_bounds_indices() -> None:
    """A kernel that indexes with an input (take, embeddings) runs: its indices are zeros, not random."""
    from tvm_nacos.tuning.runner import alloc_in_bounds_arguments

    (args,) = alloc_in_bounds_arguments(tvm.cpu(), [["TENSOR", "float32", [4, 64]], ["TENSOR", "int64", [3]]], 1)
    assert args[0].numpy().std() > 0 and not args[1].numpy().any()
    inputs = _built([gather(1 << 20, 1024)])
    ours, stock = make_runner("local"), ms.runner.LocalRunner()
    try:
        (result,) = [f.result() for f in ours.run(inputs)]
        (crashed,) = [f.result() for f in stock.run(inputs)]
    finally:
        shutdown_runner(ours)
        shutdown_runner(stock)
    assert result.error_msg is None and float(result.run_secs[0]) > 0
    # MetaSchedule's random indices read far outside the table: the worker dies.
    assert crashed.error_msg is not None


