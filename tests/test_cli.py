"""The command line: every subcommand, its help, its errors, and one real search → compile → run."""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from example_modules import tiny_supernet
from tuning_helpers import host_cpu

from tvm_nacos.cli import main
from tvm_nacos.cli.search import ProgressPrinter, format_duration, format_progress
from tvm_nacos.cosearch.progress import EstimatedPoint, FrontPoint, SearchProgress
from tvm_nacos.search_space import get

TARGET = json.dumps(host_cpu(2))
SUBCOMMANDS = ("search", "report", "compile", "spaces", "tasks", "example")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """The example supernet (3 choice points, 9 architectures) saved with tvm.ir.save_json."""
    import tvm

    import tvm_nacos
    from tvm_nacos.examples import example_input, example_supernet

    path = tmp_path_factory.mktemp("model") / "example.json"
    path.write_text(tvm.ir.save_json(tvm_nacos.from_torch(example_supernet(), (example_input(),))))
    return path


@pytest.fixture
def fake_measurement(monkeypatch) -> None:
    """Searches started by the CLI build and run nothing: deterministic fake run times, and
    schedule candidates generated on one thread (the same seed, the same search)."""
    import tvm_nacos.cosearch.search as cosearch_api
    from tvm_nacos.testing.fake import SMALL_SCHEDULE_SEARCH, DeterministicBuilder, DeterministicRunner

    monkeypatch.setattr(
        cosearch_api, "search",
        functools.partial(cosearch_api.search, builder=DeterministicBuilder(), runner=DeterministicRunner(fail_every=7),
                          measure_end_to_end=False, deterministic=True, schedule_options=SMALL_SCHEDULE_SEARCH),
    )


# -- example (the former Quick start) -----------------------------------------------------------


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


# -- help ---------------------------------------------------------------------------------------


def test_console_script_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tvm_nacos.cli", "example", "--help"], capture_output=True, text=True, check=True
    )
    assert "examples:" in result.stdout and "--sample" in result.stdout


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help_with_examples(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: tvm-nacos {command}" in out
    assert "examples:" in out and f"tvm-nacos {command}" in out.split("examples:")[1]


def test_top_level_help_lists_every_subcommand(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(command in out for command in SUBCOMMANDS)


def test_search_help_states_the_defaults(monkeypatch, capsys) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # no line breaks inside the phrases checked below
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for text in ("nas-bench-201 by default", "the host CPU by default", "default ./nacos-work",
                 "table | synflow | naswot | grad_norm | supernet", "--resume", "--max-latency-ms"):
        assert text in out


# -- spaces -------------------------------------------------------------------------------------


def test_spaces_lists_the_builtin_spaces_without_tvm_or_torch() -> None:
    code = (
        "import sys; from tvm_nacos.cli import main; code = main(['spaces']);"
        "print(code, sorted(m for m in ('tvm', 'tvm_ffi', 'torch') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert lines[-1] == "0 []", result.stdout + result.stderr
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    assert set(rows) == {"mobilenet-v2", "nas-bench-201", "resnet", "vit"}
    assert rows["nas-bench-201"][1:4] == ["15,625", "6", "1x3x32x32"]
    assert rows["resnet"][1:3] == ["74,088", "18"]
    assert rows["vit"][1:4] == ["7,380", "11", "1x3x32x32"]


# -- tasks --------------------------------------------------------------------------------------


def test_tasks_of_one_architecture_and_what_others_share(model_file: Path, capsys) -> None:
    sample = {"block1.op": "conv5x5", "block2.depth": "keep", "block2.kernel": "k3"}
    code = main(["tasks", "--model", str(model_file), "--sample", json.dumps(sample), "--others", "8",
                 "--target", TARGET])
    assert code == 0
    out = capsys.readouterr().out
    assert '"block1.op":"conv5x5"' in out
    kernel_rows = [line.split() for line in out.splitlines() if line.endswith(" of 8")]
    assert len(kernel_rows) == 6  # stem, block1, block2 convolutions; mean, matmul, reshape
    assert all(int(row[1]) == 1 and float(row[2]) >= 0 and 0 <= int(row[3]) <= 8 for row in kernel_rows)
    stem = [row for row in kernel_rows if int(row[3]) == 8]
    assert stem, "the stem convolution is in every architecture"
    summary = out.strip().splitlines()[-1]
    assert "6 kernels" in summary and "8 other architectures" in summary
    assert float(summary.split("sharing ratio ")[1].split()[0]) > 1.0


def test_tasks_bad_sample_names_the_valid_options(model_file: Path, capsys) -> None:
    assert main(["tasks", "--model", str(model_file), "--sample", '{"block1.op": "conv7x7"}', "--target", TARGET]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tvm-nacos: error:") and "conv7x7" in err and "dwsep3x3" in err


def test_tasks_bad_space_lists_the_spaces(capsys) -> None:
    assert main(["tasks", "--space", "nasbench"]) == 2
    err = capsys.readouterr().err
    assert "'nasbench'" in err and "'nas-bench-201'" in err and "'resnet'" in err


# -- search: errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--space", "nasbench"], ["'nasbench'", "'mobilenet-v2'", "'nas-bench-201'", "'resnet'"]),
        (["--space", "resnet", "--accuracy", "table"], ["'table'", "'synflow'", "'naswot'", "'grad_norm'"]),
        (["--space", "vit", "--accuracy", "naswot"], ["'naswot'", "['supernet', 'synflow', 'grad_norm']"]),
        (["--accuracy", "flops"], ["'flops'", "'table'", "'supernet'", "MODULE:NAME"]),
        (["--accuracy", "no_such_module:score"], ["no_such_module:score"]),
        (["--max-macs", "0"], ["max_macs must be positive"]),
        (["--runner", "board:9190"], ["'board:9190'", "rpc://HOST:PORT/KEY"]),
        (["--runner", "rpc://127.0.0.1:1/board"], ["cannot reach the RPC tracker at 127.0.0.1:1", "rpc_tracker"]),
        (["--devices", "2"], ["devices must be 1", "rpc://HOST:PORT/KEY"]),
        (["--sample-nothing"], None),
    ],
)
def test_search_bad_input_is_a_clear_error(args: list[str], expected: list[str] | None, tmp_path: Path, capsys) -> None:
    if expected is None:  # argparse rejects unknown options itself, with its usage line
        with pytest.raises(SystemExit) as exit_info:
            main(["search", *args])
        assert exit_info.value.code == 2
        return
    assert main(["search", "--work-dir", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("tvm-nacos: error:")
    assert all(text in err for text in expected), err


def test_search_model_accuracy_choices(model_file: Path, tmp_path: Path, capsys) -> None:
    assert main(["search", "--model", str(model_file), "--accuracy", "table", "--work-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'table'" in err and "['macs', 'params', 'inherited', 'naswot']" in err
    assert main(["search", "--model", str(tmp_path / "missing.json"), "--work-dir", str(tmp_path)]) == 2
    assert "missing.json" in capsys.readouterr().err


# -- search, report, compile with fake measurements ---------------------------------------------


def test_search_with_fake_measurement_writes_results_and_progress(
    model_file: Path, tmp_path: Path, fake_measurement, capsys
) -> None:
    work = tmp_path / "work"
    code = main(["search", "--model", str(model_file), "--budget", "16", "--work-dir", str(work), "--target", TARGET,
                 "--seed", "1"])
    assert code == 0
    captured = capsys.readouterr()
    out, err = captured.out, captured.err
    used = int(re.search(r"search done: joint, (\d+)/16 trials", out).group(1))
    assert 0 < used <= 16
    assert "accuracy: macs" in out
    assert re.search(r"^time: .*build \d+ % \(\d+\.\d s\)", out, re.M), out  # where the time went
    assert "| arch_id | accuracy | latency_ms |" in out
    for name in ("pareto.json", "pareto.csv", "pareto.png", "report.md"):
        assert str(work / name) in out
        assert (work / name).is_file()
    assert f"tvm-nacos compile --work-dir {work}" in out
    # Live progress went to stderr, one line per event off a terminal, the last at the budget.
    progress = [line for line in err.splitlines() if line.startswith("trials ")]
    assert progress and progress[-1].startswith(f"trials {used}/16 |")
    assert "elapsed" in progress[-1] and "left" in progress[-1]
    # The work dir keeps what `compile` needs.
    data = json.loads((work / "pareto.json").read_text())
    assert data["space"] is None and data["budget_trials"] == 16 and data["trials_used"] == used
    assert data["name"] == "example"  # the model file's name
    assert (work / "model.json").read_text() == model_file.read_text()
    run = json.loads((work / "run.json").read_text())
    assert run["accuracy"] == "macs" and run["model"] == str(model_file)
    assert run["command"].startswith("tvm-nacos search --model")
    with (work / "pareto.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(data["evaluated"])
    assert sum(r["on_front"] == "True" for r in rows) == len(data["pareto"])

    # report: regenerated from pareto.json, with the same search drawn as a baseline.
    (work / "pareto.png").unlink()
    assert main(["report", "--work-dir", str(work), "--baseline", f"again={work}"]) == 0
    out = capsys.readouterr().out
    assert f"example: joint, {used}/16 trials" in out and (work / "pareto.png").stat().st_size > 0
    md = (work / "report.md").read_text()
    assert "| searched | `example` |" in md and f"| model file | `{model_file}` |" in md
    assert main(["report", "--work-dir", str(work), "--baseline", "nameonly"]) == 2
    assert "NAME=DIR" in capsys.readouterr().err

    # compile: an unknown id lists the front.
    assert main(["compile", "--work-dir", str(work), "--arch", "nope", "--output", str(tmp_path / "a.so")]) == 2
    err = capsys.readouterr().err
    assert "'nope'" in err and data["pareto"][0]["arch_id"] in err


def test_vit_space_searches_with_its_supernet_and_lists_its_matmul_kernels(
    tmp_path: Path, fake_measurement, monkeypatch, capsys
) -> None:
    from tvm_nacos.interface import search as search_interface

    # The supernet of --space vit trains 40 epochs (~20 s); one epoch shows the same path.
    monkeypatch.setitem(search_interface.SUPERNET_RECIPES, "vit", {"epochs": 1})
    work = tmp_path / "vit"
    assert main(["search", "--space", "vit", "--budget", "24", "--work-dir", str(work), "--target", TARGET]) == 0
    out = capsys.readouterr().out
    assert re.search(r"search done: joint, \d+/24 trials", out) and "accuracy: supernet" in out
    data = json.loads((work / "pareto.json").read_text())
    assert data["space"] == "vit" and data["space_options"]["embed_dim"] == 64 and data["evaluated"]
    assert all(0.0 <= row["accuracy"] <= 100.0 for row in data["evaluated"])  # percent, not a proxy's score

    assert main(["tasks", "--space", "vit", "--sample", json.dumps(dict(get("vit").sandwich_samples()[1]))]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if "matmul" in line]
    assert rows and all(int(row[1]) >= 1 for row in rows)  # calls
    assert any("softmax" in line for line in out.splitlines()) and "sharing ratio" in out


def test_search_on_your_data_and_bad_data_writes_nothing(tmp_path: Path, fake_measurement, capsys) -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(96) % 3
    images = rng.normal(size=(96, 3, 8, 8)).astype(np.float32) + labels[:, None, None, None]
    np.savez(tmp_path / "train.npz", images=images, labels=labels)
    work = tmp_path / "mine"
    options = ["resolution=8", "patch_size=2", "embed_dim=16", "num_classes=3"]
    code = main(["search", "--space", "vit", *(a for o in options for a in ("--space-option", o)), "--accuracy",
                 "grad_norm", "--data", str(tmp_path / "train.npz"), "--budget", "8", "--strategy", "random",
                 "--work-dir", str(work),
                 "--target", TARGET])
    assert code == 0, capsys.readouterr().err
    assert "accuracy: grad_norm" in capsys.readouterr().out and (work / "pareto.json").is_file()

    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.where(labels[:, None, None, None] == 2, np.nan, images), labels=labels)
    for args, message in [
        (["--data", str(bad)], "NaN or infinite pixel values, the first in image 2"),
        (["--data", str(tmp_path / "none.npz")], "does not exist"),
        (["--val-data", str(tmp_path / "train.npz")], "--val-data needs --data"),
        (["--data", str(tmp_path / "train.npz"), "--accuracy", "table"], "accuracy 'table' does not take data"),
        (["--data", str(tmp_path / "train.npz"), "--space", "resnet", "--accuracy", "synflow"],
         "resnet takes images of 3x32x32 (C, H, W), but the data has 3x8x8"),
    ]:
        target = tmp_path / "never"
        assert main(["search", "--work-dir", str(target), *args]) == 2
        err = capsys.readouterr().err
        assert message in err, err
        assert not target.exists()  # named before anything is written


def test_a_model_file_is_scored_by_tvm_on_your_validation_images(model_file: Path, tmp_path: Path, fake_measurement,
                                                                  capsys) -> None:
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "val.npz", images=rng.normal(size=(20, 3, 16, 16)).astype(np.float32),
             labels=np.arange(20) % 10)
    work = tmp_path / "inherited"
    args = ["search", "--model", str(model_file), "--accuracy", "inherited", "--budget", "16",
            "--work-dir", str(work), "--target", TARGET]
    assert main([*args, "--data", str(tmp_path / "val.npz"), "--val-data", str(tmp_path / "val.npz")]) == 0
    assert "accuracy: inherited" in capsys.readouterr().out
    rows = json.loads((work / "pareto.json").read_text())["evaluated"]
    # 20 images: every accuracy is a multiple of 5 %
    assert rows and all(row["accuracy"] % 5.0 == 0.0 for row in rows)
    assert main([*args, "--work-dir", str(tmp_path / "nodata")]) == 2
    assert "accuracy 'inherited' scores each architecture on your validation images" in capsys.readouterr().err
    # --accuracy naswot of a model file: NASWOT by TVM on its module (tests/accuracy/test_relax_naswot.py).
    import tvm

    from tvm_nacos.accuracy.relax_naswot import RelaxNaswot
    from tvm_nacos.interface.search import resolve_accuracy

    estimator, name = resolve_accuracy("naswot", module=tvm.ir.load_json(model_file.read_text()))
    assert isinstance(estimator, RelaxNaswot) and name == "naswot"


def test_report_and_compile_need_a_finished_search(tmp_path: Path, capsys) -> None:
    assert main(["report", "--work-dir", str(tmp_path)]) == 2
    assert "tvm-nacos search --work-dir" in capsys.readouterr().err
    assert main(["compile", "--work-dir", str(tmp_path), "--output", str(tmp_path / "a.so")]) == 2
    assert "pareto.json does not exist" in capsys.readouterr().err


# -- a search started from Python, reopened by the command line -------------------------------


@pytest.fixture(scope="module")
def python_search(tmp_path_factory) -> tuple[Path, object]:
    """``tvm_nacos.search`` from Python on :func:`tiny_supernet`, with fake measurements."""
    import tvm_nacos
    from tvm_nacos.testing.fake import SMALL_SCHEDULE_SEARCH, DeterministicBuilder, DeterministicRunner

    model, x = tiny_supernet()
    work = tmp_path_factory.mktemp("python-search") / "work"
    result = tvm_nacos.search(
        tvm_nacos.from_torch(model, (x,)), target=json.loads(TARGET), accuracy=lambda samples: [1.0] * len(samples),
        budget=16, work_dir=work, seed=0, builder=DeterministicBuilder(), runner=DeterministicRunner(),
        measure_end_to_end=False, deterministic=True, name="tiny", schedule_options=SMALL_SCHEDULE_SEARCH,
    )
    return work, result


class TestWorkDirOfAPythonSearch:
    """What a new user does: a supernet of their own with ``Choice``, searched with
    ``tvm_nacos.search`` from Python, then ``tvm-nacos report`` and ``tvm-nacos compile`` on
    that work directory."""

    def test_the_work_dir_keeps_the_module_and_its_name(self, python_search) -> None:
        import tvm

        from tvm_nacos.analysis import search_space

        work, result = python_search
        data = json.loads((work / "pareto.json").read_text())
        assert data["name"] == "tiny" and result.name == "tiny" and data["space"] is None
        mod = tvm.ir.load_json((work / "model.json").read_text())
        assert [c.label for c in search_space(mod)] == ["block.kernel"]
        assert "| searched | `tiny` |" in (work / "report.md").read_text()

    def test_report_from_the_command_line(self, python_search, capsys) -> None:
        work, result = python_search
        (work / "report.md").unlink()
        assert main(["report", "--work-dir", str(work)]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"tiny: joint, {result.trials_used}/16 trials")
        assert "| searched | `tiny` |" in (work / "report.md").read_text()

    def test_compile_from_the_command_line_then_run(self, python_search, tmp_path: Path, capsys) -> None:
        import torch
        import tvm
        from tvm import relax

        from tvm_nacos.frontend.torch import apply_sample

        work, result = python_search
        library = tmp_path / "fastest.so"
        assert main(["compile", "--work-dir", str(work), "--output", str(library)]) == 0
        fastest = min(result.pareto, key=lambda p: p.latency_ms)
        assert f"architecture {fastest.sample.id}" in capsys.readouterr().out
        manifest = json.loads(library.with_suffix(".json").read_text())
        assert manifest["sample"] == dict(fastest.sample)
        assert manifest["inputs"] == [{"name": "x", "shape": [1, 3, 8, 8], "dtype": "float32"}]

        model, x = tiny_supernet()
        vm = relax.VirtualMachine(tvm.runtime.load_module(str(library)), tvm.cpu())
        output = vm["main"](tvm.runtime.tensor(x.numpy())).numpy()
        with torch.no_grad():
            reference = apply_sample(model, fastest.sample)(x).numpy()
        np.testing.assert_allclose(output, reference, rtol=1e-4, atol=1e-4)

    def test_a_negative_finishing_tune_is_refused(self, python_search, tmp_path: Path, capsys) -> None:
        work, _ = python_search
        argv = ["compile", "--work-dir", str(work), "--output", str(tmp_path / "a.so"), "--finish-trials-per-kernel", "-2"]
        assert main(argv) == 2
        assert "finish_trials_per_kernel must be an integer >= 0, got -2" in capsys.readouterr().err
        assert not (tmp_path / "a.so").exists()

    def test_a_finishing_tune_with_no_device_here_names_the_rpc_runner(
        self, python_search, tmp_path: Path, capsys, monkeypatch
    ) -> None:
        import types

        import tvm_nacos.target

        work, _ = python_search
        monkeypatch.setattr(tvm_nacos.target, "device_for", lambda target: types.SimpleNamespace(exist=False))
        argv = ["compile", "--work-dir", str(work), "--output", str(tmp_path / "a.so"), "--finish-trials-per-kernel", "1"]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "no device for target" in err and "runner='rpc://HOST:PORT/KEY'" in err
        assert not (tmp_path / "a.so").exists()

    def test_a_name_that_is_not_a_string_is_refused(self, tmp_path: Path) -> None:
        import tvm_nacos
        from tvm_nacos.errors import SearchConfigError

        model, x = tiny_supernet()
        with pytest.raises(SearchConfigError, match="name must be a non-empty string.*got 3"):
            tvm_nacos.search(tvm_nacos.from_torch(model, (x,)), accuracy=lambda s: [1.0] * len(s), budget=1,
                             work_dir=tmp_path, name=3)


# -- one real search, compiled, exported, loaded and run ----------------------------------------


@pytest.mark.slow
def test_real_search_then_compile_then_load_and_run(model_file: Path, tmp_path: Path, capsys) -> None:
    import torch
    import tvm
    from tvm import relax

    from tvm_nacos.examples import example_input, example_supernet
    from tvm_nacos.frontend.torch import apply_sample
    from tvm_nacos.tuning.database import RECORD_FILE

    work = tmp_path / "work"
    assert main(["search", "--model", str(model_file), "--budget", "16", "--work-dir", str(work),
                 "--target", TARGET, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "search done: joint, " in out
    data = json.loads((work / "pareto.json").read_text())
    assert data["pareto"] and all(p["latency_ms"] > 0 for p in data["pareto"])
    fastest = min(data["pareto"], key=lambda p: p["latency_ms"])

    library = tmp_path / "out" / "fastest.so"
    assert main(["compile", "--work-dir", str(work), "--output", str(library)]) == 0
    out = capsys.readouterr().out
    assert f"architecture {fastest['arch_id']}" in out
    manifest = json.loads(library.with_suffix(".json").read_text())
    assert manifest["sample"] == fastest["sample"] and manifest["inputs"] == [
        {"name": "x", "shape": [1, 3, 16, 16], "dtype": "float32"}
    ]
    assert manifest["output"] == {"shape": [1, 10], "dtype": "float32"}
    assert 0 < manifest["tuned_kernels"] <= manifest["num_kernels"]

    # TVM's runtime alone: load the library, run it on the input only (the weights are inside).
    vm = relax.VirtualMachine(tvm.runtime.load_module(str(library)), tvm.cpu())
    x = example_input(seed=3)
    output = vm["main"](tvm.runtime.tensor(x.numpy())).numpy()
    with torch.no_grad():
        reference = apply_sample(example_supernet(), fastest["sample"])(x).numpy()
    np.testing.assert_allclose(output, reference, rtol=1e-4, atol=1e-4)

    # A finishing tune first: every kernel topped up to 3 candidates, into the same database;
    # asked again, it finds them all there and measures nothing.
    def num_records() -> int:
        return sum(len(f.read_text().splitlines()) for f in (work / "tuning").glob(f"*/{RECORD_FILE}"))

    records = num_records()
    finished = tmp_path / "out" / "finished.so"
    for again in (False, True):
        argv = ["compile", "--work-dir", str(work), "--output", str(finished), "--finish-trials-per-kernel", "3"]
        assert main(argv) == 0
        assert "finishing tune: " in capsys.readouterr().out
        finishing = json.loads(finished.with_suffix(".json").read_text())["finishing_tune"]
        assert finishing["trials_per_kernel"] == 3
        assert (finishing["new_trials"] == 0) if again else (finishing["new_trials"] > 0)
    assert num_records() > records
    vm = relax.VirtualMachine(tvm.runtime.load_module(str(finished)), tvm.cpu())
    np.testing.assert_allclose(vm["main"](tvm.runtime.tensor(x.numpy())).numpy(), reference, rtol=1e-4, atol=1e-4)


def test_runner_and_devices_reach_the_search(model_file: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """``--runner rpc://...`` and ``--devices`` reach the search (a real search on devices behind
    a tracker: ``tests/search/test_search.py::test_small_real_joint_search``)."""
    import tvm_nacos.interface.search as interface

    seen = {}

    def fake_run_search(*args, **kwargs):
        seen.update(kwargs)
        raise KeyboardInterrupt  # stop here: what reached the search is all this checks

    monkeypatch.setattr(interface, "run_search", fake_run_search)
    url = "rpc://10.0.0.5:9190/board"
    assert main(["search", "--model", str(model_file), "--work-dir", str(tmp_path), "--runner", url,
                 "--devices", "3", "--quiet"]) == 130
    assert seen["runner"] == url and seen["devices"] == 3
    assert "build_ahead" not in seen  # the search's default: build ahead on one local device
    assert f"measured on {url}" in capsys.readouterr().err
    assert main(["search", "--model", str(model_file), "--work-dir", str(tmp_path), "--no-build-ahead", "--quiet"]) == 130
    assert seen["build_ahead"] is False


def test_targets_search_gives_a_front_per_target_and_compile_asks_which(
    model_file: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    import tvm_nacos.cosearch.search as cosearch_api
    from tvm_nacos.testing.fake import SMALL_SCHEDULE_SEARCH, DeterministicBuilder, DeterministicRunner

    real = cosearch_api.search

    def fake_measurement(subject, *, targets, **kwargs):  # each target on a fake device
        targets = {name: {"target": target, "runner": DeterministicRunner(fail_every=7)} for name, target in targets.items()}
        return real(subject, targets=targets, builder=DeterministicBuilder(), measure_end_to_end=False,
                    deterministic=True, schedule_options=SMALL_SCHEDULE_SEARCH, **kwargs)

    monkeypatch.setattr(cosearch_api, "search", fake_measurement)
    work = tmp_path / "work"
    targets = json.dumps({"zen": json.loads(TARGET), "sky": {"kind": "llvm", "mcpu": "skylake", "num-cores": 2}})
    assert main(["search", "--model", str(model_file), "--budget", "8", "--work-dir", str(work),
                 "--targets", targets, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "search done: joint over 2 targets" in out
    assert re.search(r"^\[zen\] .*: \d+/8 trials", out, re.M) and re.search(r"^\[sky\] .*: \d+/8 trials", out, re.M)
    assert f"tvm-nacos compile --work-dir {work} --target-name zen" in out
    assert (work / "targets" / "zen" / "pareto.json").is_file() and (work / "targets" / "sky" / "report.md").is_file()
    assert main(["compile", "--work-dir", str(work), "--output", str(tmp_path / "a.so")]) == 2
    assert "targets ['sky', 'zen']" in capsys.readouterr().err
    (work / "report.md").unlink()
    assert main(["report", "--work-dir", str(work)]) == 0 and "## sky" in (work / "report.md").read_text()
    assert "example [sky]: joint" in capsys.readouterr().out
    assert main(["search", "--model", str(model_file), "--work-dir", str(tmp_path / "x"), "--targets", targets,
                 "--target", TARGET]) == 2
    assert "do not also pass --target" in capsys.readouterr().err and not (tmp_path / "x").exists()


# -- live progress --------------------------------------------------------------------------------


def _event(trials: int, budget: int = 64, front: tuple = (), estimated_front: tuple = ()) -> SearchProgress:
    return SearchProgress(
        strategy="joint", trials_used=trials, budget=budget, failed_trials=2, elapsed_secs=75.0,
        eta_secs=None if trials == 0 else 75.0 * (budget - trials) / trials, num_architectures=20,
        num_measured_architectures=6, num_tasks=31, last_task="fused_conv2d", front=front,
        estimated_front=estimated_front,
    )


def test_progress_line_shows_trials_failures_front_and_time() -> None:
    front = tuple(FrontPoint(f"a{i}", 85.0 + i, 0.5 + 0.25 * i) for i in range(7))
    line = format_progress(_event(16, front=front))
    assert line.startswith("trials 16/64 | 2 failed | 6/20 archs measured, 31 kernels | front (accuracy: latency) ")
    shown = line.split("front (accuracy: latency) ")[1].split(" | ")[0].split(", ")
    assert shown[0] == "85: 0.5 ms" and shown[-1] == "91: 2 ms" and len(shown) == 4
    assert line.endswith("1:15 elapsed, 3:45 left")
    assert format_duration(None) == "?" and format_duration(3725) == "1:02:05"
    assert "expected front" not in line


def test_progress_line_shows_the_expected_front_before_anything_is_measured() -> None:
    expected = (EstimatedPoint("a", 88.0, 1.25, 3), EstimatedPoint("b", 90.5, 2.0, 0))
    line = format_progress(_event(4, estimated_front=expected))
    assert "front (accuracy: latency)" not in line  # nothing fully measured yet
    assert "| expected front 88: 1.25 ms (3 to measure), 90.5: 2 ms |" in line


def test_progress_line_of_a_training_and_of_one_target_among_several() -> None:
    from dataclasses import replace

    from tvm_nacos.accuracy import TrainingProgress

    line = format_progress(TrainingProgress("nas-bench-201/supernet(C=4)", 3, 10, 63, 0.51234, 12.0, 28.0))
    assert line == "training nas-bench-201/supernet(C=4): epoch 3/10, loss 0.5123 | 0:12 elapsed, 0:28 left"
    assert format_progress(replace(_event(16), target="board")).startswith("[board] trials 16/64 |")


def test_progress_printer_lines_off_a_terminal_and_in_place_on_one() -> None:
    log = io.StringIO()
    printer = ProgressPrinter(log, min_interval_secs=3600)
    for trials in (16, 32, 64):
        printer(_event(trials))
    printer.close()
    lines = log.getvalue().splitlines()
    assert [line.split(" |")[0] for line in lines] == ["trials 16/64", "trials 64/64"]  # throttled; last kept

    log = io.StringIO()
    printer = ProgressPrinter(log, min_interval_secs=3600)
    for trials in (16, 32, 48):  # a search that stops short of its budget
        printer(_event(trials))
    printer.close()
    assert [line.split(" |")[0] for line in log.getvalue().splitlines()] == ["trials 16/64", "trials 48/64"]

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    printer = ProgressPrinter(screen)
    printer(_event(16))
    printer(_event(64))
    printer.close()
    text = screen.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1


def test_schedule_options_reach_the_search_and_bad_ones_are_clear_errors(
    model_file: Path, tmp_path: Path, fake_measurement, capsys
) -> None:
    """``--schedule-option`` sets the evolutionary schedule search; a bad name names the valid
    ones, a bad form shows the form, and neither writes anything."""
    work = tmp_path / "work"
    assert main(["search", "--model", str(model_file), "--budget", "4", "--work-dir", str(work), "--target", TARGET,
                 "--schedule-option", "population_size=8", "--schedule-option", "genetic_num_iters=1", "-q"]) == 0
    state = json.loads((work / "search" / "state.json").read_text())
    assert state["run"]["schedule_options"] == {"population_size": 8, "genetic_num_iters": 1}
    capsys.readouterr()
    for option, expected in (("populaton_size=8", ["'populaton_size'", "'population_size'", "'genetic_num_iters'"]),
                             ("population_size", ["--schedule-option takes KEY=VALUE", "population_size=16"])):
        other = tmp_path / option.replace("=", "-")
        assert main(["search", "--model", str(model_file), "--work-dir", str(other), "--target", TARGET,
                     "--schedule-option", option]) == 2
        err = capsys.readouterr().err
        assert all(text in err for text in expected), err
        assert not other.exists()


def test_time_budget_reaches_the_search_and_bad_ones_are_clear_errors(
    model_file: Path, tmp_path: Path, fake_measurement, capsys
) -> None:
    """``--time-budget`` takes seconds or a number with s, m, h; it reaches ``pareto.json``; a
    bad one names the valid forms and writes nothing."""
    from tvm_nacos.cli.options import parse_duration

    assert [parse_duration(t) for t in ("90", "90s", "1.5m", "2H", None)] == [90.0, 90.0, 90.0, 7200.0, None]
    with pytest.raises(ValueError, match=r"--time-budget takes a positive duration.*got '-5m'"):
        parse_duration("-5m")  # on the command line: --time-budget=-5m
    work = tmp_path / "work"
    assert main(["search", "--model", str(model_file), "--budget", "8", "--work-dir", str(work), "--target", TARGET,
                 "--time-budget", "10m", "-q"]) == 0
    assert json.loads((work / "pareto.json").read_text())["time_budget_s"] == 600.0
    assert "a time budget of 10 min 00 s for measuring" in (work / "report.md").read_text()
    capsys.readouterr()
    for text in ("0", "soon", "15min", "inf"):
        other = tmp_path / f"bad-{text}"
        assert main(["search", "--model", str(model_file), "--work-dir", str(other), "--target", TARGET,
                     "--time-budget", text]) == 2
        err = capsys.readouterr().err
        assert "--time-budget takes a positive duration" in err and "15m" in err and repr(text) in err, err
        assert not other.exists()
