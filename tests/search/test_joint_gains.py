"""What the joint search measures next: kernels that tell architectures apart, not common ones."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from tvm_nacos.cosearch.session import ArchitectureEstimate
from tvm_nacos.cosearch.strategies import _distinguishing_estimate, _kernel_gains, _kernel_usage
from tvm_nacos.search_space import ArchSample


class _Tuner(SimpleNamespace):
    def predicted_best_secs(self) -> tuple[float, float]:
        return self.secs, self.log_std


def _session(kernels_of: dict[str, dict[str, int]], tuners: dict[str, _Tuner]) -> SimpleNamespace:
    """A session as the gain helpers read it: architectures' kernel weights and kernel tuners."""
    architectures = {arch: SimpleNamespace(weights=weights) for arch, weights in kernels_of.items()}
    return SimpleNamespace(pool=SimpleNamespace(architectures=architectures), tuner=tuners.__getitem__)


def _estimate(arch: str, accuracy: float, latency_ms: float) -> ArchitectureEstimate:
    sample = ArchSample({"op": arch})
    return ArchitectureEstimate(sample, accuracy, latency_ms, latency_ms, measured=False)


@pytest.fixture
def three_architectures():
    """Three architectures sharing a large, barely tuned stem; each has one kernel of its own."""
    estimates = [_estimate("a", 90.0, 1.0), _estimate("b", 92.0, 1.2), _estimate("c", 94.0, 1.5)]
    ids = [e.sample.id for e in estimates]
    kernels_of = {ids[0]: {"stem": 1, "a": 2}, ids[1]: {"stem": 1, "b": 2}, ids[2]: {"stem": 1, "c": 1, "b": 1}}
    tuners = {
        "stem": _Tuner(secs=5e-4, log_std=1.0, exhausted=False),  # the largest uncertainty in view
        "a": _Tuner(secs=1e-4, log_std=0.3, exhausted=False),
        "b": _Tuner(secs=1e-4, log_std=0.3, exhausted=False),
        "c": _Tuner(secs=1e-4, log_std=0.3, exhausted=True),
    }
    return _session(kernels_of, tuners), estimates


def test_usage_is_the_share_of_architectures_calling_a_kernel(three_architectures) -> None:
    session, estimates = three_architectures
    assert _kernel_usage(session, estimates) == pytest.approx({"stem": 1.0, "a": 1 / 3, "b": 2 / 3, "c": 1 / 3})


def test_a_kernel_every_architecture_calls_gains_nothing(three_architectures) -> None:
    session, estimates = three_architectures
    value = {e.sample.id: 1.0 for e in estimates}
    # Counting every kernel alike, the common stem would be measured next ...
    plain = _kernel_gains(session, estimates, value, optimism=1.0)
    assert max(plain, key=plain.get) == "stem"
    # ... but it moves all three together; a kernel that sets them apart comes first.
    gains = _kernel_gains(session, estimates, value, optimism=1.0, usage=_kernel_usage(session, estimates))
    assert "stem" not in gains and "c" not in gains  # common; exhausted
    assert set(gains) == {"a", "b"}
    assert sum(gains.values()) == pytest.approx(len(estimates))  # each candidate's value is shared out whole


def test_distinguishing_optimism_leaves_out_common_kernels(three_architectures) -> None:
    session, estimates = three_architectures
    usage = _kernel_usage(session, estimates)
    first = _distinguishing_estimate(session, estimates[0], usage, optimism=1.0)
    # Only kernel "a" (2 calls, 0.1 ms, σ 0.3, called by a third of the architectures) counts.
    own_slack_ms = 2 * 0.1 * (1 - math.exp(-0.3)) * (1 - 1 / 3)
    assert first.latency_ms == estimates[0].latency_ms
    assert first.optimistic_latency_ms == pytest.approx(estimates[0].latency_ms - own_slack_ms)
