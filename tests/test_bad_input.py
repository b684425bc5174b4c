"""Bad input: a clear error that names the problem and the valid choices, and a work directory
left exactly as it was (every file, byte for byte)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import example_modules
import pytest
import torch
from torch import nn

import tvm_nacos
from tvm_nacos import search_space
from tvm_nacos.errors import (
    InvalidSampleError,
    NacosError,
    NoChoicePointError,
    SearchConfigError,
    UnknownSpaceError,
    UnsupportedModelError,
)
from tvm_nacos.frontend.torch import Choice
from tvm_nacos.passes import SpecializeArch
from tvm_nacos.target import TargetError, as_target
from tvm_nacos.testing.fake import SMALL_SCHEDULE_SEARCH, DeterministicBuilder, DeterministicRunner
from tvm_nacos.tuning.runner import RunnerSpecError

TARGET = {"kind": "llvm", "num-cores": 2}
MOD = example_modules.one_kernel_choice()


def accuracy(samples) -> list[float]:
    return [{"k3": 0.8, "k5": 0.9, "identity": 0.5}[s["block.kernel"]] for s in samples]


def _search(work_dir: Path, mod=MOD, **options):
    settings = {
        "target": TARGET, "accuracy": accuracy, "budget": 6, "strategy": "exhaustive",
        "strategy_options": {"trials_per_task": 2}, "work_dir": work_dir, "builder": DeterministicBuilder(),
        "runner": DeterministicRunner(), "measure_end_to_end": False, "deterministic": True,
        "schedule_options": SMALL_SCHEDULE_SEARCH,
    }
    settings.update(options)
    return tvm_nacos.search(mod, **settings)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A work directory holding a finished (fake-measured) search, and its result."""
    work_dir = tmp_path_factory.mktemp("work")
    return work_dir, _search(work_dir)


def snapshot(work_dir: Path) -> dict[str, str]:
    """Relative path → SHA-256 of the contents, for every file and folder under ``work_dir``."""
    return {
        str(p.relative_to(work_dir)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(work_dir.rglob("*"))
    }


class Exotic(nn.Module):
    """A model whose second option uses an op TVM's importer has no converter for."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.special.bessel_j0(x)


class BooleanMask(nn.Module):
    """An op TVM converts, but not with a boolean index."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[x > 0].sum() + x


def _import(option: nn.Module) -> Callable[[Path, object], object]:
    model = nn.Sequential(nn.ReLU(), Choice("act", {"relu": nn.ReLU(), "odd": option}))
    return lambda wd, result: tvm_nacos.from_torch(model, (torch.randn(4, 4),))


#: id → (call(work_dir, finished result), error class, message pattern)
CASES: dict[str, tuple[Callable[[Path, object], object], type, str]] = {
    "unknown space": (
        lambda wd, r: _search(wd, "resnet-50"), UnknownSpaceError,
        r"^unknown search space 'resnet-50'; valid names: 'mobilenet-v2', 'nas-bench-201', 'resnet', 'vit'$",
    ),
    "unknown space (get)": (
        lambda wd, r: search_space.get("mobilenet"), UnknownSpaceError,
        r"^unknown search space 'mobilenet'; valid names: 'mobilenet-v2', 'nas-bench-201', 'resnet', 'vit'$",
    ),
    "malformed target JSON": (
        lambda wd, r: _search(wd, target='{"kind": "llvm",'), TargetError,
        r"""^target '\{"kind": "llvm",' is not valid JSON: Expecting property name enclosed in double quotes: """
        r"line 1 column 17 \(char 16\)",
    ),
    "target not a JSON object": (
        lambda wd, r: _search(wd, target="llvm -mcpu=znver4"), TargetError,
        r"^target 'llvm -mcpu=znver4' is not a JSON object; TVM 0.27 takes target dicts such as "
        r'\{"kind": "llvm", "mcpu": "znver4", "num-cores": 2\} or \{"kind": "cuda"\}$',
    ),
    "unknown target kind": (
        lambda wd, r: _search(wd, target={"kind": "quantum"}), TargetError,
        r"^TVM rejects target \{'kind': 'quantum'\}: .*quantum",
    ),
    "budget 0": (lambda wd, r: _search(wd, budget=0), ValueError, r"^budget must be a positive number of trials, got 0$"),
    "budget < 0": (lambda wd, r: _search(wd, budget=-5), ValueError, r"got -5$"),
    "budget not an int": (lambda wd, r: _search(wd, budget=2.5), ValueError, r"got 2\.5$"),
    "budget a string": (lambda wd, r: _search(wd, budget="8"), ValueError, r"got '8'$"),
    "budget a bool": (lambda wd, r: _search(wd, budget=True), ValueError, r"got True$"),
    "unknown strategy": (
        lambda wd, r: _search(wd, strategy="greedy"), ValueError,
        r"^unknown strategy 'greedy'; valid: \['exhaustive', 'joint', 'random', 'two-stage'\]$",
    ),
    "unknown schedule option": (
        lambda wd, r: _search(wd, schedule_options={"population": 8}), SearchConfigError,
        r"^unknown schedule option\(s\) \['population'\]; valid options: \['population_size', 'init_min_unmeasured', ",
    ),
    "schedule option out of range": (
        lambda wd, r: _search(wd, schedule_options={"population_size": 0}), SearchConfigError,
        r"^schedule option population_size must be an integer >= 1, got 0$",
    ),
    "unknown runner": (
        lambda wd, r: _search(wd, runner="gpu0"), RunnerSpecError,
        r"^unknown runner 'gpu0'; valid: 'local', 'rpc://HOST:PORT/KEY', or an ms.runner.Runner object$",
    ),
    "sample with an unknown option": (
        lambda wd, r: r.compile({"block.kernel": "k7"}), InvalidSampleError,
        r"^unknown option 'k7' for label 'block.kernel'; valid options: 'k3', 'k5', 'identity'$",
    ),
    "sample with an unknown label": (
        lambda wd, r: SpecializeArch({"block.size": "k3"})(MOD), InvalidSampleError,
        r"^unknown label 'block.size' in sample; valid labels: 'block.kernel'$",
    ),
    "sample missing a label": (
        lambda wd, r: r.compile({}), InvalidSampleError, r"^sample misses active labels 'block.kernel'$",
    ),
    "model without choice points": (
        lambda wd, r: _search(wd, SpecializeArch({"block.kernel": "k3"})(MOD)), NoChoicePointError,
        r"^the module has no choice point, so there is nothing to search; add some with the Expose passes "
        r"\(tvm_nacos.passes.ExposeKernelSize, ExposeWidth, ...\) or build the model with "
        r"tvm_nacos.frontend.torch.Choice$",
    ),
    "PyTorch op without converter": (
        _import(Exotic()), UnsupportedModelError,
        r"^TVM's PyTorch importer cannot convert the op\(s\) \['special_bessel_j0.default'\] of Exotic; "
        r"replace them or register a converter with TVM$",
    ),
    "PyTorch op the converter rejects": (
        _import(BooleanMask()), UnsupportedModelError,
        r"^TVM's PyTorch importer cannot convert the op aten.index.Tensor \(node 'index'\) of BooleanMask: "
        r"TypeError: Take op requires the input indices to have integer dtype.*bool; rewrite that part",
    ),
}

@pytest.mark.parametrize("case", list(CASES))
def test_clear_error_and_work_dir_intact(case: str, finished) -> None:
    work_dir, result = finished
    call, error, pattern = CASES[case]
    before = snapshot(work_dir)
    assert "pareto.json" in before and any(name.endswith("database_tuning_record.json") for name in before)
    with pytest.raises(error, match=pattern) as info:
        call(work_dir, result)
    assert isinstance(info.value, ValueError)  # callers that only know builtins can catch it
    assert isinstance(info.value, NacosError)
    assert snapshot(work_dir) == before


def test_malformed_target_json_shows_an_example() -> None:
    with pytest.raises(TargetError, match=r"is not valid JSON: .* such as \{\"kind\": \"llvm\""):
        as_target('{"kind": "llvm",')


def test_unknown_strategy_option_names_the_valid_ones(finished) -> None:
    work_dir, _ = finished
    before = snapshot(work_dir)
    try:
        with pytest.raises(NacosError, match=r"'trials'.*valid options.*'trials_per_task'"):
            _search(work_dir, strategy="random", strategy_options={"trials": 4})
    finally:
        assert snapshot(work_dir) == before
