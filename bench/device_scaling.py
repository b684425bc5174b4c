"""Trials per minute of the joint search against the number of devices behind an RPC tracker.

For each N of ``--devices``, a fresh tracker and N ``rpc_server`` processes on loopback
(:class:`~tvm_nacos.tuning.rpc.LocalRPCCluster`), and one joint search of ``--space`` that
measures on them (``runner`` under the tracker's key, the search keeping every device busy).

- ``--mode device-like`` (default): each candidate holds its device for ``--secs-per-trial``
  and runs once (:class:`~tvm_nacos.testing.devices.DeviceLikeEvaluator`), as a board that
  takes that long per trial would, so that eight servers on two cores do not fight over the
  cores; N devices then measure up to N times as fast until the host (builds, schedule search,
  cost model: everything the search does between batches) is the limit. ``--secs-per-trial 0``
  measures that limit itself.
- ``--mode real``: the servers time every candidate as the local runner does (MetaSchedule's
  evaluator), two devices on two cores at most.

Reported per N: trials, wall seconds, the measurement rate (trials landed per minute between the
first and the last landed batch, so the setup does not count), the rate against N × the one-device
rate, the most trials in flight, failed trials, whether every trial is a record (or a
transferred schedule) and none was measured twice, and the front (kernel-sum estimates: the
end-to-end timing is left out).

Usage::

    python bench/run.py device_scaling --config nb201-3s            # N = 1, 2, 4, 8 at 3 s a trial; ~10 min
    python bench/run.py device_scaling --config nb201-host-limit    # 8 devices, 0 s a trial: the host's limit
    python bench/run.py device_scaling --config nb201-real          # 1 and 2 real servers
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness import Benchmark, RunContext, main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Space, budget, devices, how long a device takes per trial."""
    parser.add_argument("--space", default="nas-bench-201")
    parser.add_argument("--budget", type=int, default=80, help="measurement trials per search (default 80)")
    parser.add_argument("--devices", default="1,2,4,8", help="comma-separated numbers of devices (default 1,2,4,8)")
    parser.add_argument("--secs-per-trial", type=float, default=1.0, help="device-like mode: seconds per candidate")
    parser.add_argument("--mode", choices=("device-like", "real"), default="device-like")
    parser.add_argument("--seed", type=int, default=0)


def _records_check(work_dir: str, target: Any) -> dict[str, Any]:
    """Records, transferred schedules, and schedules measured more than once."""
    from tvm_nacos._compat import structural_hash, tir_schedule_class
    from tvm_nacos.tuning.database import open_database

    database = open_database(work_dir, target)
    schedule_class = tir_schedule_class()
    seen: Counter = Counter()
    records = database.get_all_tuning_records()
    for record in records:
        sch = schedule_class(record.workload.mod)
        record.trace.apply_to_schedule(sch, remove_postproc=False)
        seen[(int(structural_hash(record.workload.mod)), int(structural_hash(sch.mod)))] += 1
    transfers = json.loads((Path(work_dir) / "search" / "state.json").read_text())["transfers"]
    return {"records": len(records), "transfers": len(transfers), "measured_twice": sum(n > 1 for n in seen.values())}


def _one(args: argparse.Namespace, ctx: RunContext, devices: int, accuracy: Any, space: Any) -> dict[str, Any]:
    import tvm_nacos
    from tvm_nacos.target import as_target, host_target
    from tvm_nacos.testing.devices import device_like_rpc_runner
    from tvm_nacos.tuning.rpc import LocalRPCCluster

    target = as_target(host_target())
    events: list[tuple[float, int, int]] = []

    with LocalRPCCluster(num_servers=devices) as cluster, tempfile.TemporaryDirectory() as work_dir:
        if args.mode == "real":
            runner: Any = cluster.endpoint.url
        else:
            runner = device_like_rpc_runner(cluster.endpoint.url, args.secs_per_trial, max_workers=devices)

        def progress(event: Any) -> None:
            events.append((time.perf_counter(), event.trials_used - event.trials_in_flight, event.trials_in_flight))

        start = time.perf_counter()
        result = tvm_nacos.search(
            space, target=target, accuracy=accuracy, budget=args.budget, work_dir=work_dir, seed=args.seed,
            runner=runner, devices=devices, measure_end_to_end=False, progress=progress,
        )
        wall = time.perf_counter() - start
        check = _records_check(work_dir, target)
    rate = None
    if len(events) >= 2 and events[-1][0] > events[0][0]:
        rate = 60.0 * (events[-1][1] - events[0][1]) / (events[-1][0] - events[0][0])
    run = {
        "devices": devices,
        "trials": result.trials_used,
        "failed": result.failed_trials,
        "wall_secs": round(wall, 1),
        "trials_per_min": None if rate is None else round(rate, 1),
        "max_trials_in_flight": max((e[2] for e in events), default=0),
        "time_breakdown": result.time_breakdown,
        **check,
        "complete": check["records"] + check["transfers"] == result.trials_used and check["measured_twice"] == 0,
        "front": [{"arch_id": p.sample.id, "accuracy": p.accuracy, "latency_ms": round(p.latency_ms, 4)} for p in result.pareto],
    }
    ctx.progress("%d devices: %d trials in %.0f s, %s trials/min, complete %s", devices, run["trials"], wall,
                 run["trials_per_min"], run["complete"])
    return run


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """One search per number of devices, in order."""
    from _common import table_or_synflow

    from tvm_nacos import search_space as spaces

    space = spaces.get(args.space)
    accuracy = table_or_synflow(space)
    counts = [int(n) for n in args.devices.split(",")]
    runs = [_one(args, ctx, n, accuracy, space) for n in counts]
    return {
        "space": space.name, "budget": args.budget, "mode": args.mode, "seed": args.seed,
        "secs_per_trial": args.secs_per_trial if args.mode == "device-like" else None, "runs": runs,
    }


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Per N: trials per minute and its ratio to N × the one-device rate."""
    runs = result["runs"]
    base = next((r["trials_per_min"] for r in runs if r["devices"] == 1), None)
    summary: dict[str, Any] = {}
    for r in runs:
        n = r["devices"]
        summary[f"{n}.trials_per_min"] = r["trials_per_min"]
        if base and r["trials_per_min"]:
            summary[f"{n}.vs_linear"] = round(r["trials_per_min"] / (n * base), 3)
        summary[f"{n}.complete"] = r["complete"]
    return summary


BENCHMARK = Benchmark(
    name="device_scaling",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={
        "nb201-3s": ["--devices", "1,2,4,8", "--secs-per-trial", "3.0", "--budget", "80"],
        "nb201-host-limit": ["--devices", "8", "--secs-per-trial", "0", "--budget", "80"],
        "nb201-real": ["--devices", "1,2", "--mode", "real", "--budget", "80"],
        "smoke": ["--devices", "1,2", "--budget", "16", "--secs-per-trial", "0.2"],
    },
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
