"""How well kernel latencies predict a whole network's: the kernel sum vs the end-to-end model.

Takes finished searches (``--work-dir``, repeatable, or fresh searches of ``--space``), compiles
up to ``--max-archs`` of each search's fully measured architectures with their tuned kernels
(the front first), and times them end to end in turns (``time_interleaved``). Then, per search,
over all the architectures timed and over the front alone: the error of the plain kernel sum
(Σ calls × best kernel latency) and of :class:`~tvm_nacos.cosearch.end_to_end.EndToEndModel`
(scale × kernel sum + the terms it picks), each timing estimated by the model fitted on the
others (leave one out), with the kernel sums of :data:`SUMS`: the search's own, the database's,
and every kernel's best schedule rebuilt and timed in turns here after the networks. The same
network timings under each tells the kernels' measurement error from the model's. A network's
timing and a kernel's re-timing are their fastest samples, as in the search since 850d4e6;
``medians`` keeps the same samples by their medians instead (networks and kernels), as before.

Usage::

    python bench/run.py end_to_end_model --config nb201
    python bench/run.py end_to_end_model --work-dir runs/nb201 --work-dir runs/mbv2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from typing import Any

from harness import Benchmark, RunContext, main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The searches whose architectures to time."""
    parser.add_argument("--work-dir", action="append", default=[], help="a finished search (repeatable)")
    parser.add_argument("--space", default="nas-bench-201", help="searched first when no --work-dir is given")
    parser.add_argument("--space-option", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--accuracy", default=None, help="the accuracy of that search (default: the space's own)")
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-archs", type=int, default=30, help="architectures timed per search")


def _search(args: argparse.Namespace, ctx: RunContext) -> str:
    from _common import parse_option

    from tvm_nacos.interface.search import run_search

    work_dir = tempfile.mkdtemp(prefix="end_to_end_model_")
    ctx.progress("searching %s, %d trials, in %s", args.space, args.budget, work_dir)
    run_search(args.space, budget=args.budget, accuracy=args.accuracy, work_dir=work_dir, seed=args.seed,
               space_options=dict(parse_option(o) for o in args.space_option))
    return work_dir


#: The kernel sums each timing is set against: as the search estimated the architecture (its
#: ``pareto.json``; since 669ae5b the front's kernels re-timed in turns at the end of the search),
#: the database's best latencies (one measurement each, taken during the search), and every
#: kernel's best schedule re-timed here in turns after the networks.
SUMS = ("search", "database", "retimed", "medians")


def _timings(work_dir: str, max_archs: int, ctx: RunContext) -> tuple[dict[str, list[Any]], set[str]]:
    """End-to-end timings of the search's architectures (front first) with each of :data:`SUMS`
    as their kernel sums, and the front's ids."""
    from dataclasses import replace

    import numpy as np
    from _common import best_schedule_samples

    from tvm_nacos.analysis import search_space
    from tvm_nacos.cosearch.end_to_end import EndToEndTiming
    from tvm_nacos.search_space import ArchSample
    from tvm_nacos.target import as_target, device_for
    from tvm_nacos.tuning.compile import compile_architecture, random_inputs, time_interleaved
    from tvm_nacos.tuning.database import best_run_secs, open_database
    from tvm_nacos.tuning.intrin import register_tensor_intrinsics
    from tvm_nacos.tuning.tasks import TaskPool
    from tvm_nacos.workdir import WorkDir

    work = WorkDir.open(work_dir)
    result = work.read_result()
    target = as_target(result["target"])
    register_tensor_intrinsics(target)
    mod, _ = work.searched_module(result)
    space = search_space(mod)
    database = open_database(work, target)
    pool = TaskPool(target)
    front = {p["arch_id"] for p in result["pareto"]}
    points = {p["arch_id"]: p for p in result["evaluated"]}
    order = [i for i in points if i in front] + [i for i in points if i not in front]
    networks, profiles, weights, searched = {}, {}, {}, {}
    for arch_id in order[:max_archs]:
        point = points[arch_id]
        if any(k.get("best_latency_ms") is None for k in point["kernels"]):
            continue
        sample = space.canonicalize(ArchSample.from_dict(point["sample"]))
        compiled = compile_architecture(mod, target, sample=sample, database=database)
        networks[arch_id] = (compiled.executable, random_inputs(compiled.lowered["main"], device_for(target), 0))
        tasks = [(pool[key], count) for key, count in pool.add_architecture(mod, sample).weights.items()]
        weights[arch_id] = tasks
        searched[arch_id] = {k["name"]: k["best_latency_ms"] / 1e3 for k in point["kernels"]}
        profiles[arch_id] = {
            "kernel_sum_ms": sum(k["weight"] * k["best_latency_ms"] for k in point["kernels"]),
            "calls": sum(count for _, count in tasks),
            "gflop": sum(count * task.flop for task, count in tasks) / 1e9,
            "megabytes": sum(count * task.argument_bytes for task, count in tasks) / 1e6,
        }
    ctx.progress("%s: %d architectures compiled, timing them in turns", work_dir, len(networks))
    latencies = time_interleaved(networks, target)
    timings = [
        EndToEndTiming(arch_id, measured_ms=latency.best_ms, spread_ms=latency.spread_ms, **profiles[arch_id])
        for arch_id, latency in latencies.items()
    ]
    # Each kernel with a record of its own, re-timed (a kernel measured only through a
    # transferred schedule keeps the search's figure in every sum).
    kernels = {task.key: task.mod for arch_id in networks for task, _ in weights[arch_id]}
    ctx.progress("%s: re-timing the %d kernels of those architectures in turns", work_dir, len(kernels))
    samples = best_schedule_samples(kernels, database, target)
    retimed = {key: float(np.min(values)) for key, values in samples.items()}
    retimed_medians = {key: float(np.median(values)) for key, values in samples.items()}
    recorded = {key: best_run_secs(database, mod) for key, mod in kernels.items()}

    def summed(timing: Any, latency: dict[str, float | None]) -> Any:
        secs = sum(count * (latency.get(task.key) or searched[timing.arch_id][task.name])
                   for task, count in weights[timing.arch_id])
        return replace(timing, kernel_sum_ms=1e3 * secs)

    variants = {
        "search": timings,
        "database": [summed(t, recorded) for t in timings],
        "retimed": [summed(t, {**recorded, **retimed}) for t in timings],
        # The same samples, kept by their medians (networks and kernels): what the search did before 850d4e6.
        "medians": [summed(replace(t, measured_ms=latencies[t.arch_id].median_ms), {**recorded, **retimed_medians})
                    for t in timings],
    }
    return variants, front


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """Per search: the timings, and the leave-one-out errors over all of them and over the front,
    with each of :data:`SUMS` as the kernel sums."""
    from dataclasses import asdict

    from tvm_nacos.cosearch.end_to_end import EndToEndModel
    from tvm_nacos.workdir import WorkDir

    work_dirs = args.work_dir or [_search(args, ctx)]
    report: dict[str, Any] = {"searches": []}
    print("\n| search | timed | " + " | ".join(f"front, {name} sums: kernel sum | model" for name in SUMS) + " |")
    print("|---|---:|" + "---:|---:|" * len(SUMS))
    for work_dir in work_dirs:
        variants, front = _timings(work_dir, args.max_archs, ctx)
        timings = variants["search"]
        # What the search itself reported: its own front timings, its kernels re-timed.
        in_search = WorkDir.open(work_dir).read_result().get("end_to_end_model") or {}
        entry: dict[str, Any] = {"work_dir": work_dir, "timings": [asdict(t) for t in timings],
                                 "in_search": {k: in_search.get(k) for k in ("held_out", "kernels_retimed")}}
        cells = []
        for name in SUMS:
            model = EndToEndModel()
            model.observe_all(variants[name])
            on_front = model.held_out_accuracy(front)
            entry[name] = {
                "kernel_sum_ms": {t.arch_id: t.kernel_sum_ms for t in variants[name]},
                "fit": model.describe(),
                "all": (overall.to_dict() if (overall := model.held_out_accuracy()) else None),
                "front": on_front.to_dict() if on_front else None,
            }
            cells += [_cell(on_front, "kernel_sum_"), _cell(on_front, "")]
        report["searches"].append(entry)
        ctx.save(report)
        print(f"| {work_dir} | {len(timings)} | " + " | ".join(cells) + " |")
    return report


def _cell(accuracy: Any, prefix: str) -> str:
    if accuracy is None:
        return "–"
    return f"{100 * getattr(accuracy, prefix + 'median_abs_error'):.1f} / {100 * getattr(accuracy, prefix + 'max_abs_error'):.1f} %"


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Per search and kernel sum: leave-one-out median and max error, kernel sum and model, on
    the front and over every architecture timed."""
    flat: dict[str, Any] = {}
    for n, entry in enumerate(result["searches"]):
        for name in SUMS:
            for subset in ("all", "front"):
                for key, value in ((entry.get(name) or {}).get(subset) or {}).items():
                    flat[f"{n}.{name}.{subset}.{key}"] = value
        for key, value in ((entry.get("in_search") or {}).get("held_out") or {}).items():
            flat[f"{n}.in_search.{key}"] = value
    return flat


BENCHMARK = Benchmark(
    name="end_to_end_model",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={
        "nb201": ["--space", "nas-bench-201", "--budget", "200"],
        "mbv2": ["--space", "mobilenet-v2", "--space-option", "resolution=32", "--accuracy", "synflow",
                 "--budget", "200"],
        "smoke": ["--budget", "16", "--max-archs", "4"],
    },
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
