"""The search's own time, without measurement: a joint search with instant fake builds and runs.

Runs ``tvm_nacos.search`` on a built-in space with :class:`~tvm_nacos.testing.fake.DeterministicBuilder`
and :class:`~tvm_nacos.testing.fake.DeterministicRunner` (nothing is compiled or timed; a
candidate's "latency" is a function of its hash), one thread, a small cost model, fixed seed:
the trajectory is a pure function of the code, so two versions of the code can be compared
candidate by candidate (``records_digest``, a hash of the tuning records) and by time. What is
left is the search's own work: schedule search (design spaces, evolutionary rounds, cost-model
predictions), the architecture search, lowering and task extraction (``other``), and
cost-model updates.

Usage::

    python bench/run.py search_overhead
    PYTHONPATH=/path/to/other/checkout python bench/run.py search_overhead   # another version of the code
    python bench/compare.py bench/results/search_overhead/<old>.json bench/results/search_overhead/<new>.json
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import sys
import tempfile
import time
from typing import Any

from harness import Benchmark, RunContext, main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The space, budget and seed of the search."""
    parser.add_argument("--space", default="nas-bench-201")
    parser.add_argument("--budget", type=int, default=96, help="measurement trials (default 96)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """One joint search with fake measurement; its trials, records digest and time by phase."""
    from _common import table_or_synflow

    import tvm_nacos
    from tvm_nacos import search_space as spaces
    from tvm_nacos.cosearch.cost_model import LatencyCostModel
    from tvm_nacos.testing.fake import DeterministicBuilder, DeterministicRunner

    space = spaces.get(args.space)
    accuracy = table_or_synflow(space)
    ctx.progress("joint search of %s, budget %d, seed %d, fake builds and runs", space.name, args.budget, args.seed)
    with tempfile.TemporaryDirectory() as work_dir:
        start = time.perf_counter()
        result = tvm_nacos.search(
            space, accuracy=accuracy, budget=args.budget, strategy="joint", work_dir=work_dir, seed=args.seed,
            builder=DeterministicBuilder(), runner=DeterministicRunner(fail_every=7), measure_end_to_end=False,
            deterministic=True, cost_model=LatencyCostModel(num_models=2, num_rounds=30, nthread=1, seed=args.seed),
        )
        wall = time.perf_counter() - start
        digest = hashlib.sha256()
        for path in sorted(glob.glob(os.path.join(work_dir, "**", "*tuning_record*.json"), recursive=True)):
            with open(path, "rb") as f:
                digest.update(f.read())
    run_record = {
        "code": os.path.dirname(os.path.abspath(tvm_nacos.__file__)),
        "space": space.name,
        "budget": args.budget,
        "seed": args.seed,
        "trials": result.trials_used,
        "records_digest": digest.hexdigest()[:16],
        "wall_secs": round(wall, 1),
        "time_breakdown": result.time_breakdown,
    }
    print(json.dumps(run_record), flush=True)
    return run_record


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Trials, the records digest (equal digests: the same trajectory) and seconds per phase."""
    return {
        "trials": result["trials"],
        "records_digest": result["records_digest"],
        "wall_secs": result["wall_secs"],
        **{f"secs.{phase}": secs for phase, secs in result["time_breakdown"].items()},
    }


BENCHMARK = Benchmark(
    name="search_overhead",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={"smoke": ["--budget", "8"]},
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
