"""Targets: the host CPU is detected for real; bad descriptions get a clear error."""

import pytest
import tvm

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
    target = tvm.target.Target({"kind": "llvm"})
    assert as_target(target) is target


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
