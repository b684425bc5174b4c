"""The tree passes the linter configured in pyproject.toml (ruff), so CI's test run checks it too."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing() -> None:
    if subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True).returncode != 0:
        pytest.fail("ruff is not installed: pip install -c constraints.txt -e '.[test]'")
    run = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)], capture_output=True, text=True, cwd=ROOT
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_no_blanket_linter_disables() -> None:
    # A disable must name the rule and sit on the line it excuses (ruff's `# noqa: CODE`); file-
    # or block-wide pylint switches hide whatever comes after them.
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("tvm_nacos", "passes", "search_space", "tests", "bench", "tutorials")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "pylint: disable" in line or "pylint: enable" in line or line.rstrip().endswith("# noqa")
    ]
    assert not offenders, offenders
