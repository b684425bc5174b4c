"""
Choice points and passes on a tiny model
========================================

In tvm-nacos an architecture choice lives *inside the compiler*: a **choice point** is a
Relax stub function that lists its options, each option a private Relax function with the same
inputs and output type. Compiler passes read, check and specialize them like any other
``relax.transform`` pass. This tutorial

1. writes a tiny PyTorch supernet with two ``Choice`` modules, one of them nested (a
   *conditional* choice: the kernel of a block that may be skipped);
2. imports it with :func:`tvm_nacos.from_torch` and reads its search space off the IR with
   :func:`tvm_nacos.analysis.search_space`;
3. looks at one choice point in TVMScript;
4. checks it with :class:`~tvm_nacos.passes.CheckChoicePoints` and picks architectures with
   :class:`~tvm_nacos.passes.SpecializeArch`;
5. compiles and runs every architecture and checks each against eager PyTorch.

Runs in well under a minute on two CPU cores. ``NACOS_TUTORIAL_BUDGET`` (default: all)
limits how many architectures step 5 compiles.
"""

# %%
# A supernet in PyTorch
# ---------------------
# :class:`tvm_nacos.frontend.torch.Choice` holds named alternatives; in eager mode it runs the
# selected one (the first, until told otherwise). ``block.depth`` keeps or skips the block;
# ``block.kernel`` exists only inside the ``keep`` option, so it only matters when the block
# is kept.

import os

import numpy as np
import torch
import tvm
from torch import nn
from tvm import relax

import tvm_nacos
from tvm_nacos.analysis import search_space
from tvm_nacos.frontend.torch import Choice, apply_sample
from tvm_nacos.ir import find_choice_points
from tvm_nacos.passes import CheckChoicePoints, SpecializeArch


def conv_relu(channels: int, kernel: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(channels, channels, kernel, padding=kernel // 2), nn.ReLU())


class TinySupernet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.op = Choice("stem.op", {"conv3x3": conv_relu(8, 3), "dw3x3": nn.Conv2d(8, 8, 3, padding=1, groups=8)})
        kernel = Choice("block.kernel", {"k3": conv_relu(8, 3), "k5": conv_relu(8, 5)})
        self.block = Choice("block.depth", {"keep": kernel, "skip": nn.Identity()})
        self.head = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.op(self.stem(x))
        x = self.block(x)
        return self.head(x.mean(dim=(2, 3)))


torch.manual_seed(0)
model = TinySupernet().eval()
x = torch.randn(1, 3, 16, 16)

# %%
# Import: one choice point per ``Choice``
# ---------------------------------------
# ``from_torch`` exports the model with ``torch.export`` and imports it with TVM's importer;
# every option becomes a private Relax function, every ``Choice`` a stub. The search space is
# read off the module: no PyTorch needed from here on.

mod = tvm_nacos.from_torch(model, (x,))
space = search_space(mod)
print(f"{len(space)} choice points, {space.size} architectures")
for spec in space:
    condition = f"   (only when {spec.condition.label} is {' or '.join(spec.condition.options)})" if spec.condition else ""
    print(f"  {spec.label}: {' | '.join(spec.options)}{condition}")

# %%
# A choice point in TVMScript
# ---------------------------
# The stub's attributes list the options and their functions; its body calls the default, so
# the unspecialized module runs (and computes the default architecture). Here are the stub of
# ``stem.op`` and its two options (the weights are constants, shown as ``metadata[...]``).

choice = next(cp for cp in find_choice_points(mod) if cp.label == "stem.op")
print(tvm.IRModule({gv: mod[gv] for gv in (choice.stub, *choice.option_funcs)}).script(show_meta=False))

# %%
# Check, then specialize
# ----------------------
# ``CheckChoicePoints`` raises :class:`tvm_nacos.errors.ChoicePointError`, naming the label
# and option, when options disagree on their output type or a label repeats. ``SpecializeArch``
# keeps the selected option of every choice point, inlines it and drops everything else: the
# result is an ordinary Relax module. Both are module passes and compose in ``Sequential``.
# An architecture is an :class:`~tvm_nacos.search_space.ArchSample`, a plain JSON mapping;
# the inactive conditional choice is simply left out.

sample = space.canonicalize({"stem.op": "dw3x3", "block.depth": "keep", "block.kernel": "k5"})
print(f"architecture {sample.id}: {sample.to_json()}")
specialized = tvm.transform.Sequential([CheckChoicePoints(), SpecializeArch(sample)])(mod)
print("choice points left after SpecializeArch:", len(find_choice_points(specialized)))

try:
    SpecializeArch({"stem.op": "conv7x7"})(mod)
except ValueError as err:  # InvalidSampleError: names the bad option and the valid ones
    print("bad sample:", str(err).splitlines()[0])

# %%
# Compile and run every architecture
# ----------------------------------
# Each architecture compiles with the standard Relax pipeline. ``apply_sample`` fixes the same
# choices in the eager model, so the two must agree. These latencies are untuned: tuning the
# kernels is the search's job (see ``joint_search_nas_bench_201.py``).

budget = int(os.environ.get("NACOS_TUTORIAL_BUDGET", space.size))
target = tvm.target.Target({"kind": "llvm"})
data = tvm.runtime.tensor(x.numpy())
for sample in list(space.enumerate())[:budget]:
    executable = tvm.compile(SpecializeArch(sample)(mod), target=target, relax_pipeline=relax.get_default_pipeline(target))
    vm = relax.VirtualMachine(executable, tvm.cpu())
    output = vm["main"](data).numpy()
    with torch.no_grad():
        expected = apply_sample(model, sample)(x).numpy()  # fixes the choices in place
    np.testing.assert_allclose(output, expected, rtol=1e-4, atol=1e-4)
    latency_ms = float(np.median(vm.time_evaluator("main", tvm.cpu(), number=5, repeat=3)(data).results)) * 1e3
    print(f"  {sample.id}  {latency_ms:6.3f} ms (untuned)  {sample.to_json()}")
print(f"every architecture matches PyTorch ({min(budget, space.size)} compiled)")
