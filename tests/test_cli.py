"""The command line: the Quick start's main job, and errors on bad input."""

import json
import subprocess
import sys

from tvm_nacos.cli import main


def test_example_runs_and_matches_pytorch(capsys) -> None:
    sample = {"block1.op": "conv5x5", "block2.depth": "keep", "block2.kernel": "k5"}
    assert main(["example", "--sample", json.dumps(sample), "--target", '{"kind": "llvm"}']) == 0
    out = capsys.readouterr().out
    assert "9 architectures" in out
    assert '"block2.kernel":"k5"' in out
    error = float(out.split("max |TVM - PyTorch| = ")[1].split()[0])
    assert error < 1e-4


def test_example_bad_sample_is_a_clear_error(capsys) -> None:
    assert main(["example", "--sample", '{"block1.op": "conv9"}']) == 2
    err = capsys.readouterr().err
    assert "conv9" in err and "conv3x3" in err


def test_console_script_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tvm_nacos.cli", "example", "--help"], capture_output=True, text=True, check=True
    )
    assert "examples:" in result.stdout and "--sample" in result.stdout
