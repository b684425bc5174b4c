"""``TVM_NACOS_SKIP_SLOW`` skips the tests marked ``slow``, and only when set."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py").read_text(encoding="utf-8")
TESTS = """
import pytest

@pytest.mark.slow
def test_slow():
    pass

def test_fast():
    pass
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nmarkers =\n    slow: long-running\naddopts = --strict-markers -p no:randomly\n")
    pytester.makepyfile(test_switch=TESTS)
    return pytester


def test_set_skips_the_slow_tests_and_names_the_switch(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TVM_NACOS_SKIP_SLOW", "Yes")
    result = suite.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*test_switch.py*slow test; unset TVM_NACOS_SKIP_SLOW to run it*"])


@pytest.mark.parametrize("value", [None, "0"])
def test_unset_or_false_runs_everything(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("TVM_NACOS_SKIP_SLOW", raising=False)
    else:
        monkeypatch.setenv("TVM_NACOS_SKIP_SLOW", value)
    suite.runpytest().assert_outcomes(passed=2)


def test_other_values_are_an_error(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TVM_NACOS_SKIP_SLOW", "maybe")
    result = suite.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*TVM_NACOS_SKIP_SLOW='maybe' is neither true*nor false*"])
