"""What each expose pass adds to a real model, as a Markdown table.

The model is transformers' ``ResNetModel`` (basic blocks, widths 8/16, depths 2/2, random
weights from a seed, no download), imported with ``tvm_nacos.from_torch``. For every expose
pass alone, and for all six composed, the table gives the choice points and the size of the
space it adds, and how many distinct random specializations (the all-``original`` one first)
were built for llvm with the default pipeline and run; every run must give the model's output
shape, and the all-``original`` one must give exactly the imported model's output.

Usage (needs the ``test`` extra, for transformers)::

    python bench/expose_passes_table.py [--per-pass 5] [--composed 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import tvm
from transformers import ResNetConfig, ResNetModel
from tvm import relax

import tvm_nacos
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


class LastHiddenState(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.inner(pixel_values).last_hidden_state


def tiny_resnet(seed: int) -> tuple[tvm.IRModule, np.ndarray]:
    torch.manual_seed(seed)
    config = ResNetConfig(
        num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[2, 2], layer_type="basic", hidden_act="relu"
    )
    model = LastHiddenState(ResNetModel(config)).eval()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(seed + 1))
    return tvm_nacos.from_torch(model, (x,)), x.numpy()


def run(mod: tvm.IRModule, x: np.ndarray) -> np.ndarray:
    target = tvm.target.Target({"kind": "llvm"})
    ex = tvm.compile(mod, target=target, relax_pipeline=relax.get_default_pipeline(target))
    return relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy()


def rows(seed: int, per_pass: int, composed: int) -> list[tuple[str, int, int, int, bool, float]]:
    mod, x = tiny_resnet(seed)
    reference = run(mod, x)
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
            out = run(SpecializeArch(sample)(supernet), x)
            if out.shape != reference.shape:
                raise AssertionError(f"{name}: sample {sample.id} gives shape {out.shape}, expected {reference.shape}")
            if i == 0:
                original_exact = bool(np.array_equal(out, reference))
        run_secs = time.perf_counter() - start
        result.append((name, len(space), space.size, len(samples), original_exact, run_secs))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-pass", type=int, default=5, help="specializations built and run per pass")
    parser.add_argument("--composed", type=int, default=20, help="specializations of the composed space")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    table = rows(args.seed, args.per_pass, args.composed)
    print(
        "| pass | choice points | space size | specializations built and run "
        "| all-original output = imported | build+run s |"
    )
    print("|---|---:|---:|---:|:---:|---:|")
    for name, points, size, built, exact, secs in table:
        print(f"| {name} | {points} | {size:,} | {built} | {'yes' if exact else 'NO'} | {secs:.1f} |")


if __name__ == "__main__":
    main()
