"""Phase timing of a search (tvm_nacos.cosearch.timing)."""

import time

import pytest

from tvm_nacos.cosearch.timing import PHASES, PhaseTimes, describe_breakdown, union_secs


def test_phases_accumulate_and_the_rest_is_other() -> None:
    times = PhaseTimes()
    for _ in range(2):
        with times.phase("build"):
            time.sleep(0.02)
    with times.phase("run"):
        time.sleep(0.01)
    breakdown = times.breakdown(total_secs=0.1)
    assert breakdown["build"] >= 0.04 and breakdown["run"] >= 0.01
    assert breakdown["schedule search"] == 0
    # The breakdown is rounded to ms: compare with the unrounded phase times.
    assert breakdown["other"] == pytest.approx(0.1 - times.seconds["build"] - times.seconds["run"], abs=6e-4)
    assert breakdown["total"] == 0.1
    assert list(breakdown) == [*PHASES, "other", "total", "measuring"]
    assert breakdown["measuring"] == 0  # no build or run interval was reported


def test_measuring_is_the_time_covered_by_builds_and_runs_overlap_counted_once() -> None:
    assert union_secs([]) == 0
    assert union_secs([(0.0, 1.0), (0.5, 2.0), (3.0, 4.0), (3.2, 3.5)]) == pytest.approx(3.0)
    times = PhaseTimes()
    times.busy(10.0, 11.0)   # a build
    times.busy(10.5, 12.0)   # a run that began before the build's end
    times.busy(13.0, None)   # still going: not counted
    times.busy(14.0, 13.0)   # nonsense: not counted
    assert times.breakdown(total_secs=5.0)["measuring"] == pytest.approx(2.0)
    assert times.breakdown(total_secs=1.0)["measuring"] == 1.0  # never above the total


def test_a_phase_that_raises_is_still_timed() -> None:
    times = PhaseTimes()
    with pytest.raises(RuntimeError):
        with times.phase("build"):
            time.sleep(0.01)
            raise RuntimeError("build worker crashed")
    assert times.seconds["build"] >= 0.01


def test_total_never_below_the_timed_phases() -> None:
    times = PhaseTimes()
    with times.phase("run"):
        time.sleep(0.02)
    breakdown = times.breakdown(total_secs=0.0)
    assert breakdown["other"] == 0 and breakdown["total"] == breakdown["run"]


def test_unknown_phase_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown phase 'compile'; valid: \['schedule search', 'build'"):
        with PhaseTimes().phase("compile"):
            pass


def test_description_lists_shares_largest_first() -> None:
    line = describe_breakdown({"schedule search": 1.0, "build": 3.0, "run": 6.0, "other": 0.0, "total": 10.0})
    assert line == "run 60 % (6.0 s), build 30 % (3.0 s), schedule search 10 % (1.0 s)"
    assert describe_breakdown({"total": 0.0}) == "no time recorded"
    # Time with a build or run in progress overlaps the phases: said apart, not in the sum.
    line = describe_breakdown({"schedule search": 4.0, "build": 3.0, "run": 3.0, "total": 10.0, "measuring": 7.0})
    assert line.endswith("schedule search 40 % (4.0 s), build 30 % (3.0 s), run 30 % (3.0 s); "
                         "a build or run in progress 70 % (7.0 s)")
