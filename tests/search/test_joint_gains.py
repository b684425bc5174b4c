"""What the joint search measures next: kernels that tell architectures apart first, common
kernels for what they lift the whole front by."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from tvm_nacos.cosearch.gains import (
    common_kernel_gains,
    distinguishing_estimate,
    finish_look,
    finish_reserve,
    kernel_gains,
    kernel_usage,
    next_step,
    plan_round,
    removable_secs,
)
from tvm_nacos.cosearch.latency_estimate import headroom_log_std, tuned_log_std
from tvm_nacos.cosearch.session import ArchitectureEstimate
from tvm_nacos.cosearch.strategies.joint import JointSearch
from tvm_nacos.search_space import ArchSample


class _Tuner(SimpleNamespace):
    best_secs = None  # unmeasured: the estimate and its std are the prior's
    trials = 0
    mod = None
    sibling = False  # whether a measured variant with its anchor block lends it a schedule

    def predicted_best_secs(self) -> tuple[float, float]:
        return self.secs, self.log_std


def _session(kernels_of: dict[str, dict[str, int]], tuners: dict[str, _Tuner]) -> SimpleNamespace:
    """A session as the gain helpers read it: architectures' kernel weights and kernel tuners."""
    architectures = {arch: SimpleNamespace(weights=weights) for arch, weights in kernels_of.items()}
    siblings = {id(t): t for t in tuners.values()}

    def anchor_sibling_secs(mod) -> float | None:
        return next((1e-4 for t in siblings.values() if t.mod is mod and t.sibling), None)

    return SimpleNamespace(
        pool=SimpleNamespace(architectures=architectures, architecture=architectures.get), tuner=tuners.__getitem__, batch_size=16,
        anchor_sibling_secs=anchor_sibling_secs,
    )


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
    assert kernel_usage(session, estimates) == pytest.approx({"stem": 1.0, "a": 1 / 3, "b": 2 / 3, "c": 1 / 3})


def test_a_kernel_every_architecture_calls_gains_nothing(three_architectures) -> None:
    session, estimates = three_architectures
    value = {e.sample.id: 1.0 for e in estimates}
    # Counting every kernel alike, the common stem would be measured next ...
    plain = kernel_gains(session, estimates, value, optimism=1.0)
    assert max(plain, key=plain.get) == "stem"
    # ... but it moves all three together; a kernel that sets them apart comes first.
    gains = kernel_gains(session, estimates, value, optimism=1.0, usage=kernel_usage(session, estimates))
    assert "stem" not in gains and "c" not in gains  # common; exhausted
    assert set(gains) == {"a", "b"}
    assert sum(gains.values()) == pytest.approx(len(estimates))  # each candidate's value is shared out whole


def test_distinguishing_optimism_leaves_out_common_kernels(three_architectures) -> None:
    session, estimates = three_architectures
    usage = kernel_usage(session, estimates)
    first = distinguishing_estimate(session, estimates[0], usage, optimism=1.0)
    # Only kernel "a" (2 calls, 0.1 ms, σ 0.3, called by a third of the architectures) counts.
    own_slack_ms = 2 * 0.1 * (1 - math.exp(-0.3)) * (1 - 1 / 3)
    assert first.latency_ms == estimates[0].latency_ms
    assert first.optimistic_latency_ms == pytest.approx(estimates[0].latency_ms - own_slack_ms)


def test_a_common_kernel_gains_what_it_lifts_the_whole_front_by(three_architectures) -> None:
    session, estimates = three_architectures
    usage = kernel_usage(session, estimates)
    gains = common_kernel_gains(session, estimates, usage, optimism=1.0)
    # All three are on the front (reference: 90 %, 1.65 ms). Tuning the stem could take
    # 0.5 ms × (1 − e^−1) off each of them: the front's hypervolume grows by that shift times
    # the accuracy it spans above the reference (94 − 90).
    stem_shift_ms = 0.5 * (1 - math.exp(-1.0))
    assert gains["stem"] == pytest.approx(stem_shift_ms * (94.0 - 90.0))
    # "b" is called by two of the three: two thirds of its removable latency count here (the
    # rest is its distinguishing share); "c" is exhausted and gains nothing.
    b_shift_ms = 2 / 3 * 1e3 * 1e-4 * (1 - math.exp(-0.3))
    assert gains["b"] == pytest.approx(2 * b_shift_ms * (92.0 - 90.0) + b_shift_ms * (94.0 - 92.0))
    assert "c" not in gains
    assert max(gains, key=gains.get) == "stem"


def test_common_gains_count_only_the_front(three_architectures) -> None:
    session, estimates = three_architectures
    # "a" slowed down until "b" dominates it: tuning "a" alone moves nothing on the front.
    slow_a = [ArchitectureEstimate(estimates[0].sample, 90.0, 1.3, 1.3, measured=False), *estimates[1:]]
    gains = common_kernel_gains(session, slow_a, kernel_usage(session, slow_a), optimism=1.0)
    assert "a" not in gains and gains["stem"] > 0


def test_the_finish_look_is_what_the_finish_trials_pay_per_missing_kernel() -> None:
    assert finish_look(missing=5, finish_trials=20, finish_batch=4) == 4  # a full first look each
    assert finish_look(missing=24, finish_trials=50, finish_batch=4) == 2
    assert finish_look(missing=24, finish_trials=20, finish_batch=4) == 1  # never less than one
    assert finish_look(missing=0, finish_trials=20, finish_batch=4) == 4


def test_shared_kernels_wait_for_the_finish_unless_it_cannot_pay_for_them(three_architectures) -> None:
    session, estimates = three_architectures
    usage = kernel_usage(session, estimates)
    # A finish that gives the stem a first look of 4 trials anyway: looking now gains nothing.
    assert "stem" not in common_kernel_gains(session, estimates, usage, optimism=1.0, finish_look=4)
    # A finish with one trial for it: a first look of 4 now removes the headroom between the
    # two (measured: 1/√n in log space), lifting all three front members (accuracy span 4).
    gains = common_kernel_gains(session, estimates, usage, optimism=1.0, finish_look=1)
    gap = headroom_log_std(1) - headroom_log_std(4)
    assert gap == pytest.approx(0.5)
    assert gains["stem"] == pytest.approx(0.5 * (1 - math.exp(-gap)) * (94.0 - 90.0))
    # A finish of 2 trials leaves less to gain; once measured, the stem's next step counts as
    # for any measured kernel (what 4 more trials after 4 remove).
    assert common_kernel_gains(session, estimates, usage, optimism=1.0, finish_look=2)["stem"] < gains["stem"]
    session.tuner("stem").best_secs, session.tuner("stem").trials = 5e-4, 4
    measured = common_kernel_gains(session, estimates, usage, optimism=1.0, finish_look=1)
    step_gap = headroom_log_std(4) - headroom_log_std(8)
    assert measured["stem"] == pytest.approx(0.5 * (1 - math.exp(-step_gap)) * (94.0 - 90.0))


class _FinishTuner(SimpleNamespace):
    trials = 0

    def transfer_candidate(self):
        return None

    def predicted_best_secs(self) -> tuple[float, float]:
        return 1e-4, 0.3


class _FinishSession(SimpleNamespace):
    """What :meth:`JointSearch.finish` reads and spends: trials left, and kernels whose measurements
    succeed unless listed in ``failing``."""

    batch_size = 16
    in_flight_trials = 0  # one device: every batch lands before the next

    def tuner(self, key: str) -> _FinishTuner:
        return self.tuners[key]

    def busy(self, key: str) -> bool:
        return False

    def wait_all(self) -> None:
        pass

    def measure(self, key: str, limit: int = 16) -> int:
        spent = min(limit, self.trials_left)
        self.trials_left -= spent
        self.measured.append(key)
        self.tuners[key].trials += spent
        if key not in self.failing:
            self.tuners[key].best_secs = 1e-4
        return spent

    def measured_front(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(arch_id=arch) for arch, a in self.pool.architectures.items()
                if all(self.tuners[k].best_secs is not None for k in a.weights)]


def test_a_tight_finish_completes_the_closest_member_first() -> None:
    # "wide" owns the estimated hypervolume but misses three kernels; "narrow" misses one.
    wide, narrow = _estimate("wide", 94.0, 1.0), _estimate("narrow", 90.0, 0.5)
    kernels_of = {wide.sample.id: {"x": 1, "y": 1, "z": 1}, narrow.sample.id: {"w": 1}}
    tuners = {k: _FinishTuner(best_secs=None, exhausted=False) for k in "xyzw"}
    architectures = {arch: SimpleNamespace(weights=weights) for arch, weights in kernels_of.items()}
    session = _FinishSession(pool=SimpleNamespace(architectures=architectures, architecture=architectures.get), tuners=tuners, trials_left=3,
                             measured=[], failing={"z"})

    JointSearch(session, finish_batch=4, optimism=1.0).finish([wide, narrow])
    # Three trials could complete "wide" alone, and its failing kernel would leave the front
    # empty; the member closest to complete goes first, and "wide" no longer fits.
    assert session.measured[0] == "w"
    assert [p.arch_id for p in session.measured_front()] == [narrow.sample.id]
    assert session.trials_left == 0  # what is left tunes the completed member


def test_a_kernel_is_tuned_in_doubling_steps() -> None:
    tuners = {
        "fresh": _Tuner(secs=1e-4, log_std=1.0, exhausted=False),
        "lent": _Tuner(secs=1e-4, log_std=0.3, exhausted=False, mod=object(), sibling=True),
        "failed": _Tuner(secs=1e-4, log_std=1.0, exhausted=False, trials=4),  # first look failed
        **{f"after{n}": _Tuner(secs=1e-4, log_std=0.3, best_secs=1e-4, trials=n, exhausted=False) for n in (1, 4, 8, 32)},
    }
    session = _session({}, tuners)
    steps = {key: next_step(session, key, first_look=4) for key in tuners}
    assert steps == {"fresh": 4, "lent": 1, "failed": 4, "after1": 4, "after4": 4, "after8": 8, "after32": 16}


def test_trials_go_where_tuning_has_been_measured_to_leave_most() -> None:
    # Two kernels measured at the same latency: one with a single (transferred) trial, one
    # tuned for 64. The estimates' std barely tells them apart; the measured headroom does:
    # 4 more trials after 1 remove far more than 16 more after 64.
    estimate = _estimate("x", 90.0, 1.0)
    tuners = {
        "once": _Tuner(secs=1e-4, log_std=tuned_log_std(1, 16), best_secs=1e-4, trials=1, exhausted=False),
        "tuned": _Tuner(secs=1e-4, log_std=tuned_log_std(64, 16), best_secs=1e-4, trials=64, exhausted=False),
    }
    session = _session({estimate.sample.id: {"once": 1, "tuned": 1}}, tuners)
    once_gap = headroom_log_std(1) - headroom_log_std(5)
    tuned_gap = headroom_log_std(64) - headroom_log_std(80)
    assert once_gap == pytest.approx(1 - 1 / math.sqrt(5))
    assert removable_secs(session, "once", 1, 1.0, step=4) == pytest.approx(1e-4 * (1 - math.exp(-once_gap)))
    plain = removable_secs(session, "once", 1, 1.0) / removable_secs(session, "tuned", 1, 1.0)
    gains = kernel_gains(session, [estimate], {estimate.sample.id: 1.0}, optimism=1.0, first_look=4)
    assert plain < 2.5
    assert gains["once"] / gains["tuned"] == pytest.approx((1 - math.exp(-once_gap)) / (1 - math.exp(-tuned_gap)))
    assert gains["once"] / gains["tuned"] > 20


def test_a_first_look_wins_over_a_further_batch_on_what_each_trial_buys() -> None:
    # One kernel measured at 8 trials, one not measured yet, equally fast by the estimates.
    # Summed over the architecture, the measured one's next 8 trials remove less than the
    # unmeasured one's first 4 could (its estimate is far less certain); per trial, far less.
    estimate = _estimate("x", 90.0, 1.0)
    tuners = {
        "measured": _Tuner(secs=1e-4, log_std=tuned_log_std(8, 16), best_secs=1e-4, trials=8, exhausted=False),
        "unmeasured": _Tuner(secs=1e-4, log_std=1.0, exhausted=False),
    }
    session = _session({estimate.sample.id: {"measured": 1, "unmeasured": 1}}, tuners)
    gains = kernel_gains(session, [estimate], {estimate.sample.id: 1.0}, optimism=1.0, first_look=4)
    per_trial = {key: gains[key] / next_step(session, key, first_look=4) for key in gains}
    assert per_trial["unmeasured"] > 4 * per_trial["measured"]
    # A kernel measured once through a lent schedule still has most of its tuning ahead.
    tuners["measured"].trials = 1
    gains = kernel_gains(session, [estimate], {estimate.sample.id: 1.0}, optimism=1.0, first_look=4)
    assert gains["measured"] / gains["unmeasured"] == pytest.approx(
        (1 - math.exp(-(1 - 1 / math.sqrt(5)))) / (1 - math.exp(-1.0))
    )


def test_a_round_measures_the_best_gains_per_trial_that_fit_in_a_batch() -> None:
    gains = {"big": 7.0, "first_look": 2.0, "lent": 1.0, "deep": 3.0}
    steps = {"big": 16, "first_look": 4, "lent": 1, "deep": 16}
    # Per trial: lent 1.0, first_look 0.5, big 0.44, deep 0.19. "big" would overflow the batch
    # after the first two, and the round ends there (no jumping ahead to smaller steps).
    assert plan_round(gains, steps, room=16) == ["lent", "first_look"]
    assert plan_round(gains, steps, room=21) == ["lent", "first_look", "big"]
    # The best kernel is measured even when its step does not fit.
    assert plan_round({"deep": 3.0}, {"deep": 16}, room=2) == ["deep"]


def _budget(budget: int, used: int, failed: int = 0, affordable: int | None = None) -> SimpleNamespace:
    """A session at ``used`` of ``budget`` trials; ``affordable``: the trials its time budget
    leaves room for, when fewer than the trials left."""
    left = budget - used if affordable is None else min(budget - used, affordable)
    return SimpleNamespace(budget=budget, trials_used=used, trials_left=left, planned_budget=used + left,
                           num_failed=failed)


def test_the_finish_keeps_enough_to_complete_the_whole_front() -> None:
    # Three members sharing 20 unmeasured kernels, each missing 2 of its own: 26 in all.
    shared = [f"s{i}" for i in range(20)]
    missing = [shared + [f"{m}{i}" for i in range(2)] for m in "abc"]
    # 83 trials, 20 used, none failed: 26 kernels + 1 + ⌈26 × 1/22⌉ = 29, above the 25 % share (20).
    assert finish_reserve(_budget(83, 20), missing, finish_fraction=0.25) == 29
    # Late in the run, all that is left is kept (26 + 1 + 1 > 27 left).
    assert finish_reserve(_budget(83, 56), missing, finish_fraction=0.25) == 27
    # The whole front no longer fits: enough for the member closest to complete (22 + 1 + 1) ...
    assert finish_reserve(_budget(83, 58), missing, finish_fraction=0.25) == 24
    # ... and once not even that fits, the share.
    assert finish_reserve(_budget(83, 62), missing, finish_fraction=0.25) == 20
    # More than half the budget would be kept: the closest member only (at the start, no
    # measurement yet: a failure rate of 1/2, so 30 + 1 + 15); at 500 trials the share covers it.
    wide = [[f"{m}{i}" for i in range(30)] for m in "abc"]  # 90 kernels, 30 per member
    assert finish_reserve(_budget(150, 0), wide, finish_fraction=0.25) == 46
    assert finish_reserve(_budget(500, 100), wide, finish_fraction=0.25) == 125
    # Failures seen raise the margin; a complete front needs only the share.
    assert finish_reserve(_budget(83, 20, failed=10), missing, finish_fraction=0.25) == 26 + 1 + 13
    assert finish_reserve(_budget(83, 20), [[], []], finish_fraction=0.25) == 20
    # A time budget that affords 63 more trials plans as a budget of 83 does.
    assert finish_reserve(_budget(10_000, 20, affordable=63), missing, finish_fraction=0.25) == 29
    assert finish_reserve(_budget(10_000, 20, affordable=63), [[], []], finish_fraction=0.25) == 20
