"""The front's end-to-end timings: taken with the builder stopped, doubtful ones taken again."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import tvm_nacos.cosearch.search as search_module
from tvm_nacos.cosearch.search import ParetoPoint, _time_front
from tvm_nacos.search_space import ArchSample
from tvm_nacos.tuning.compile import Latency


def _point(op: str, estimated_ms: float) -> ParetoPoint:
    return ParetoPoint(ArchSample({"op": op}), 90.0, estimated_ms, estimated_ms, 1000)


class _Session:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.target = "llvm"
        self.measurer = SimpleNamespace(close=lambda: self.events.append("builder closed"))

    def prepare_timing(self, sample: ArchSample):
        self.events.append(f"compiled {sample['op']}")
        return sample["op"], []


def test_doubtful_timings_are_taken_again_and_the_tighter_kept(monkeypatch) -> None:
    session = _Session()
    points = [_point("good", 1.0), _point("loaded", 1.0), _point("noisy", 1.0)]
    ids = {p.sample["op"]: p.sample.id for p in points}
    passes = [
        {  # the first pass: "loaded" and "noisy" timed 1.6x and 1.3x their estimates
            ids["good"]: Latency(1.03, (1.02, 1.03, 1.04)),
            ids["loaded"]: Latency(1.6, (1.5, 1.6, 1.7)),
            ids["noisy"]: Latency(1.3, (1.2, 1.3, 1.4)),
        },
        {  # the second pass, of the doubtful ones only: "loaded" quiet now, "noisy" widely spread
            ids["loaded"]: Latency(1.05, (1.04, 1.05, 1.06)),
            ids["noisy"]: Latency(1.2, (0.5, 1.2, 1.9)),
        },
    ]
    asked = []

    def fake_time_interleaved(networks, target):
        session.events.append("timed")
        asked.append(sorted(networks))
        return passes[len(asked) - 1]

    monkeypatch.setattr(search_module, "time_interleaved", fake_time_interleaved)
    timings = _time_front(session, points)
    # Every architecture compiled, then the builder stopped, then the timings.
    assert session.events == ["compiled good", "compiled loaded", "compiled noisy", "builder closed", "timed", "timed"]
    assert asked == [sorted(ids.values()), sorted([ids["loaded"], ids["noisy"]])]  # "good" agrees: not again
    assert timings[ids["good"]].median_ms == 1.03
    assert timings[ids["loaded"]].median_ms == 1.05  # the tighter re-take replaces the loaded one
    assert timings[ids["noisy"]].median_ms == 1.3  # the re-take was wider: the first stays


def test_timings_that_agree_are_taken_once(monkeypatch) -> None:
    session = _Session()
    points = [_point("a", 2.0), _point("b", 4.0)]
    calls = []

    def fake_time_interleaved(networks, target):
        calls.append(sorted(networks))
        return {arch_id: Latency(2.1 if arch_id == points[0].sample.id else 4.3, (1.0,)) for arch_id in networks}

    monkeypatch.setattr(search_module, "time_interleaved", fake_time_interleaved)
    timings = _time_front(session, points)
    assert len(calls) == 1 and timings[points[1].sample.id].median_ms == pytest.approx(4.3)
