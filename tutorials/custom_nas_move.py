"""
Write your own NAS move as a compiler pass
==========================================

tvm-nacos exposes architecture choices in a model you already have: import it, run a few
*expose passes*, and the Relax module spans a search space whose every point is a network
you can compile. Six moves ship with the project (kernel size, grouping, bottleneck,
depthwise-separable, skip, width); this tutorial writes a seventh in a dozen lines, composes
it with the built-in ones and runs a tiny random search.

Steps:

1. import a plain PyTorch CNN (no ``Choice`` modules) with :func:`tvm_nacos.from_torch`;
2. write ``ExposeActivation``: every ReLU may become GELU or SiLU;
3. compose it with ``ExposeWidth``, ``ExposeSkip`` and ``ExposeKernelSize`` in one
   ``tvm.transform.Sequential``;
4. sample architectures, specialize, compile and run them, and keep the fastest.

Runs in well under a minute on two CPU cores.
"""

# %%
# A plain model
# -------------
# A small residual CNN: stem, two basic blocks (the second one downsamples), a classifier.
# Nothing in it knows about architecture search.


import numpy as np
import torch
import tvm
from torch import nn
from tvm import relax

import tvm_nacos
from tvm_nacos.analysis import search_space
from tvm_nacos.passes import ExposeKernelSize, ExposePass, ExposeSkip, ExposeWidth, SpecializeArch


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.shortcut(x) + self.bn2(self.conv2(y)))


class SmallResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.blocks = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 16, 2))
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


torch.manual_seed(0)
model = SmallResNet().eval()
x = torch.randn(1, 3, 16, 16)
mod = tvm_nacos.from_torch(model, (x,))
print("choice points after import:", len(search_space(mod)))

# %%
# A new move in one short class
# -----------------------------
# A move subclasses :class:`tvm_nacos.passes.ExposePass`. It says which calls it matches and
# which alternatives it offers; each alternative is a *builder* that receives a
# ``BlockBuilder`` and the inputs of the matched subgraph and returns the new output. The
# base class does the rest: it finds the matches in every function, keeps the unchanged call
# as the option ``"original"``, builds every option as a private Relax function, adds the
# choice point and gives it a stable label, here ``"<op name>.act"`` (``relu0.act`` for the first
# ReLU). The decorator registers it with TVM's pass infrastructure, so it runs in
# ``Sequential``, under ``PassContext`` and its instruments, like any ``relax.transform`` pass.


@tvm.transform.module_pass(opt_level=0, name="ExposeActivation")
class ExposeActivation(ExposePass):
    """Every ReLU may become a GELU or a SiLU."""

    suffix = "act"

    def match(self, call, context):
        return call.op == tvm.ir.Op.get("relax.nn.relu")

    def options(self, call, context):
        return {
            "gelu": lambda bb, inputs: relax.op.nn.gelu(inputs[0]),
            "silu": lambda bb, inputs: relax.op.nn.silu(inputs[0]),
        }


one_move = ExposeActivation()(mod)
print("one move:", search_space(one_move).labels, "size", search_space(one_move).size)

# %%
# Compose with the built-in moves
# -------------------------------
# Width first (it needs to see a convolution and its consumers side by side), then skip
# (whole residual branches), then the per-op moves. ``inside_options="original"`` lets the
# kernel-size and activation moves change the ops of the original network only, not those
# inside the narrower width options: moves then add up instead of multiplying. ``names``
# restricts a move by glob patterns over op names and labels, ``where`` by any
# predicate on the call and its context; here the activation move leaves the stem's ReLU
# (``relu0`` of ``main``) alone. Every pass keeps the input network as the all-``"original"``
# sample.

pipeline = tvm.transform.Sequential(
    [
        ExposeWidth(multipliers=(0.5, 1.0)),
        ExposeSkip(),
        ExposeKernelSize(sizes=(3, 5), inside_options="original"),
        ExposeActivation(where=lambda call, context: context.name != "relu0", inside_options="original"),
    ]
)
supernet = pipeline(mod)
relax.analysis.well_formed(supernet)
space = search_space(supernet)
print(f"{len(space)} choice points, {space.size} architectures")
for spec in space:
    condition = f"  (if {spec.condition.label} in {list(spec.condition.options)})" if spec.condition else ""
    print(f"  {spec.label}: {list(spec.options)}{condition}")

# %%
# The original network is still in the space
# ------------------------------------------
# Specializing every choice point to ``"original"`` gives back the imported module, so it
# computes exactly what the PyTorch model computes.

target = tvm.target.Target({"kind": "llvm"})


def build(module: tvm.IRModule) -> relax.VirtualMachine:
    ex = tvm.compile(module, target=target, relax_pipeline=relax.get_default_pipeline(target))
    return relax.VirtualMachine(ex, tvm.cpu())


data = tvm.runtime.tensor(x.numpy())
original = SpecializeArch(space.default_sample())(supernet)
with torch.no_grad():
    expected = model(x).numpy()
np.testing.assert_allclose(build(original)["main"](data).numpy(), expected, rtol=1e-4, atol=1e-4)
print("all-original sample matches PyTorch")

# %%
# A tiny random search
# --------------------
# Sample a few architectures, specialize, compile and run each, and keep the fastest. These
# are untuned latencies: ``tvm_nacos.search(supernet, accuracy=..., budget=...)`` tunes the
# kernels and trades latency against an accuracy estimate, which this model (new weights are
# random, seeded: the alternatives need training before their outputs mean anything) does not
# have yet.

rng = np.random.default_rng(0)
results = []
for sample in [space.default_sample()] + [space.sample(rng) for _ in range(4)]:
    vm = build(SpecializeArch(sample)(supernet))
    out = vm["main"](data).numpy()
    assert out.shape == (1, 10)
    timer = vm.time_evaluator("main", tvm.cpu(), number=5, repeat=3)
    latency_ms = float(np.median(timer(data).results)) * 1e3
    changed = {label: option for label, option in sample.items() if option != "original"}
    results.append((latency_ms, sample.id, changed))
    print(f"{sample.id}: {latency_ms:7.3f} ms  {changed or 'original'}")

best_ms, best_id, best_changes = min(results, key=lambda r: r[0])
print(f"fastest: {best_id} at {best_ms:.3f} ms (untuned), changes: {best_changes or 'none'}")
