"""Inherited-weight accuracy (TVM) against fine-tuned accuracy (PyTorch) over exposed variants of a trained CNN.

The network of ``tutorials/search_your_trained_model.py`` (a stem, two residual blocks, a
classifier), trained on the 8×8 digits, its moves exposed as the tutorial exposes them (width
×0.5/×1, skip, kernel size 1/3 inheriting the trained weights). For ``--num-archs`` distinct
architectures (the all-original one first):

- **inherited**: :class:`~tvm_nacos.accuracy.InheritedAccuracy`, the architecture compiled and run
  by TVM on the 450 validation images with the weights it inherits (what a search ranks with);
- **PyTorch before fine-tuning**: the same architecture run by PyTorch from the Relax module
  (:class:`~tvm_nacos.accuracy.relax_torch.RelaxAsTorch`): must equal the inherited accuracy
  (a check of the reference, not a result);
- **fine-tuned**: :class:`~tvm_nacos.accuracy.FineTunedAccuracy`, each architecture trained
  ``--epochs`` more from its inherited weights (Adam, cosine) and evaluated: the reference.

Reported: Spearman and Kendall of inherited against fine-tuned, the top-5 overlap, and the
seconds each costs per architecture.

Usage::

    python bench/run.py inherited_vs_finetuned                  # 36 architectures, 3 epochs; ~3 min
    python bench/run.py inherited_vs_finetuned --num-archs 8 --epochs 1 --label smoke --no-save
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
from harness import Benchmark, RunContext, main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Architectures, fine-tuning epochs and learning rate, seed."""
    parser.add_argument("--num-archs", type=int, default=36, help="distinct architectures (default 36)")
    parser.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs per architecture (default 3)")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """Score every architecture three ways."""
    from _common import exposed_tutorial_cnn, unique_samples
    from scipy.stats import kendalltau, spearmanr

    from tvm_nacos.accuracy import FineTunedAccuracy, InheritedAccuracy
    from tvm_nacos.analysis import search_space

    supernet, data = exposed_tutorial_cnn(args.seed)
    space = search_space(supernet)
    original = space.default_sample()
    samples = [original] + [s for s in unique_samples(space, args.num_archs, args.seed) if s.id != original.id]
    samples = samples[: args.num_archs]
    ctx.progress("%d architectures of %d; fine-tuning %d epochs each", len(samples), space.size, args.epochs)
    inherited = InheritedAccuracy(supernet, data)
    before = FineTunedAccuracy(supernet, data, epochs=0)
    tuned = FineTunedAccuracy(supernet, data, epochs=args.epochs, learning_rate=args.learning_rate, seed=args.seed)
    rows = []
    for i, sample in enumerate(samples):
        start = time.perf_counter()
        (inherited_accuracy,) = inherited.evaluate([sample])
        inherited_secs = time.perf_counter() - start
        (torch_accuracy,) = before.evaluate([sample])
        (tuned_accuracy,) = tuned.evaluate([sample])
        rows.append({
            "arch_id": sample.id, "sample": sample.to_dict(), "inherited": inherited_accuracy,
            "pytorch_before_fine_tuning": torch_accuracy, "fine_tuned": tuned_accuracy,
            "inherited_secs": round(inherited_secs, 3), "fine_tune_secs": round(tuned.train_secs[sample.id], 3),
        })
        ctx.progress("%d/%d %s: inherited %.2f %%, fine-tuned %.2f %%", i + 1, len(samples), sample.id,
                     inherited_accuracy, tuned_accuracy)
    x = [r["inherited"] for r in rows]
    y = [r["fine_tuned"] for r in rows]
    top = 5
    best_inherited = {r["arch_id"] for r in sorted(rows, key=lambda r: -r["inherited"])[:top]}
    best_tuned = {r["arch_id"] for r in sorted(rows, key=lambda r: -r["fine_tuned"])[:top]}
    return {
        "num_archs": len(rows), "space_size": space.size, "epochs": args.epochs, "learning_rate": args.learning_rate,
        "seed": args.seed,
        "spearman": round(float(spearmanr(x, y).statistic), 4),
        "kendall": round(float(kendalltau(x, y).statistic), 4),
        "top5_overlap": len(best_inherited & best_tuned),
        "pytorch_equals_tvm": all(r["inherited"] == r["pytorch_before_fine_tuning"] for r in rows),
        "median_inherited_secs": round(float(np.median([r["inherited_secs"] for r in rows])), 3),
        "median_fine_tune_secs": round(float(np.median([r["fine_tune_secs"] for r in rows])), 3),
        "rows": rows,
    }


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """The rank agreement and the cost per architecture."""
    keys = ("num_archs", "spearman", "kendall", "top5_overlap", "pytorch_equals_tvm", "median_inherited_secs",
            "median_fine_tune_secs")
    return {k: result[k] for k in keys}


BENCHMARK = Benchmark(
    name="inherited_vs_finetuned",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={"smoke": ["--num-archs", "8", "--epochs", "1"]},
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
