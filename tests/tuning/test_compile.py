"""Timing compiled networks: samples in turns, and the spread that goes with a median."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm import relax

from tvm_nacos.tuning.compile import Latency, time_interleaved

TARGET = tvm.target.Target({"kind": "llvm", "num-cores": 2})


def _matmul_network(n: int):
    bb = relax.BlockBuilder()
    x, w = relax.Var("x", relax.TensorType((n, n), "float32")), relax.Var("w", relax.TensorType((n, n), "float32"))
    with bb.function("main", [x, w]):
        bb.emit_func_output(bb.emit(relax.op.matmul(x, w)))
    executable = tvm.compile(bb.get(), TARGET)
    rng = np.random.default_rng(n)
    inputs = [tvm.runtime.tensor(rng.standard_normal((n, n)).astype("float32")) for _ in range(2)]
    return executable, inputs


def test_latency_spread_is_half_the_interquartile_range() -> None:
    latency = Latency(3.0, (1.0, 2.0, 3.0, 4.0, 5.0))
    assert latency.spread_ms == pytest.approx(1.0) and latency.relative_spread == pytest.approx(1 / 3)
    assert Latency(2.0, (2.0,)).spread_ms == 0.0


def test_best_is_the_fastest_sample_or_the_median_without_samples() -> None:
    assert Latency(3.0, (3.0, 5.0, 1.5, 4.0, 2.0)).best_ms == 1.5
    assert Latency(2.5, ()).best_ms == 2.5


def test_networks_are_timed_in_turns_and_each_gets_every_sample() -> None:
    networks = {"small": _matmul_network(16), "large": _matmul_network(128)}
    timings = time_interleaved(networks, TARGET, rounds=3, repeat=2, number=2, min_repeat_ms=1)
    assert set(timings) == {"small", "large"}
    for latency in timings.values():
        assert len(latency.samples_ms) == 6 and all(s > 0 for s in latency.samples_ms)
        assert latency.median_ms == pytest.approx(float(np.median(latency.samples_ms)))
        assert latency.best_ms == min(latency.samples_ms) <= latency.median_ms
        assert latency.spread_ms >= 0
    assert timings["large"].median_ms > timings["small"].median_ms  # 512x the work
    with pytest.raises(ValueError, match="rounds >= 1 and repeat >= 1"):
        time_interleaved(networks, TARGET, rounds=0)


def test_order_alternates_between_rounds(monkeypatch) -> None:
    import tvm_nacos.tuning.compile as compile_module

    calls = []

    class Timer:
        def __init__(self, name: str) -> None:
            self.name = name

        def __call__(self, *inputs):
            calls.append(self.name)
            return type("Result", (), {"results": [1e-3, 1e-3]})()

    class VirtualMachine:
        def __init__(self, executable, device) -> None:
            self.executable = executable

        def time_evaluator(self, func_name, device, **kwargs):
            return Timer(self.executable)

    monkeypatch.setattr(compile_module.relax, "VirtualMachine", VirtualMachine)
    timings = time_interleaved({"a": ("a", []), "b": ("b", []), "c": ("c", [])}, TARGET, rounds=3)
    assert calls == ["a", "b", "c", "c", "b", "a", "a", "b", "c"]
    assert timings["a"] == Latency(1.0, (1.0,) * 6)


def test_architectures_compiled_together_share_kernels_and_compute_as_compiled_apart() -> None:
    import tvm_nacos
    from tvm_nacos.examples import example_input, example_supernet
    from tvm_nacos.tuning.compile import compile_architectures, merge_architectures, random_inputs
    from tvm_nacos.tuning.tasks import lower_for_tuning

    supernet = tvm_nacos.from_torch(example_supernet(), (example_input(),))
    samples = {
        "a": {"block1.op": "conv3x3", "block2.depth": "keep", "block2.kernel": "k3"},
        "b": {"block1.op": "conv3x3", "block2.depth": "keep", "block2.kernel": "k5"},
        "c": {"block1.op": "conv5x5", "block2.depth": "skip"},
    }
    lowered = {name: lower_for_tuning(supernet, TARGET, sample=sample) for name, sample in samples.items()}
    merged, entries = merge_architectures(lowered)

    def kernels(mod):
        return sum(1 for f in mod.functions.values() if not isinstance(f, relax.Function))

    # a and b share their first block's kernels: each is compiled once.
    assert kernels(merged) < sum(kernels(m) for m in lowered.values())
    assert sorted(entries.values()) == ["main_0", "main_1", "main_2"]
    executable, entries = compile_architectures(lowered, TARGET)
    vm = relax.VirtualMachine(executable, tvm.cpu())
    for name, mod in lowered.items():
        inputs = random_inputs(mod["main"], tvm.cpu(), seed=1)
        apart = relax.VirtualMachine(tvm.compile(mod, TARGET), tvm.cpu())["main"](*inputs).numpy()
        np.testing.assert_allclose(vm[entries[name]](*inputs).numpy(), apart, rtol=1e-5, atol=1e-5)
    # Entries of one executable are timed in turns like executables of their own.
    networks = {name: (executable, random_inputs(lowered[name]["main"], tvm.cpu()), entries[name]) for name in lowered}
    timings = time_interleaved(networks, TARGET, rounds=2, repeat=1, number=1, min_repeat_ms=1)
    assert set(timings) == set(lowered) and all(t.median_ms > 0 for t in timings.values())
    with pytest.raises(ValueError, match="architecture 'x': expected one Relax function, found 0"):
        merge_architectures({"x": tvm.IRModule({})})
