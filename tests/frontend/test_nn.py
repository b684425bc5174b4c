"""Relax nn front end: a Choice module exports as a choice point whose options match the plain modules."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm import relax
from tvm.relax.frontend import nn

from tvm_nacos.analysis import search_space
from tvm_nacos.errors import ChoicePointError
from tvm_nacos.frontend.nn import Choice
from tvm_nacos.passes import CheckChoicePoints, SpecializeArch

SPEC = {"forward": {"x": nn.spec.Tensor([1, 3, 8, 8], "float32")}}


class Identity(nn.Module):
    def forward(self, x: nn.Tensor) -> nn.Tensor:
        return x


def _option(name: str) -> nn.Module:
    return {"k1": nn.Conv2D(4, 4, 1), "k3": nn.Conv2D(4, 4, 3, padding=1), "k5": nn.Conv2D(4, 4, 5, padding=2)}[name]


class Supernet(nn.Module):
    def __init__(self) -> None:
        self.stem = nn.Conv2D(3, 4, 3, padding=1)
        self.op = Choice("op", {"k3": _option("k3"), "k5": _option("k5")})
        self.deep = Choice("deep", {"keep": Choice("deep.k", {"k1": _option("k1"), "k3": _option("k3")}), "skip": Identity()})

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        return self.deep(nn.relu(self.op(nn.relu(self.stem(x)))))


class Plain(nn.Module):
    """The architecture (op, deep, deep.k) written without choices."""

    def __init__(self, op: str, deep: str, kernel: str | None) -> None:
        self.stem = nn.Conv2D(3, 4, 3, padding=1)
        self.op = _option(op)
        self.deep = _option(kernel) if deep == "keep" else Identity()

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        return self.deep(nn.relu(self.op(nn.relu(self.stem(x)))))


def _run(mod: tvm.IRModule, *args: np.ndarray) -> np.ndarray:
    ex = tvm.compile(mod, target=tvm.target.Target({"kind": "llvm"}))
    return relax.VirtualMachine(ex, tvm.cpu())["forward"](*[tvm.runtime.tensor(a) for a in args]).numpy()


def test_nn_choice_space_and_numerics() -> None:
    mod, named_params = Supernet().export_tvm(spec=SPEC)
    CheckChoicePoints()(mod)
    space = search_space(mod)
    assert space.labels == ("op", "deep", "deep.k") and space.size == 6
    rng = np.random.default_rng(0)
    weights = {name: rng.standard_normal([int(d) for d in p.shape]).astype("float32") for name, p in named_params}
    x = rng.standard_normal((1, 3, 8, 8)).astype("float32")
    for sample in space.enumerate():
        specialized = SpecializeArch(sample)(mod)
        out = _run(specialized, x, *weights.values())
        kernel = sample.get("deep.k")
        plain_mod, plain_params = Plain(sample["op"], sample["deep"], kernel).export_tvm(spec=SPEC)
        index = {"k1": 0, "k3": 1}
        rename = {
            "stem.weight": "stem.weight", "stem.bias": "stem.bias",
            "op.weight": f"op.options.{['k3', 'k5'].index(sample['op'])}.weight",
            "op.bias": f"op.options.{['k3', 'k5'].index(sample['op'])}.bias",
        }
        if kernel is not None:
            rename["deep.weight"] = f"deep.options.0.options.{index[kernel]}.weight"
            rename["deep.bias"] = f"deep.options.0.options.{index[kernel]}.bias"
        expected = _run(plain_mod, x, *[weights[rename[name]] for name, _ in plain_params])
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5, err_msg=str(sample))


def test_nn_choice_needs_two_options() -> None:
    with pytest.raises(ChoicePointError, match=r"'c' has 1 option"):
        Choice("c", {"only": Identity()})
