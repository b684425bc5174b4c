"""A second search in the same work directory, with and without the extraction cache.

``tvm_nacos.tuning.extraction_cache``: a search keeps each architecture's kernels (found by
lowering it) in the work directory, and a later search there takes them from disk. Here: a first
search (seed 0) in a fresh work directory; then two copies of that directory, and in each a
second search (``--second-seed``, default 0: the same search again, as a user re-running it): one with the cache the first search left, one with the
cache deleted (as before it existed). Both second searches find the same tuning database, so
they differ only in what they lower. Reported: each second search's wall time, its time by phase
("other" holds lowering and extraction) and the architectures the cache held. (Their trajectories
differ by measurement noise; that the cache gives the same task pool is a test:
``tests/tuning/test_extraction_cache.py``.)

Usage::

    python bench/run.py extraction_cache                   # nas-bench-201, 100 trials; ~5 min
    python bench/run.py extraction_cache --budget 24 --label smoke --no-save
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import Benchmark, RunContext, main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Space and budget."""
    parser.add_argument("--space", default="nas-bench-201")
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--second-seed", type=int, default=0,
                        help="seed of the second search: 0 (default) re-runs the first, as after a change of budget "
                             "or strategy options; another seed looks at mostly other architectures")


def _search(args: argparse.Namespace, work_dir: Path, seed: int) -> dict[str, Any]:
    from _common import table_or_synflow

    import tvm_nacos
    from tvm_nacos import search_space as spaces
    from tvm_nacos.tuning.extraction_cache import EXTRACTION_DIR

    space = spaces.get(args.space)
    start = time.perf_counter()
    result = tvm_nacos.search(space, accuracy=table_or_synflow(space), budget=args.budget, seed=seed,
                              work_dir=work_dir, measure_end_to_end=False)
    wall = time.perf_counter() - start
    cached = sum(len(path.read_text().splitlines()) for path in work_dir.glob(f"tuning/*/{EXTRACTION_DIR}/*/architectures.jsonl"))
    return {"wall_secs": round(wall, 1), "time_breakdown": result.time_breakdown, "trials": result.trials_used,
            "evaluated": len(result.evaluated), "cached_architectures_after": cached,
            "front": [p.sample.id for p in result.pareto]}


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """The first search, then the second with and without the cache."""
    from tvm_nacos.tuning.extraction_cache import EXTRACTION_DIR

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        first = _search(args, root / "first", seed=0)
        ctx.progress("first search: %.0f s, %d architectures cached", first["wall_secs"], first["cached_architectures_after"])
        shutil.copytree(root / "first", root / "with")
        shutil.copytree(root / "first", root / "without")
        for path in (root / "without").glob(f"tuning/*/{EXTRACTION_DIR}"):
            shutil.rmtree(path)
        without = _search(args, root / "without", seed=args.second_seed)
        ctx.progress("second search without the cache: %.0f s", without["wall_secs"])
        with_cache = _search(args, root / "with", seed=args.second_seed)
        ctx.progress("second search with the cache: %.0f s", with_cache["wall_secs"])
    with_cache["from_cache"] = first["cached_architectures_after"]
    return {"space": args.space, "budget": args.budget, "first": first, "without_cache": without, "with_cache": with_cache}


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Wall and "other" seconds of the second search, with and without the cache."""
    out: dict[str, Any] = {}
    for way in ("without_cache", "with_cache"):
        out[f"{way}.wall_secs"] = result[way]["wall_secs"]
        out[f"{way}.other_secs"] = result[way]["time_breakdown"]["other"]
    return out


BENCHMARK = Benchmark(
    name="extraction_cache",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={"smoke": ["--budget", "24"]},
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
