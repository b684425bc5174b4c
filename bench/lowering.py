"""What lowering an architecture costs, stage by stage, for one or more versions of the code.

A search lowers every architecture it looks at to find its kernels (``lower_for_tuning``, then
task extraction): on nas-bench-201 ~0.25 s an architecture here, 70–100 architectures in the
default run, most of its "other" time. For N random architectures of each space (the same ones
for every version), each version of the code times, in its own process: ``specialize`` (the
architecture cut out of the supernet and simplified for inference), ``fuse`` (Relax's zero
pipeline: legalize, annotate, fold, fuse), ``strip`` (schedule-rule annotations no rule reads)
and ``extract`` (MetaSchedule task extraction). The first architectures of a process fill the
legalization cache; the table reports the mean over all of them and over those after the first
``--warm-up``. Each version also reports a digest of the tasks it found (every architecture's
kernels by structural hash, with their call counts): two versions that lower alike give the
same digest.

Versions run side by side, alternating space by space and repeat by repeat: ``--code LABEL=DIR``
(repeatable, as in ``time_breakdown``; ``tvm_nacos.passes`` and ``tvm_nacos.search_space``
come from ``DIR`` too when it holds a staged copy). Without ``--code``, this checkout's code.

Usage::

    python bench/run.py lowering
    python bench/run.py lowering --code before=/tmp/before/.stage --code after=. --repeats 3
    python bench/run.py lowering --config smoke --no-save
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np
from _common import code_environment, code_versions, imported_code
from harness import Benchmark, RunContext, main

#: The stages timed, in the order lowering runs them.
STAGES = ("specialize", "fuse", "strip", "extract")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Spaces, architectures, versions of the code."""
    parser.add_argument("--spaces", nargs="+", default=["nas-bench-201", "mobilenet-v2"])
    parser.add_argument("--num-archs", type=int, default=40, help="random architectures per space")
    parser.add_argument("--warm-up", type=int, default=5,
                        help="architectures left out of the warm mean (they fill the legalization cache)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2, help="processes per space and version")
    parser.add_argument("--code", action="append", default=[], metavar="LABEL=DIR",
                        help="a version of the code to run (repeatable; default: this checkout)")


def lower_and_time(space_name: str, num_archs: int, seed: int) -> dict[str, Any]:
    """In this process: lower ``num_archs`` random architectures of ``space_name``; seconds per
    architecture and stage, and the digest of the tasks found."""
    import hashlib

    from _common import unique_samples

    from tvm_nacos._compat import structural_hash
    from tvm_nacos.search_space import get
    from tvm_nacos.target import host_target
    from tvm_nacos.tuning.inference import inference_specializer
    from tvm_nacos.tuning.legalize import default_legalization_cache
    from tvm_nacos.tuning.tasks import extract_tasks, strip_unknown_schedule_rules, zero_pipeline

    builtin = get(space_name)
    mod = builtin.ir_module()
    target = host_target()
    samples = unique_samples(builtin.space, num_archs, seed)
    start = time.perf_counter()
    specializer = inference_specializer(mod)
    setup_secs = time.perf_counter() - start
    cache = default_legalization_cache()
    secs: dict[str, list[float]] = {stage: [] for stage in STAGES}
    digest = hashlib.sha256()
    for sample in samples:
        t0 = time.perf_counter()
        specialized = specializer(sample)
        t1 = time.perf_counter()
        with target:
            fused = zero_pipeline(cache)(specialized)
        t2 = time.perf_counter()
        stripped = strip_unknown_schedule_rules(fused, target)
        t3 = time.perf_counter()
        tasks = extract_tasks(stripped, target)
        t4 = time.perf_counter()
        for stage, (a, b) in zip(STAGES, ((t0, t1), (t1, t2), (t2, t3), (t3, t4)), strict=True):
            secs[stage].append(b - a)
        kernels = sorted((int(structural_hash(t.dispatched[0])), int(t.weight)) for t in tasks)
        digest.update(json.dumps([sample.id, kernels]).encode())
    return {"space": space_name, "architectures": len(samples), "setup_secs": setup_secs, "secs": secs,
            "tasks_digest": digest.hexdigest()[:16]}


def _in_process_of(folder: str | None, args: argparse.Namespace, space: str) -> dict[str, Any]:
    """:func:`lower_and_time` run by the code in ``folder``, in a process of its own."""
    command = [sys.executable, os.path.abspath(__file__), "--lower-and-time", space, str(args.num_archs),
               str(args.seed)]
    done = subprocess.run(command, env=code_environment(folder), capture_output=True, text=True, check=False,
                          cwd=os.path.dirname(os.path.abspath(__file__)))
    if done.returncode != 0:
        raise RuntimeError(f"lowering {space} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _means_ms(record: dict[str, Any], warm_up: int) -> dict[str, float]:
    """Mean milliseconds per architecture by stage (and in all), over every architecture and
    over those after the first ``warm_up``."""
    out = {}
    for stage in STAGES:
        values = record["secs"][stage]
        out[f"{stage}.all"] = 1e3 * float(np.mean(values))
        out[f"{stage}.warm"] = 1e3 * float(np.mean(values[warm_up:] or values))
    out["total.all"] = sum(out[f"{s}.all"] for s in STAGES)
    out["total.warm"] = sum(out[f"{s}.warm"] for s in STAGES)
    return out


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """Every version lowers the same architectures of every space, alternating; prints the table."""
    versions: dict[str, str | None] = dict(code_versions(args.code)) or {"current": None}
    imported = {label: imported_code(folder) for label, folder in versions.items()}
    if len(set(imported.values())) < len(imported):
        raise SystemExit(f"two versions import the same code: {imported}")
    for label, path in imported.items():
        ctx.progress("%s imports %s", label, path)
    runs: list[dict[str, Any]] = []
    report: dict[str, Any] = {"versions": versions, "imported_from": imported, "runs": runs}
    labels = list(versions)
    for space in args.spaces:
        for repeat in range(args.repeats):
            for label in labels if repeat % 2 == 0 else reversed(labels):
                ctx.progress("%s, %s, process %d: lowering %d architectures", label, space, repeat + 1, args.num_archs)
                record = _in_process_of(versions[label], args, space)
                record.update(version=label, repeat=repeat, ms=_means_ms(record, args.warm_up))
                runs.append(record)
                ctx.progress("%s: %.0f ms an architecture (warm %.0f)", label, record["ms"]["total.all"],
                             record["ms"]["total.warm"])
                ctx.save(report)
    report["summary"] = summarize_runs(runs, labels, args.spaces)
    _print_table(report["summary"], labels, args.spaces)
    return report


def summarize_runs(runs: list[dict[str, Any]], labels: list[str], spaces: list[str]) -> dict[str, Any]:
    """Per space and version: the median over its processes of each mean, and whether every
    process of every version found the same tasks."""
    summary: dict[str, Any] = {}
    for space in spaces:
        digests = {r["tasks_digest"] for r in runs if r["space"] == space}
        summary[f"{space}.same_tasks"] = len(digests) == 1
        for label in labels:
            mine = [r for r in runs if r["space"] == space and r["version"] == label]
            for key in mine[0]["ms"] if mine else ():
                summary[f"{space}.{label}.{key}_ms"] = round(float(np.median([r["ms"][key] for r in mine])), 1)
    return summary


def _print_table(summary: dict[str, Any], labels: list[str], spaces: list[str]) -> None:
    print("\n| space | version | " + " | ".join(STAGES) + " | total | total after warm-up | same tasks |")
    print("|---|---|" + "---:|" * (len(STAGES) + 2) + "---|")
    for space in spaces:
        for label in labels:
            if f"{space}.{label}.total.all_ms" not in summary:
                continue
            cells = [f"{summary[f'{space}.{label}.{stage}.all_ms']:.1f}" for stage in STAGES]
            print(f"| {space} | {label} | " + " | ".join(cells) + f" | {summary[f'{space}.{label}.total.all_ms']:.1f} | "
                  f"{summary[f'{space}.{label}.total.warm_ms']:.1f} | {summary[f'{space}.same_tasks']} |")
    print("\n(milliseconds an architecture; medians over the processes of each version)")


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """The summary :func:`run` computed."""
    return result.get("summary", {})


BENCHMARK = Benchmark(
    name="lowering",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={"smoke": ["--spaces", "nas-bench-201", "--num-archs", "4", "--warm-up", "1", "--repeats", "1"]},
)

if __name__ == "__main__":
    if sys.argv[1:2] == ["--lower-and-time"]:
        space_name, num_archs, seed = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        print(json.dumps(lower_and_time(space_name, num_archs, seed)))
        sys.exit(0)
    sys.exit(main(BENCHMARK))
