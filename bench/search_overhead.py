"""The search's own time, without measurement: a joint search with instant fake builds and runs.

Runs ``tvm_nacos.search`` on a built-in space with :class:`~tvm_nacos.testing.fake.DeterministicBuilder`
and :class:`~tvm_nacos.testing.fake.DeterministicRunner` (nothing is compiled or timed; a
candidate's "latency" is a function of its hash), one thread, a small cost model, fixed seed:
the trajectory is a pure function of the code, so two versions of the code can be compared
candidate by candidate (``--records-digest``) and by time. What is left is the search's own
work: schedule search (design spaces, evolutionary rounds, cost-model predictions), the
architecture search, lowering and task extraction (``other``), and cost-model updates.

Usage::

    python bench/search_overhead.py --json bench/results/search_overhead.json
    PYTHONPATH=/path/to/other/checkout python bench/search_overhead.py   # another version of the code
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import platform
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="nas-bench-201")
    parser.add_argument("--budget", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="append this run to a JSON list in this file")
    args = parser.parse_args()

    import tvm_nacos  # pylint: disable=import-outside-toplevel
    from tvm_nacos import search_space as spaces  # pylint: disable=import-outside-toplevel
    from _common import table_or_synflow  # pylint: disable=import-outside-toplevel
    from tvm_nacos.cosearch.cost_model import LatencyCostModel  # pylint: disable=import-outside-toplevel
    from tvm_nacos.testing.fake import DeterministicBuilder, DeterministicRunner  # pylint: disable=import-outside-toplevel

    space = spaces.get(args.space)
    accuracy = table_or_synflow(space)
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
    run = {
        "benchmark": "search_overhead",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "code": os.path.dirname(os.path.abspath(tvm_nacos.__file__)),
        "space": space.name,
        "budget": args.budget,
        "seed": args.seed,
        "trials": result.trials_used,
        "records_digest": digest.hexdigest()[:16],
        "wall_secs": round(wall, 1),
        "time_breakdown": result.time_breakdown,
        "machine": {"platform": platform.platform(), "cores": len(os.sched_getaffinity(0))},
        "command": " ".join(["python", *sys.argv]),
    }
    print(json.dumps(run), flush=True)
    if args.json:
        runs = []
        if os.path.exists(args.json):
            with open(args.json, encoding="utf-8") as f:
                runs = json.load(f)
        runs.append(run)
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(runs, f, indent=1)


if __name__ == "__main__":
    main()
