"""What each expose pass adds to a real model, as a Markdown table.

The model is transformers' ``ResNetModel`` (basic blocks, widths 8/16, depths 2/2, random
weights from a seed, no download), imported with ``tvm_nacos.from_torch``. For every expose
pass alone, and for all six composed, the table gives the choice points and the size of the
space it adds, and how many distinct random specializations (the all-``original`` one first)
were built for llvm with the default pipeline and run; every run must give the model's output
shape, and the all-``original`` one must give exactly the imported model's output.

Usage (needs the ``test`` extra, for transformers)::

    python bench/run.py expose_passes_table [--per-pass 5] [--composed 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
from harness import Benchmark, RunContext, main


def tiny_resnet(seed: int) -> tuple[Any, np.ndarray]:
    """transformers' ``ResNetModel`` (small config, random weights from ``seed``) imported, and its input."""
    import torch
    from transformers import ResNetConfig, ResNetModel

    import tvm_nacos

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            return self.inner(pixel_values).last_hidden_state

    torch.manual_seed(seed)
    config = ResNetConfig(
        num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[2, 2], layer_type="basic", hidden_act="relu"
    )
    model = LastHiddenState(ResNetModel(config)).eval()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(seed + 1))
    return tvm_nacos.from_torch(model, (x,)), x.numpy()


def build_and_run(mod: Any, x: np.ndarray) -> np.ndarray:
    """Output of ``mod`` (a ``tvm.IRModule``) compiled for llvm with the default pipeline, on ``x``."""
    import tvm
    from tvm import relax

    target = tvm.target.Target({"kind": "llvm"})
    ex = tvm.compile(mod, target=target, relax_pipeline=relax.get_default_pipeline(target))
    return relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy()


def rows(seed: int, per_pass: int, composed: int, ctx: RunContext) -> list[dict[str, Any]]:
    """One row per pass (and the six composed): choice points, space size, specializations run, exactness."""
    import tvm
    from tvm import relax

    from tvm_nacos.analysis import search_space
    from tvm_nacos.passes import (
        ExposeBottleneck,
        ExposeDepthwiseSeparable,
        ExposeGrouping,
        ExposeKernelSize,
        ExposeSkip,
        ExposeWidth,
        SpecializeArch,
    )

    mod, x = tiny_resnet(seed)
    reference = build_and_run(mod, x)
    original = "original"
    experiments = [
        ("ExposeKernelSize(sizes=(3, 5, 7))", ExposeKernelSize(), per_pass),
        ("ExposeGrouping(groups=(1, 2, 4))", ExposeGrouping(), per_pass),
        ("ExposeBottleneck(ratios=(0.25, 0.5))", ExposeBottleneck(), per_pass),
        ("ExposeDepthwiseSeparable()", ExposeDepthwiseSeparable(), per_pass),
        ("ExposeSkip()", ExposeSkip(), per_pass),
        ("ExposeWidth(multipliers=(0.5, 0.75, 1.0))", ExposeWidth(), per_pass),
        (
            "all six composed (Width, Skip, then the conv moves with inside_options='original')",
            tvm.transform.Sequential(
                [
                    ExposeWidth(),
                    ExposeSkip(),
                    ExposeKernelSize(inside_options=original),
                    ExposeGrouping(inside_options=original),
                    ExposeBottleneck(inside_options=original),
                    ExposeDepthwiseSeparable(inside_options=original),
                ]
            ),
            composed,
        ),
    ]
    result = []
    for name, transform, count in experiments:
        supernet = transform(mod)
        relax.analysis.well_formed(supernet)
        space = search_space(supernet)
        rng = np.random.default_rng(seed)
        samples = [space.default_sample()]
        for _ in range(100 * count):  # bounded: small spaces may have fewer samples than asked
            if len(samples) >= min(count, space.size):
                break
            sample = space.sample(rng)
            if sample not in samples:
                samples.append(sample)
        start = time.perf_counter()
        original_exact = False
        for i, sample in enumerate(samples):
            out = build_and_run(SpecializeArch(sample)(supernet), x)
            if out.shape != reference.shape:
                raise AssertionError(f"{name}: sample {sample.id} gives shape {out.shape}, expected {reference.shape}")
            if i == 0:
                original_exact = bool(np.array_equal(out, reference))
        run_secs = time.perf_counter() - start
        result.append({"pass": name, "choice_points": len(space), "space_size": space.size,
                       "specializations_run": len(samples), "original_exact": original_exact,
                       "build_run_secs": round(run_secs, 1)})
        ctx.progress("%s: %d specializations in %.1f s", name, len(samples), run_secs)
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Specializations per pass and of the composed space, and the seed."""
    parser.add_argument("--per-pass", type=int, default=5, help="specializations built and run per pass")
    parser.add_argument("--composed", type=int, default=20, help="specializations of the composed space")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace, ctx: RunContext) -> list[dict[str, Any]]:
    """The table's rows; prints the Markdown table."""
    table = rows(args.seed, args.per_pass, args.composed, ctx)
    print(
        "| pass | choice points | space size | specializations built and run "
        "| all-original output = imported | build+run s |"
    )
    print("|---|---:|---:|---:|:---:|---:|")
    for r in table:
        print(f"| {r['pass']} | {r['choice_points']} | {r['space_size']:,} | {r['specializations_run']} | "
              f"{'yes' if r['original_exact'] else 'NO'} | {r['build_run_secs']:.1f} |")
    return table


def summarize(table: list[dict[str, Any]]) -> dict[str, Any]:
    """Per pass: choice points, space size, whether all-original is exact, build+run seconds."""
    out: dict[str, Any] = {}
    for r in table:
        name = r["pass"].split("(")[0] if not r["pass"].startswith("all six") else "all six composed"
        out.update({f"{name}.choice_points": r["choice_points"], f"{name}.space_size": r["space_size"],
                    f"{name}.original_exact": r["original_exact"], f"{name}.build_run_secs": r["build_run_secs"]})
    return out


BENCHMARK = Benchmark(
    name="expose_passes_table",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={"smoke": ["--per-pass", "1", "--composed", "1"]},
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
