"""Every tutorial runs as a script, with a tiny budget, to its last line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"


def _run(name: str, tmp_path: Path, budget: int) -> str:
    env = {**os.environ, "NACOS_TUTORIAL_BUDGET": str(budget), "NACOS_TUTORIAL_WORK_DIR": str(tmp_path / "work")}
    result = subprocess.run(
        [sys.executable, str(TUTORIALS / name)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_tutorials_are_in_the_gallery_style() -> None:
    for path in sorted(TUTORIALS.glob("*.py")):
        text = path.read_text()
        title = text.split('"""', 2)[1].strip().splitlines()
        assert len(title) >= 2 and set(title[1]) == {"="} and len(title[1]) >= len(title[0]), path.name
        assert "# %%" in text, path.name


def test_choice_points_and_passes(tmp_path: Path) -> None:
    out = _run("choice_points_and_passes.py", tmp_path, budget=2)
    assert "3 choice points, 6 architectures" in out
    assert "block.kernel: k3 | k5   (only when block.depth is keep)" in out
    assert '"nacos.choice": "stem.op"' in out
    assert "valid options: 'conv3x3', 'dw3x3'" in out
    assert "every architecture matches PyTorch (2 compiled)" in out


@pytest.mark.slow
def test_joint_search_nas_bench_201(tmp_path: Path) -> None:
    out = _run("joint_search_nas_bench_201.py", tmp_path, budget=8)
    assert "nas-bench-201: 15625 architectures, 6 choice points" in out
    assert re.search(r"^  trials \d+/8, \d+ kernels in the pool", out, flags=re.M)  # progress events
    assert "best: |" in out or "the front is empty after" in out  # 8 trials rarely measure all ~25 kernels
    assert "compiled with the tuned kernels; matches PyTorch" in out
    assert (tmp_path / "work" / "pareto.png").is_file()


@pytest.mark.slow
def test_expose_your_pytorch_model(tmp_path: Path) -> None:
    out = _run("expose_your_pytorch_model.py", tmp_path, budget=16)
    assert "conv0.kernel: ['original', 'k1']" in out
    assert "winner " in out and "output (1, 10)" in out
    assert (tmp_path / "work" / "supernet.json").is_file()


@pytest.mark.slow
def test_search_your_trained_model(tmp_path: Path) -> None:
    out = _run("search_your_trained_model.py", tmp_path, budget=16)
    trained = re.search(r"^trained: ([\d.]+)% on 450 validation images", out, flags=re.M)
    assert trained and float(trained.group(1)) > 80.0
    assert f"original architecture: {trained.group(1)}% (TVM), equal to PyTorch's" in out
    assert "9 choice points, 72 architectures" in out
    assert re.search(r"^  +[\d.]+%  [\d.]+ ms  ", out, flags=re.M)  # the front: accuracy, not size
    assert re.search(r"^pick \w+: [\d.]+% \(TVM\), [\d.]+ ms tuned", out, flags=re.M)
