"""What each expose pass adds to a real model, as a Markdown table.

The model (``--model``) is one of transformers' (random weights from a seed, no download),
imported with ``tvm_nacos.from_torch``: ``resnet``, ``ResNetModel`` (basic blocks, widths 8/16,
depths 2/2) with the six convolution moves; ``bert`` and ``vit``, ``BertModel`` (8 tokens) and
``ViTModel`` (16×16 images, 8×8 patches), hidden 32, 4 heads, MLP 64, 2 layers, with the four
transformer moves. For every expose pass alone, and for all composed, the table gives the
choice points and the size of the space it adds, and how many distinct random specializations
(the all-``original`` one first) were built for llvm with the default pipeline and run; every
run must give the model's output shape, and the all-``original`` one must give exactly the
imported model's output.

Usage (needs the ``test`` extra, for transformers)::

    python bench/run.py expose_passes_table [--model resnet] [--per-pass 5] [--composed 20] [--seed 0]
    python bench/run.py expose_passes_table --config bert
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


def tiny_transformer(kind: str, seed: int) -> tuple[Any, np.ndarray]:
    """transformers' ``BertModel`` or ``ViTModel`` (small config, random weights from ``seed``)
    imported, and its input."""
    import torch

    import tvm_nacos

    torch.manual_seed(seed)
    sizes = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    generator = torch.Generator().manual_seed(seed + 1)
    if kind == "bert":
        from transformers import BertConfig, BertModel

        inner, keyword = BertModel(BertConfig(vocab_size=50, max_position_embeddings=16, **sizes)), "input_ids"
        x = torch.randint(0, 50, (1, 8), generator=generator)
    else:
        from transformers import ViTConfig, ViTModel

        inner, keyword = ViTModel(ViTConfig(image_size=16, patch_size=8, **sizes), add_pooling_layer=False), "pixel_values"
        x = torch.randn(1, 3, 16, 16, generator=generator)

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, data: torch.Tensor) -> torch.Tensor:
            return self.inner(**{keyword: data}).last_hidden_state

    return tvm_nacos.from_torch(LastHiddenState().eval(), (x,)), x.numpy()


def build_and_run(mod: Any, x: np.ndarray) -> np.ndarray:
    """Output of ``mod`` (a ``tvm.IRModule``) compiled for llvm with the default pipeline, on ``x``."""
    import tvm
    from tvm import relax

    target = tvm.target.Target({"kind": "llvm"})
    ex = tvm.compile(mod, target=target, relax_pipeline=relax.get_default_pipeline(target))
    return relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy()


def experiments(model: str, per_pass: int, composed: int) -> list[tuple[str, Any, int]]:
    """(row name, pass, specializations to run) for ``model``'s moves, alone and composed."""
    import tvm

    from tvm_nacos.passes import (
        ExposeBottleneck,
        ExposeDepthwiseSeparable,
        ExposeGrouping,
        ExposeHeads,
        ExposeKernelSize,
        ExposeLowRank,
        ExposeMLPWidth,
        ExposeSkip,
        ExposeWidth,
    )

    original = "original"
    if model in ("bert", "vit"):
        return [
            ("ExposeHeads(fractions=(0.5, 1.0))", ExposeHeads(), per_pass),
            ("ExposeMLPWidth(fractions=(0.25, 0.5, 0.75, 1.0))", ExposeMLPWidth(), per_pass),
            ("ExposeLowRank(fractions=(0.125, 0.25))", ExposeLowRank(), per_pass),
            ("ExposeSkip()", ExposeSkip(), per_pass),
            (
                "all four composed (Heads, MLPWidth, LowRank with inside_options='original', Skip)",
                tvm.transform.Sequential(
                    [ExposeHeads(), ExposeMLPWidth(), ExposeLowRank(inside_options=original), ExposeSkip()]
                ),
                composed,
            ),
        ]
    return [
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


def rows(model: str, seed: int, per_pass: int, composed: int, ctx: RunContext) -> list[dict[str, Any]]:
    """One row per pass (and all composed): choice points, space size, specializations run, exactness."""
    from tvm import relax

    from tvm_nacos.analysis import search_space
    from tvm_nacos.passes import SpecializeArch

    mod, x = tiny_resnet(seed) if model == "resnet" else tiny_transformer(model, seed)
    reference = build_and_run(mod, x)
    result = []
    for name, transform, count in experiments(model, per_pass, composed):
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
    parser.add_argument("--model", default="resnet", choices=["resnet", "bert", "vit"],
                        help="transformers' ResNetModel (the conv moves) or BertModel / ViTModel (the transformer moves)")
    parser.add_argument("--per-pass", type=int, default=5, help="specializations built and run per pass")
    parser.add_argument("--composed", type=int, default=20, help="specializations of the composed space")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace, ctx: RunContext) -> list[dict[str, Any]]:
    """The table's rows; prints the Markdown table."""
    table = rows(args.model, args.seed, args.per_pass, args.composed, ctx)
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
        name = r["pass"].split("(")[0] if not r["pass"].startswith("all ") else "composed"
        out.update({f"{name}.choice_points": r["choice_points"], f"{name}.space_size": r["space_size"],
                    f"{name}.original_exact": r["original_exact"], f"{name}.build_run_secs": r["build_run_secs"]})
    return out


BENCHMARK = Benchmark(
    name="expose_passes_table",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={"smoke": ["--per-pass", "1", "--composed", "1"], "bert": ["--model", "bert"], "vit": ["--model", "vit"]},
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
