"""Domain helpers shared by the benchmarks of ``bench/`` (the harness itself is ``bench/harness.py``)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np


def parse_option(text: str) -> tuple[str, int | float | str]:
    """``"KEY=VALUE"`` of ``--option`` → ``(key, value)``, the value an int or float where it parses as one."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise SystemExit(f"--option takes KEY=VALUE (e.g. resolution=32), got {text!r}")
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, value


def unique_samples(space: Any, count: int, seed: int) -> list:
    """Up to ``count`` distinct random architectures of ``space`` (fewer if the space is smaller)."""
    rng = np.random.default_rng(seed)
    seen: dict = {}
    for _ in range(50 * count):  # bounded: stop even if the space is smaller than count
        sample = space.sample(rng)
        seen.setdefault(sample.id, sample)
        if len(seen) == count:
            break
    return list(seen.values())


def table_or_synflow(space: Any) -> Any:
    """The accuracy a throughput benchmark searches with: the NAS-Bench-201 table for that space,
    the synflow zero-cost proxy for any other built-in space."""
    from tvm_nacos.accuracy import TableAccuracy, ZeroCostProxy

    return TableAccuracy() if space.name == "nas-bench-201" else ZeroCostProxy.create("synflow", space=space)


def log10_estimator(estimator: Any) -> Any:
    """``estimator`` with its scores on a log10 scale (synflow spans ~1e6 to 1e50).

    The ranking does not change; the hypervolume of a front and the joint strategy's hypervolume
    acquisition become meaningful (on the raw scale, the largest score is all of it).
    """
    from tvm_nacos.accuracy.base import AccuracyEstimator

    class Log10(AccuracyEstimator):
        is_cheap: ClassVar[bool] = estimator.is_cheap

        @property
        def name(self) -> str:
            return f"log10({estimator.name})"

        def estimate(self, samples: Sequence[Any]) -> list[float]:
            return [math.log10(v) if v > 0 else float("-inf") for v in estimator.evaluate(samples)]

    return Log10(estimator.space)


#: MetaSchedule's JSON database writes a failed run as a huge run time.
FAILED_RUN_SECS = 1e9


def database_run_secs(database_dir: Any) -> dict[str, list[float]]:
    """Mean run seconds of every record of a MetaSchedule JSON database folder, per workload
    (``"<folder>:<structural hash>"``), in measurement order; a failed run is ``inf``."""
    folder = Path(database_dir)
    workloads = [str(json.loads(line)[0]) for line in (folder / "database_workload.json").open()]
    sequences: dict[str, list[float]] = {}
    with (folder / "database_tuning_record.json").open() as handle:
        for line in handle:
            index, record = json.loads(line)
            run_secs = record[1]
            ok = bool(run_secs) and max(run_secs) < FAILED_RUN_SECS
            secs = float(np.mean(run_secs)) if ok else math.inf
            sequences.setdefault(f"{folder}:{workloads[index]}", []).append(secs)
    return sequences


def best_schedule_timer(task_mod: Any, database: Any, target: Any, *, min_repeat_ms: int = 25) -> Callable[[], float] | None:
    """A function that times once the best schedule of ``task_mod`` in ``database`` (seconds a call:
    the mean of as many calls as fill ``min_repeat_ms``), rebuilt here as the search's builder
    builds a candidate (without its weight-layout-rewrite blocks); ``None`` without a record."""
    import tvm

    from tvm_nacos._compat import meta_schedule, tirx
    from tvm_nacos.tuning.builder import without_layout_rewrite

    ms = meta_schedule()
    sch = database.query_schedule(task_mod, target, workload_name="main")
    if sch is None:
        return None
    rt_mod = tirx.build(without_layout_rewrite(sch.mod), target=target)
    device = tvm.cpu()
    rng = np.random.default_rng(0)
    args = [tvm.runtime.tensor(rng.standard_normal([int(d) for d in info.shape]).astype(info.dtype), device)
            for info in ms.arg_info.ArgInfo.from_prim_func(task_mod["main"])]
    evaluator = rt_mod.time_evaluator(rt_mod.entry_name, device, number=1, repeat=1, min_repeat_ms=min_repeat_ms)
    return lambda: float(evaluator(*args).mean)


def time_best_schedules(tasks: Mapping[str, Any], database: Any, target: Any, *, rounds: int = 5,
                        keep: Callable[[list[float]], float] = np.min) -> dict[str, float]:
    """Each kernel's best schedule (``tasks``: name → module) rebuilt and timed in turns, in an
    order that alternates between rounds: name → the fastest of its samples (``keep``), in
    seconds, as the search keeps (kernels without a record left out).

    The database's latency of a kernel is one measurement taken during the search, under
    whatever load there was; timed in turns, load weighs on every kernel alike.
    """
    samples = best_schedule_samples(tasks, database, target, rounds=rounds)
    return {name: float(keep(values)) for name, values in samples.items()}


def best_schedule_samples(tasks: Mapping[str, Any], database: Any, target: Any, *, rounds: int = 5) -> dict[str, list[float]]:
    """The samples behind :func:`time_best_schedules`: name → seconds, one per round."""
    timers = {name: timer for name, mod in tasks.items()
              if (timer := best_schedule_timer(mod, database, target)) is not None}
    names = list(timers)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        for name in names if round_index % 2 == 0 else reversed(names):
            samples[name].append(timers[name]())
    return samples


def exposed_tutorial_cnn(seed: int = 0) -> tuple[Any, Any]:
    """(the tutorial's trained CNN imported with its moves exposed as the tutorial exposes them,
    the digits): width ×0.5/×1, skip, kernel size 1/3 inheriting the trained weights."""
    import torch
    import tvm

    import tvm_nacos
    from tvm_nacos.accuracy import load_digits_data
    from tvm_nacos.examples import trained_example_cnn
    from tvm_nacos.passes import ExposeKernelSize, ExposeSkip, ExposeWidth

    data = load_digits_data(resolution=8, channels=1, seed=0)
    model = trained_example_cnn(data, seed=seed)
    mod = tvm_nacos.from_torch(model, (torch.zeros(1, 1, 8, 8),))
    passes = [ExposeWidth(multipliers=(0.5, 1.0)), ExposeSkip(),
              ExposeKernelSize(sizes=(1, 3), init="inherit", inside_options="original")]
    return tvm.transform.Sequential(passes)(mod), data


def code_versions(items: Sequence[str]) -> dict[str, str]:
    """``--code LABEL=DIR`` options (versions of the code run side by side): label → absolute DIR."""
    versions = {}
    for item in items:
        label, sep, folder = item.partition("=")
        if not sep or not label or not os.path.isdir(folder):
            raise SystemExit(f"--code takes LABEL=DIR with an existing DIR, got {item!r}")
        versions[label] = os.path.abspath(folder)
    return versions


def code_environment(folder: str | None) -> dict[str, str]:
    """The environment that runs the code of the checkout in ``folder`` (``--code LABEL=DIR``;
    this checkout's where ``None``): ``folder`` first on ``PYTHONPATH``."""
    env = dict(os.environ)
    if folder is not None:
        env["PYTHONPATH"] = folder + os.pathsep + env.get("PYTHONPATH", "")
    return env


def imported_code(folder: str | None) -> str:
    """Where ``tvm_nacos`` is imported from with ``folder``'s environment (checked, not assumed)."""
    with tempfile.TemporaryDirectory() as cwd:
        done = subprocess.run([sys.executable, "-c", "import tvm_nacos; print(tvm_nacos.__file__)"],
                              env=code_environment(folder), cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()
