"""The end-to-end model: whole-network latency from kernel latencies, learnt from timings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tvm_nacos.cosearch.end_to_end import MIN_FIT, EndToEndModel, EndToEndTiming, NetworkProfile


def _timings(scale: float, per_call_ms: float, count: int, noise: float = 0.0, seed: int = 0,
             per_gflop_ms: float = 0.0) -> list[EndToEndTiming]:
    """Networks of various sizes, call counts and FLOPs, timed as the model's terms say."""
    rng = np.random.default_rng(seed)
    timings = []
    for i in range(count):
        kernel_sum = float(rng.uniform(0.3, 3.0))
        calls = int(rng.integers(10, 120))
        gflop = float(rng.uniform(0.01, 0.2))
        megabytes = float(rng.uniform(1, 10))
        measured = (scale * kernel_sum + per_call_ms * calls + per_gflop_ms * gflop) * (1 + noise * rng.standard_normal())
        timings.append(EndToEndTiming(f"a{i}", kernel_sum, calls, measured, gflop=gflop, megabytes=megabytes,
                                      spread_ms=0.01))
    return timings


def test_an_untrained_model_is_the_kernel_sum() -> None:
    model = EndToEndModel()
    assert model.estimate_ms(NetworkProfile(1.234, calls=50, gflop=0.1, megabytes=3.0)) == 1.234
    assert model.held_out_accuracy() is None


def test_it_recovers_scale_and_per_call_cost() -> None:
    model = EndToEndModel()
    model.observe_all(_timings(1.05, 0.004, 12))
    assert model.scale == pytest.approx(1.05, rel=1e-6)
    assert model.terms == pytest.approx({"calls": 0.004}, rel=1e-6)
    assert model.estimate_ms(NetworkProfile(2.0, calls=100)) == pytest.approx(1.05 * 2.0 + 0.4)


def test_it_picks_the_term_that_explains_the_timings() -> None:
    # Heavier networks run further above their kernels (what nas-bench-201 did on the Intel host).
    model = EndToEndModel()
    model.observe_all(_timings(0.9, 0.0, 12, per_gflop_ms=5.0, noise=0.002))
    assert set(model.terms) == {"gflop"} and model.terms["gflop"] == pytest.approx(5.0, rel=0.1)
    assert model.describe()["terms"].keys() == {"gflop"} and model.describe()["num_timings"] == 12


def test_few_timings_fit_the_scale_alone() -> None:
    model = EndToEndModel()
    model.observe_all(_timings(1.0, 0.004, MIN_FIT - 1))
    assert model.terms == {}
    ratios = [t.measured_ms / t.kernel_sum_ms for t in model.timings.values()]
    assert model.scale == pytest.approx(np.median(ratios))


def test_networks_faster_than_their_kernels_are_followed() -> None:
    # What the ViT space's fronts did: 0.65-0.93x their kernel sums, the smaller ones closer to 1
    # (a per-call cost in each kernel's own timing that the network does not pay).
    few = EndToEndModel()
    few.observe_all(_timings(0.68, 0.0, MIN_FIT - 1))
    assert few.scale == pytest.approx(0.68, rel=1e-6)
    model = EndToEndModel()
    model.observe_all(_timings(0.6, 0.002, 12, noise=0.002))
    assert model.scale == pytest.approx(0.6, rel=0.05) and model.terms["calls"] == pytest.approx(0.002, rel=0.2)
    assert model.held_out_accuracy().median_abs_error < 0.01


def test_a_term_that_does_not_help_is_not_used() -> None:
    # Timings proportional to the kernel sum: no other cost to find, and none below zero.
    model = EndToEndModel()
    model.observe_all(_timings(1.2, 0.0, 10, noise=0.01))
    assert all(value >= 0 for value in model.terms.values())
    assert model.scale == pytest.approx(1.2, rel=0.05)


def test_a_timed_architecture_keeps_its_residual() -> None:
    model = EndToEndModel()
    model.observe_all([*_timings(1.1, 0.002, 8), EndToEndTiming("odd", 1.0, 40, 1.5)])  # slower than the others say
    assert model.estimate_ms(NetworkProfile(1.0, 40), "odd") == pytest.approx(1.5)
    # Its kernels got faster since: its estimate moves with them, from its own timing.
    base_before, base_after = model.estimate_ms(NetworkProfile(1.0, 40)), model.estimate_ms(NetworkProfile(0.8, 40))
    assert model.estimate_ms(NetworkProfile(0.8, 40), "odd") == pytest.approx(1.5 * base_after / base_before)
    assert model.estimate_ms(NetworkProfile(1.0, 40), "never-timed") == pytest.approx(base_before)


def test_held_out_errors_beat_the_kernel_sum_on_overhead_bound_networks() -> None:
    model = EndToEndModel()
    model.observe_all(_timings(1.03, 0.003, 16, noise=0.005))
    accuracy = model.held_out_accuracy()
    assert accuracy is not None and accuracy.num_timings == 16
    assert accuracy.median_abs_error < 0.02 and accuracy.max_abs_error < 0.05
    assert accuracy.kernel_sum_median_abs_error > 0.1  # the calls cost 0.03-0.36 ms on 0.3-3 ms of kernels
    subset = model.held_out_accuracy(["a0", "a1", "a2", "missing"])
    assert subset is not None and subset.num_timings == 3
    assert set(accuracy.to_dict()) == {"median_abs_error", "max_abs_error", "kernel_sum_median_abs_error",
                                       "kernel_sum_max_abs_error", "num_timings"}


def test_timings_persist_and_a_new_model_starts_from_them(tmp_path) -> None:
    path = tmp_path / "end_to_end.jsonl"
    first = EndToEndModel(path)
    first.observe_all(_timings(1.1, 0.003, 6))
    first.observe(EndToEndTiming("a0", 1.0, 10, 1.2))  # a later timing of a0 replaces the first
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 7 and lines[-1]["arch_id"] == "a0"
    again = EndToEndModel(path)
    assert len(again) == 6 and again.timings["a0"].measured_ms == 1.2
    assert (again.scale, again.terms) == (first.scale, first.terms)


def test_bad_timings_are_refused() -> None:
    with pytest.raises(ValueError, match="positive latencies"):
        EndToEndModel().observe(EndToEndTiming("a", 0.0, 10, 1.0))
