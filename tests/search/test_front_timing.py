"""The front's end-to-end timings: taken with the builder stopped, doubtful ones taken again."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

import tvm_nacos.cosearch.search as search_module
from tvm_nacos.cosearch.end_to_end import EndToEndModel, EndToEndTiming
from tvm_nacos.cosearch.search import ParetoPoint, _time_front
from tvm_nacos.search_space import ArchSample
from tvm_nacos.tuning.compile import Latency


def _point(op: str, estimated_ms: float) -> ParetoPoint:
    return ParetoPoint(ArchSample({"op": op}), 90.0, estimated_ms, estimated_ms, 1000)


class _Session:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.target = "llvm"
        self.endpoint = None  # timed here, not on a remote device
        self.measurer = SimpleNamespace(close=lambda: self.events.append("builder closed"))
        self.end_to_end = EndToEndModel()  # no timings yet: a round judges itself

    def prepare_timing(self, sample: ArchSample):
        self.events.append(f"compiled {sample['op']}")
        return sample["op"], []

    def prepare_timings(self, samples):
        return {s.id: self.prepare_timing(s) for s in samples}


def test_doubtful_timings_are_taken_again_and_the_faster_kept(monkeypatch) -> None:
    session = _Session()
    points = [_point(op, 1.0) for op in ("a", "b", "c", "loaded", "still loaded")]
    ids = {p.sample["op"]: p.sample.id for p in points}
    tight = (0.99, 1.0, 1.01)
    passes = [
        {  # the first pass: the front sits ~5 % above its estimates; two far above that
            ids["a"]: Latency(1.04, tuple(1.04 * t for t in tight)),
            ids["b"]: Latency(1.05, tuple(1.05 * t for t in tight)),
            ids["c"]: Latency(1.06, tuple(1.06 * t for t in tight)),
            ids["loaded"]: Latency(1.6, tuple(1.6 * t for t in tight)),
            ids["still loaded"]: Latency(1.35, tuple(1.35 * t for t in tight)),
        },
        {  # the second pass, of the doubtful ones only: "loaded" quiet now (and widely spread:
           # load only slows a timing, so the faster is kept), "still loaded" slower yet
            ids["loaded"]: Latency(1.05, (1.0, 1.05, 1.4)),
            ids["still loaded"]: Latency(1.5, tuple(1.5 * t for t in tight)),
        },
    ]
    asked = []

    def fake_time_interleaved(networks, target, endpoint=None):
        session.events.append("timed")
        asked.append(sorted(networks))
        return passes[len(asked) - 1]

    monkeypatch.setattr(search_module, "time_interleaved", fake_time_interleaved)
    timings = _time_front(session, points)
    # Every architecture compiled, then the builder stopped, then the timings.
    assert session.events == [*(f"compiled {op}" for op in ids), "builder closed", "timed", "timed"]
    assert asked == [sorted(ids.values()), sorted([ids["loaded"], ids["still loaded"]])]  # the others agree
    assert [timings[ids[op]].median_ms for op in ("a", "b", "c")] == [1.04, 1.05, 1.06]
    assert timings[ids["loaded"]].median_ms == 1.05  # the faster re-take replaces the loaded one
    assert timings[ids["loaded"]].best_ms == 1.0  # what the front reads: its fastest sample
    assert timings[ids["still loaded"]].median_ms == 1.35  # the re-take was slower: the first stays


def test_a_small_round_is_judged_by_the_fitted_model(monkeypatch) -> None:
    # A later round times one or two architectures: their own median says nothing. With a model
    # fitted on earlier timings, the estimates are the model's: a timing 13 % below is taken again.
    session = _Session()
    for i, (kernel_sum, measured) in enumerate([(1.0, 1.05), (2.0, 2.1), (3.0, 3.15), (4.0, 4.2)]):
        session.end_to_end.observe(EndToEndTiming(f"earlier{i}", kernel_sum, 40, measured))
    points = [_point("off", 3.0), _point("close", 2.0)]
    calls = []

    def fake_time_interleaved(networks, target, endpoint=None):
        calls.append(sorted(networks))
        if len(calls) == 1:
            return {points[0].sample.id: Latency(2.6, (2.6,)), points[1].sample.id: Latency(2.04, (2.04,))}
        return {points[0].sample.id: Latency(2.7, (2.7,))}

    monkeypatch.setattr(search_module, "time_interleaved", fake_time_interleaved)
    timings = _time_front(session, points)
    assert calls == [sorted(p.sample.id for p in points), [points[0].sample.id]]
    assert timings[points[0].sample.id].median_ms == 2.6  # confirmed, and the faster of the two
    # Without a fitted model, a round of two is not judged at all.
    fresh, calls[:] = _Session(), []
    monkeypatch.setattr(search_module, "time_interleaved", fake_time_interleaved)
    _time_front(fresh, points)
    assert len(calls) == 1


def test_timings_that_agree_are_taken_once(monkeypatch) -> None:
    # Both 5-8 % above their estimates, as per-call overheads make them: nothing to take again.
    session = _Session()
    points = [_point("a", 2.0), _point("b", 4.0)]
    calls = []

    def fake_time_interleaved(networks, target, endpoint=None):
        calls.append(sorted(networks))
        return {arch_id: Latency(ms, (ms,)) for arch_id in networks
                for ms in [2.1 if arch_id == points[0].sample.id else 4.3]}

    monkeypatch.setattr(search_module, "time_interleaved", fake_time_interleaved)
    timings = _time_front(session, points)
    assert len(calls) == 1 and timings[points[1].sample.id].median_ms == pytest.approx(4.3)


def test_the_front_compiles_side_by_side_into_the_same_networks(supernet, tmp_path) -> None:
    # prepare_timings compiles the architectures together, one group per core; each network's
    # entry computes what a compile of its own architecture computes.
    import numpy as np
    import tvm
    from tvm import relax

    from tvm_nacos.analysis import search_space
    from tvm_nacos.cosearch.session import SearchSession
    from tvm_nacos.target import as_target
    from tvm_nacos.testing.fake import DeterministicBuilder, DeterministicRunner

    space = search_space(supernet)
    session = SearchSession(supernet, space, accuracy=lambda samples: [50.0] * len(samples),
                            target=as_target({"kind": "llvm", "num-cores": 2}), work_dir=tmp_path, budget=4,
                            builder=DeterministicBuilder(), runner=DeterministicRunner(), deterministic=True)
    samples = list(space.enumerate())[:3]
    try:
        prepared = session.prepare_timings(samples)
        assert sorted(prepared) == sorted(s.id for s in samples)
        cores = len(os.sched_getaffinity(0))
        assert len({id(executable) for executable, _, _ in prepared.values()}) == min(cores, len(samples))
        for sample in samples:
            executable, inputs, entry = prepared[sample.id]
            got = relax.VirtualMachine(executable, tvm.cpu())[entry](*inputs).numpy()
            want = relax.VirtualMachine(session.compile(sample), tvm.cpu())["main"](*inputs).numpy()
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    finally:
        session.close()
