"""``tvm-nacos search --model`` on a trained, exposed model with inherited-weight accuracy: joint vs two-stage.

What a user who brings a trained model runs: the CNN of ``tutorials/search_your_trained_model.py``
trained on the 8×8 digits, its moves exposed (width, skip, kernel size; weights inherited), saved
as ``model.json`` with its data as ``train.npz``/``val.npz``; then the command line's search
(:func:`tvm_nacos.interface.search.run_search`, what ``tvm-nacos search --model model.json
--accuracy inherited --data train.npz --val-data val.npz`` calls) with each strategy at the same
budget and seeds. Accuracy is each architecture run by TVM on the validation images.

Reported per strategy and seed: the front (end-to-end latencies), its hypervolume against one
reference for all runs (accuracy: the original network's minus ``--accuracy-drop``; latency:
1.1 × the slowest front member of any run), the fastest architecture within ``--accuracy-drop``
of the original, trials, architectures measured and the wall time.

Usage::

    python bench/run.py model_search                       # joint and two-stage, 120 trials, 2 seeds
    python bench/run.py model_search --budget 32 --seeds 0 --label smoke --no-save
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from harness import Benchmark, RunContext, main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Budget, strategies, seeds, the accuracy level."""
    parser.add_argument("--budget", type=int, default=120)
    parser.add_argument("--strategies", default="joint,two-stage")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--accuracy-drop", type=float, default=2.0,
                        help="points of accuracy below the original network that still count (default 2)")


def _files(root: Path) -> tuple[Path, Path, Path, float]:
    """model.json, train.npz, val.npz of the exposed tutorial CNN; the original's accuracy by TVM."""
    import tvm
    from _common import exposed_tutorial_cnn

    from tvm_nacos.accuracy import InheritedAccuracy
    from tvm_nacos.analysis import search_space

    supernet, data = exposed_tutorial_cnn()
    model = root / "model.json"
    model.write_text(tvm.ir.save_json(supernet))
    train, val = root / "train.npz", root / "val.npz"
    np.savez(train, images=data.x_train.numpy(), labels=data.y_train.numpy())
    np.savez(val, images=data.x_val.numpy(), labels=data.y_val.numpy())
    (original,) = InheritedAccuracy(supernet, data).evaluate([search_space(supernet).default_sample()])
    return model, train, val, original


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """Every strategy and seed, one after the other."""
    from tvm_nacos.accuracy.image_data import ImageData
    from tvm_nacos.interface.search import run_search

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model, train, val, original = _files(root)
        data = ImageData.from_npz(train, val)
        ctx.progress("the original network: %.2f %% by TVM", original)
        for seed in (int(s) for s in args.seeds.split(",")):
            for strategy in args.strategies.split(","):
                start = time.perf_counter()
                search_run = run_search(model=model, accuracy="inherited", data=data, budget=args.budget,
                                        strategy=strategy, seed=seed, work_dir=root / f"{strategy}-{seed}")
                wall = time.perf_counter() - start
                result = search_run.result
                runs.append({
                    "strategy": strategy, "seed": seed, "wall_secs": round(wall, 1), "trials": result.trials_used,
                    "evaluated": len(result.evaluated), "time_breakdown": result.time_breakdown,
                    "front": [{"arch_id": p.sample.id, "accuracy": p.accuracy, "latency_ms": round(p.latency_ms, 5)}
                              for p in result.pareto],
                })
                ctx.progress("%s seed %d: %d on the front, %.0f s", strategy, seed, len(result.pareto), wall)
                ctx.save({"partial": runs})
    level = original - args.accuracy_drop
    _score(runs, level)
    return {"budget": args.budget, "original_accuracy": original, "accuracy_level": level, "runs": runs,
            "summary": _summary(runs)}


def _score(runs: list[dict[str, Any]], level: float) -> None:
    from tvm_nacos.cosearch.objectives import hypervolume

    slowest = max((p["latency_ms"] for r in runs for p in r["front"]), default=1.0)
    for r in runs:
        front = r["front"]
        r["hypervolume"] = round(hypervolume([p["accuracy"] for p in front], [p["latency_ms"] for p in front],
                                             reference=(level, 1.1 * slowest)), 6)
        eligible = [p["latency_ms"] for p in front if p["accuracy"] >= level]
        r["fastest_at_level_ms"] = min(eligible) if eligible else None


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for strategy in dict.fromkeys(r["strategy"] for r in runs):
        mine = [r for r in runs if r["strategy"] == strategy]
        fastest = [r["fastest_at_level_ms"] for r in mine if r["fastest_at_level_ms"] is not None]
        out[strategy] = {
            "hypervolume": round(float(np.mean([r["hypervolume"] for r in mine])), 6),
            "fastest_at_level_ms": round(float(np.mean(fastest)), 5) if len(fastest) == len(mine) else None,
            "wall_secs": round(float(np.mean([r["wall_secs"] for r in mine])), 1),
            "evaluated": float(np.mean([r["evaluated"] for r in mine])),
        }
    return out


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Per strategy: mean hypervolume, fastest latency within the accuracy level, wall time."""
    return {f"{s}.{k}": v for s, row in result["summary"].items() for k, v in row.items()}


BENCHMARK = Benchmark(
    name="model_search",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={"smoke": ["--budget", "32", "--seeds", "0"]},
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
