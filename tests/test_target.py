"""Targets: the host CPU is detected for real; incomplete ones are completed or refused up front."""

import logging
import os

import pytest
import tvm

import tvm_nacos
from tvm_nacos.target import TargetError, as_target, host_target


def test_host_target_names_the_cpu_and_cores() -> None:
    target = host_target()
    assert target.kind.name == "llvm"
    assert str(target.attrs["mcpu"]) not in ("", "generic")
    assert int(target.attrs["num-cores"]) >= 1
    assert int(host_target(num_cores=3).attrs["num-cores"]) == 3


def test_as_target_accepts_dict_json_and_none() -> None:
    assert as_target({"kind": "llvm"}).kind.name == "llvm"
    assert as_target('{"kind": "llvm", "num-cores": 2}').attrs["num-cores"] == 2
    assert as_target(None).kind.name == "llvm"
    target = tvm.target.Target({"kind": "llvm", "mcpu": "znver4", "num-cores": 2})
    assert as_target(target) is target


def test_an_llvm_target_without_cores_gets_the_hosts_and_one_without_mcpu_a_warning(caplog, monkeypatch) -> None:
    monkeypatch.setattr(tvm_nacos.target, "_WARNED_GENERIC", set())  # warned once per process
    with caplog.at_level(logging.INFO, logger="tvm_nacos.target"):
        target = as_target({"kind": "llvm"})
    assert int(target.attrs["num-cores"]) == len(os.sched_getaffinity(0))
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "no num-cores" in messages and "3x slower" in messages and "mcpu" in messages
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tvm_nacos.target"):
        as_target(target)  # the same target again: checked, not warned about twice
    assert not caplog.records
    with caplog.at_level(logging.WARNING, logger="tvm_nacos.target"):
        as_target(tvm.target.Target({"kind": "llvm", "mcpu": "znver4"}))  # a Target object is checked too
    assert not caplog.records


def test_a_cross_target_without_cores_is_refused() -> None:
    with pytest.raises(TargetError, match="cannot be guessed.*num-cores"):
        as_target({"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a72"})
    board = as_target({"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a72", "num-cores": 4})
    assert int(board.attrs["num-cores"]) == 4


@pytest.mark.skipif(tvm.cuda().exist, reason="this machine has a CUDA device")
def test_a_target_without_a_local_device_is_refused_before_the_space_is_built(tmp_path) -> None:
    # An unknown space name would fail later, when the supernet is built: the target fails first.
    with pytest.raises(TargetError, match="no cuda device on this machine.*rpc://"):
        tvm_nacos.search("no-such-space", target={"kind": "cuda"}, accuracy=lambda s: [0.0] * len(s), budget=8,
                         work_dir=tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("llvm -mcpu=znver4", "not a JSON object"),
        ('{"kind": "llvm"', "not valid JSON"),
        ('{"kind": "no-such-kind"}', "TVM rejects target"),
    ],
)
def test_bad_targets(text: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        as_target(text)
