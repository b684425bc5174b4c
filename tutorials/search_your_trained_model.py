"""
Search your trained model: NAS moves on its weights, accuracy measured by TVM
=============================================================================

You have a trained network and its validation data, and you want its fastest accurate variant
on your device. This tutorial

1. trains a small CNN on scikit-learn's bundled digits (a few seconds on a CPU);
2. imports it with :func:`tvm_nacos.from_torch` and exposes NAS moves on it with the
   ``Expose`` passes: width, skipping a residual branch, kernel size; every new option
   *inherits* the trained weights (slices, a zero-padded or centred kernel) instead of drawing
   new ones;
3. scores each architecture with :class:`~tvm_nacos.accuracy.InheritedAccuracy`: the
   architecture is compiled by TVM and run on the validation images, so the score is the
   accuracy of the very module that ships;
4. searches accuracy against tuned latency with :func:`tvm_nacos.search` and compiles the
   fastest architecture that keeps the accuracy you ask for.

No fine-tuning happens here: a slimmer option starts from trained weights but has not
adapted to its new shape, so the scores rank how much each move costs *before* fine-tuning.

``NACOS_TUTORIAL_BUDGET`` sets the measurement budget (default 64 trials; the test runs it
with 16), ``NACOS_TUTORIAL_WORK_DIR`` the work directory.
"""

# %%
# Train a small CNN
# -----------------
# A stem, two residual blocks with batch norm, a classifier: trained for a few epochs on the
# 8×8 digits (1,347 training and 450 validation images; :func:`~tvm_nacos.accuracy.load_digits_data`
# keeps a stratified quarter for validation). Your own data comes the same way through
# :class:`~tvm_nacos.accuracy.ImageData` (``.npz`` files, arrays or a ``DataLoader``).

import os
from pathlib import Path

import numpy as np
import torch
import tvm
from torch import nn
from tvm import relax

import tvm_nacos
from tvm_nacos.accuracy import InheritedAccuracy, load_digits_data
from tvm_nacos.analysis import search_space
from tvm_nacos.passes import ExposeKernelSize, ExposeSkip, ExposeWidth

budget = int(os.environ.get("NACOS_TUTORIAL_BUDGET", "64"))
work_dir = Path(os.environ.get("NACOS_TUTORIAL_WORK_DIR", "nacos-tutorial-trained"))


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
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU())
        self.blocks = nn.Sequential(Block(16), Block(16))
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


data = load_digits_data(resolution=8, channels=1, seed=0)
torch.manual_seed(0)
model = SmallCNN()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
generator = torch.Generator().manual_seed(0)
for _epoch in range(6):
    for images, labels in data.batches(64, generator=generator):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
model.eval()
with torch.no_grad():
    trained_accuracy = 100.0 * int((model(data.x_val).argmax(dim=1) == data.y_val).sum()) / len(data.y_val)
print(f"trained: {trained_accuracy:.2f}% on {len(data.y_val)} validation images (PyTorch)")

# %%
# Expose moves that inherit the weights
# -------------------------------------
# ``ExposeWidth`` keeps the filters of a convolution with the largest L1 norms, and the matching
# channels of its consumers (a slice of the trained weights); ``ExposeSkip`` drops a residual branch; ``ExposeKernelSize`` with
# ``init="inherit"`` derives a new kernel from the trained one (a 1×1 option is the centre of
# the 3×3). Batch norms are folded into the convolutions by the import, so the slices carry
# them along.

mod = tvm_nacos.from_torch(model, (torch.zeros(1, 1, 8, 8),))
supernet = tvm.transform.Sequential(
    [
        ExposeWidth(multipliers=(0.5, 1.0)),
        ExposeSkip(),
        ExposeKernelSize(sizes=(1, 3), init="inherit", inside_options="original"),
    ]
)(mod)
space = search_space(supernet)
print(f"{len(space)} choice points, {space.size} architectures")

# %%
# Accuracy measured by TVM
# ------------------------
# :class:`~tvm_nacos.accuracy.InheritedAccuracy` compiles an architecture for the CPU (no
# tuning needed to score it) and runs it on every validation image. The all-``original``
# architecture is the trained model itself: TVM's accuracy equals PyTorch's.

accuracy = InheritedAccuracy(supernet, data)
original = space.default_sample()
(original_accuracy,) = accuracy.evaluate([original])
agree = "equal to" if original_accuracy == trained_accuracy else "NOT equal to"
print(f"original architecture: {original_accuracy:.2f}% (TVM), {agree} PyTorch's")
rng = np.random.default_rng(0)
for sample in {s.id: s for s in (space.sample(rng) for _ in range(3))}.values():
    changed = {label: option for label, option in sample.items() if option != "original"}
    print(f"  {accuracy.evaluate([sample])[0]:6.2f}%  {changed}")

# %%
# Search accuracy against tuned latency
# -------------------------------------
# Each score costs a compile and a pass over the validation images (about a second), so the
# joint search ranks a smaller random sample than its default 200 before it starts
# (``seed_candidates``).

result = tvm_nacos.search(
    supernet, accuracy=accuracy, budget=budget, strategy="joint", work_dir=work_dir, seed=0,
    strategy_options={"seed_candidates": 12},
)
print(f"{result.trials_used} trials, {len(result.evaluated)} architectures measured; front (accuracy, tuned latency):")
for point in result.pareto:
    changed = {label: option for label, option in point.sample.items() if option != "original"}
    print(f"  {point.accuracy:6.2f}%  {point.latency_ms:.4f} ms  {changed or 'the original network'}")

# %%
# Compile the pick
# ----------------
# The fastest architecture of the front within two points of the trained model's accuracy,
# compiled with its tuned kernels. A very small budget may leave the front empty; then the
# original network is compiled.

try:
    pick = result.best(min_accuracy=original_accuracy - 2.0).sample
except ValueError as err:
    print(f"{err}: compiling the original network instead")
    pick = original
vm = relax.VirtualMachine(result.compile(pick), tvm.cpu())
image = tvm.runtime.tensor(data.x_val[:1].numpy())
latency_ms = float(np.median(vm.time_evaluator("main", tvm.cpu(), number=20, repeat=3)(image).results)) * 1e3
print(f"pick {pick.id}: {accuracy.evaluate([pick])[0]:.2f}% (TVM), {latency_ms:.4f} ms tuned")
