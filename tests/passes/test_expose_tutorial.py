"""The tutorial that writes a new move (tutorials/custom_nas_move.py) runs to the end."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parents[2] / "tutorials" / "custom_nas_move.py"


@pytest.mark.slow
def test_custom_nas_move_tutorial_runs(capsys) -> None:
    namespace = runpy.run_path(str(TUTORIAL), run_name="__main__")
    out = capsys.readouterr().out
    assert "all-original sample matches PyTorch" in out
    assert "fastest:" in out
    space = namespace["space"]
    assert {label.rsplit(".", 1)[1] for label in space.labels} == {"kernel", "skip", "width", "act"}
    assert len(namespace["results"]) == 5
