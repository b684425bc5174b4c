"""The search result inside a user's own Relax pipeline: ``tvm.compile(supernet, relax_pipeline=...)``
builds what ``tvm-nacos compile`` builds for the same pick.

One small search (two architectures, both on the front) with real MetaSchedule schedules whose
run times are fake (``tvm_nacos.testing.fake``): the records are real traces, so the kernels are
really scheduled and compiled.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from example_modules import tiny_supernet

pytestmark = pytest.mark.slow  # one search (~30 s) and a few compiles

# AVX2 without AVX-512 (runs on any x86-64 host of ours); the fake run times hash its code, and with
# alderlake the 3x3 architecture is the faster one, as the tests below expect.
TARGET = {"kind": "llvm", "mcpu": "alderlake", "num-cores": 2}


def _accuracy(samples):
    # The faster architecture is the less accurate one (fake run times: the 3x3 one is faster),
    # so both are on the front.
    return [0.9 if s["block.kernel"] == "k1" else 0.8 for s in samples]


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    """(work dir, parsed pareto.json, the supernet) of a finished search of both architectures."""
    import tvm_nacos
    from tvm_nacos.testing.fake import SMALL_SCHEDULE_SEARCH, DeterministicBuilder, DeterministicRunner

    model, x = tiny_supernet()
    work = tmp_path_factory.mktemp("pipeline") / "work"
    tvm_nacos.search(
        tvm_nacos.from_torch(model, (x,)), target=TARGET, accuracy=_accuracy, budget=16, work_dir=work, seed=0,
        strategy="exhaustive", strategy_options={"trials_per_task": 2}, builder=DeterministicBuilder(),
        runner=DeterministicRunner(), measure_end_to_end=False, deterministic=True, name="tiny",
        schedule_options=SMALL_SCHEDULE_SEARCH,
    )
    result = json.loads((work / "pareto.json").read_text())
    assert sorted(p["sample"]["block.kernel"] for p in result["pareto"]) == ["k1", "k3"]
    import tvm

    return work, result, tvm.ir.load_json((work / "model.json").read_text()), x.numpy()


def _run(library: Path, x: np.ndarray) -> np.ndarray:
    import tvm

    vm = tvm.relax.VirtualMachine(tvm.runtime.load_module(str(library)), tvm.cpu())
    return vm["main"](tvm.runtime.tensor(x)).numpy()


@pytest.mark.parametrize(
    ("rule", "kernel"),
    [({}, "k3"), ({"prefer": "most-accurate"}, "k1"), ({"min_accuracy": 0.85}, "k1"), ({"arch_id": "k3"}, "k3")],
    ids=["fastest", "most-accurate", "min-accuracy", "arch-id"],
)
def test_pipeline_builds_what_tvm_nacos_compile_builds(search, rule, kernel, tmp_path) -> None:
    import tvm

    from tvm_nacos.cli import main
    from tvm_nacos.pipeline import architecture_pipeline

    work, result, supernet, x = search
    if "arch_id" in rule:  # by id: the architecture whose option is `kernel`
        rule = {"arch_id": next(p["arch_id"] for p in result["pareto"] if p["sample"]["block.kernel"] == kernel)}
    pipeline = architecture_pipeline(work, **rule)
    assert dict(pipeline.sample) == {"block.kernel": kernel}

    # tvm-nacos compile for the same pick (by default: the fastest, as the pipeline's default).
    cli_library = tmp_path / "cli.so"
    pick = [] if not rule else ["--arch", pipeline.point["arch_id"]]
    assert main(["compile", "--work-dir", str(work), *pick, "--output", str(cli_library)]) == 0
    manifest = json.loads(cli_library.with_suffix(".json").read_text())
    assert manifest["sample"] == dict(pipeline.sample)

    executable = tvm.compile(supernet, target=tvm.target.Target(TARGET), relax_pipeline=pipeline)
    pipeline_library = tmp_path / "pipeline.so"
    executable.export_library(str(pipeline_library))

    # The same kernels got the same tuned schedules: the libraries are the same bytes ...
    assert pipeline.apply.last_scheduled and manifest["tuned_kernels"] == len(pipeline.apply.last_scheduled)
    assert pipeline_library.read_bytes() == cli_library.read_bytes()
    # ... and compute the same, bit for bit.
    np.testing.assert_array_equal(_run(pipeline_library, x), _run(cli_library, x))


def test_each_step(search) -> None:
    import tvm

    from tvm_nacos.ir import find_choice_points
    from tvm_nacos.pipeline import LowerForTuning, architecture_pipeline, scheduled_kernels

    work, _, supernet, _ = search
    pipeline = architecture_pipeline(work, prefer="most-accurate")
    with tvm.target.Target(TARGET):
        specialized = pipeline.select(supernet)
        tuned = tvm.transform.Sequential([LowerForTuning(), pipeline.apply])(specialized)
    assert find_choice_points(supernet) and not find_choice_points(specialized)
    kernels = sorted(gv.name_hint for gv, f in tuned.functions_items() if isinstance(f, tvm.tirx.PrimFunc))
    # Every kernel of this architecture was measured: each has a tuned schedule.
    assert scheduled_kernels(tuned) == kernels == pipeline.apply.last_scheduled


def test_refuses_another_target(search) -> None:
    import tvm

    from tvm_nacos.pipeline import architecture_pipeline

    work, _, supernet, _ = search
    other = tvm.target.Target({"kind": "llvm", "mcpu": "skylake", "num-cores": 2})
    with pytest.raises(Exception, match="is not the one the kernels were tuned for"):
        tvm.compile(supernet, target=other, relax_pipeline=architecture_pipeline(work))


def test_needs_a_tuning_database(search, tmp_path) -> None:
    from tvm_nacos.errors import WorkDirError
    from tvm_nacos.pipeline import architecture_pipeline

    work, _, _, _ = search
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(work / "pareto.json", bare / "pareto.json")
    with pytest.raises(WorkDirError, match="has no tuning database for target"):
        architecture_pipeline(bare)


def test_tutorial(tmp_path) -> None:
    """``tutorials/your_own_relax_pipeline.py`` runs to its last line with a real search."""
    import os
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "tutorials" / "your_own_relax_pipeline.py"
    env = {**os.environ, "NACOS_TUTORIAL_BUDGET": "16", "NACOS_TUTORIAL_WORK_DIR": str(tmp_path / "work")}
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert "MetaScheduleApplyDatabase: " in out and "the pipeline's executable matches PyTorch" in out
    assert "same output as tvm-nacos compile: True" in out
    assert "composed pipeline output (1, 10)" in out
