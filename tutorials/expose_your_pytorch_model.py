"""
Expose NAS choices in your own PyTorch model, search, compile the winner
========================================================================

You have a network and no supernet: tvm-nacos turns the NAS moves into compiler passes over
the imported model. This tutorial

1. imports a plain PyTorch CNN with :func:`tvm_nacos.from_torch`;
2. exposes choices with the ``Expose`` passes: width, skipping a residual branch, kernel size;
3. searches the resulting space with :func:`tvm_nacos.search`, using a clearly labelled
   *stand-in* for accuracy (a model with no benchmark table or trained predictor has no
   accuracy yet);
4. compiles the winner with its tuned kernels and runs it; saves the supernet so that the
   command line (``tvm-nacos search --model``) can search it too.

``NACOS_TUTORIAL_BUDGET`` sets the measurement budget (default 64 trials; the test runs it
with 16), ``NACOS_TUTORIAL_WORK_DIR`` the work directory.
"""

# %%
# A plain model
# -------------
# Nothing in it knows about architecture search: a stem, two residual blocks, a classifier.

import math
import os
from pathlib import Path

import numpy as np
import torch
import tvm
from torch import nn
from tvm import relax

import tvm_nacos
from tvm_nacos.analysis import count_macs, search_space
from tvm_nacos.passes import ExposeKernelSize, ExposeSkip, ExposeWidth, SpecializeArch

budget = int(os.environ.get("NACOS_TUTORIAL_BUDGET", "64"))
work_dir = Path(os.environ.get("NACOS_TUTORIAL_WORK_DIR", "nacos-tutorial-expose"))


class Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(y)))


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU())
        self.blocks = nn.Sequential(Block(16), Block(16))
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


torch.manual_seed(0)
model = SmallCNN().eval()
x = torch.randn(1, 3, 16, 16)
mod = tvm_nacos.from_torch(model, (x,))

# %%
# Expose choices
# --------------
# Each ``Expose`` pass finds the ops it can change and turns each into a choice point whose
# option ``"original"`` is the op as imported: ``ExposeWidth`` offers narrower convolutions
# (with their consumers), ``ExposeSkip`` lets a residual branch be skipped, and
# ``ExposeKernelSize`` offers other kernel sizes. ``names`` restricts a move to ops whose name
# or label matches a glob; ``inside_options="original"`` keeps the kernel-size move off the
# narrower width options, so that the moves add up instead of multiplying.

supernet = tvm.transform.Sequential(
    [
        ExposeWidth(multipliers=(0.5, 1.0)),
        ExposeSkip(),
        ExposeKernelSize(sizes=(1, 3), inside_options="original"),
    ]
)(mod)
space = search_space(supernet)
print(f"{len(space)} choice points, {space.size} architectures")
for spec in space:
    condition = f"  (if {spec.condition.label} in {list(spec.condition.options)})" if spec.condition else ""
    print(f"  {spec.label}: {list(spec.options)}{condition}")

# %%
# An accuracy stand-in
# --------------------
# The search trades accuracy against tuned latency, so it needs *some* accuracy estimate: any
# object with ``evaluate(samples) -> list[float]``, or a plain function of samples, higher
# meaning better. The new options of this supernet are untrained, so nothing here can say how
# accurate they would be. As a **stand-in, not an accuracy**, we score each architecture by
# ``log10`` of its multiply-accumulates: bigger networks rank higher, and the front then
# trades size against tuned latency. Replace it with a real estimate as soon as you have one
# (a trained accuracy predictor, a weight-sharing supernet such as
# :class:`~tvm_nacos.accuracy.SupernetAccuracy`, or validation runs).
# :class:`tvm_nacos.accuracy.CapacityProxy` packages the same score; ``tvm-nacos search
# --model`` uses it by default.


def size_score(samples) -> list[float]:
    """STAND-IN for accuracy: log10(MACs) of each architecture (bigger ranks higher)."""
    return [math.log10(max(count_macs(SpecializeArch(sample)(supernet)), 1)) for sample in samples]


# %%
# Search
# ------
# The supernet is an ordinary IRModule with choice points: ``search`` takes it like a built-in
# space. The target defaults to the host CPU.

result = tvm_nacos.search(supernet, accuracy=size_score, budget=budget, strategy="joint", work_dir=work_dir, seed=0)
print(f"{result.trials_used} trials, {len(result.evaluated)} architectures measured, front:")
for point in result.pareto:
    changed = {label: option for label, option in point.sample.items() if option != "original"}
    print(f"  score {point.accuracy:.3f}  {point.latency_ms:.4f} ms  {changed or 'the original network'}")

# %%
# Compile the winner
# ------------------
# Here the winner is the most capable architecture of the front (with a real accuracy you
# would ask ``result.best(min_accuracy=...)``). Compiled with its tuned kernels it is an
# ordinary Relax executable. A very small budget may not measure every kernel of any
# architecture, leaving the front empty; then the original network is compiled, with whatever
# kernels were tuned.

if result.pareto:
    winner_sample = max(result.pareto, key=lambda p: p.accuracy).sample
else:
    print("the front is empty at this budget: compiling the original network instead")
    winner_sample = space.default_sample()
vm = relax.VirtualMachine(result.compile(winner_sample), tvm.cpu())
data = tvm.runtime.tensor(x.numpy())
output = vm["main"](data).numpy()
latency_ms = float(np.median(vm.time_evaluator("main", tvm.cpu(), number=10, repeat=3)(data).results)) * 1e3
print(f"winner {winner_sample.id}: output {output.shape}, {latency_ms:.4f} ms tuned")

# %%
# The same from the command line
# ------------------------------
# Save the supernet with ``tvm.ir.save_json`` and the command line takes it with ``--model``;
# ``tvm-nacos compile`` then exports any architecture of the front as a shared library.

work_dir.mkdir(parents=True, exist_ok=True)
saved = work_dir / "supernet.json"
saved.write_text(tvm.ir.save_json(supernet))
print(f"saved {saved}; try: tvm-nacos search --model {saved} --budget {budget} --work-dir {work_dir}/cli")
