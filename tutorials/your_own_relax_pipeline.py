"""
The search result in your own Relax pipeline
============================================

``tvm-nacos compile`` builds a searched architecture end to end. A compiler engineer with a
pipeline of their own wants passes instead, the way MetaSchedule hands its tuning records to
Relax with ``relax.transform.MetaScheduleApplyDatabase``. This tutorial

1. runs a small real search on a tiny supernet (two architectures: a 1x1 or a 3x3 block);
2. applies the tuning database MetaSchedule's way, on a fused module of one architecture;
3. compiles the *supernet* with ``tvm.compile(..., relax_pipeline=architecture_pipeline(...))``,
   which picks an architecture of the front by a rule and gives its kernels their tuned
   schedules, and checks it against PyTorch and against ``tvm-nacos compile``;
4. composes the same steps with a pass of its own in a ``tvm.transform.Sequential``.

Runs in about a minute on two CPU cores. ``NACOS_TUTORIAL_BUDGET`` (default 16) is the search's
trial budget; ``NACOS_TUTORIAL_WORK_DIR`` its work directory.
"""

# %%
# A tiny supernet, searched
# -------------------------
# One :class:`~tvm_nacos.frontend.torch.Choice` between a 1x1 and a 3x3 convolution. The
# accuracy here is a made-up score (the 3x3 block "is better"); a real search uses a table, a
# zero-cost proxy or a trained supernet. Every architecture is measured (``exhaustive``),
# with real builds and runs.

import os
import tempfile

import numpy as np
import torch
import tvm
from torch import nn
from tvm import relax

import tvm_nacos
from tvm_nacos._compat import meta_schedule
from tvm_nacos.frontend.torch import Choice, apply_sample
from tvm_nacos.pipeline import ApplyTunedSchedules, LowerForTuning, architecture_pipeline, select_architecture
from tvm_nacos.tuning.database import open_database
from tvm_nacos.tuning.tasks import lower_for_tuning

ms = meta_schedule()


class TinySupernet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = Choice("block.kernel", {"k1": nn.Conv2d(8, 8, 1), "k3": nn.Conv2d(8, 8, 3, padding=1)})
        self.head = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.block(torch.relu(self.stem(x))))
        return self.head(x.mean(dim=(2, 3)))


torch.manual_seed(0)
model = TinySupernet().eval()
x = torch.randn(1, 3, 16, 16)
supernet = tvm_nacos.from_torch(model, (x,))

target = tvm_nacos.host_target()
work_dir = os.environ.get("NACOS_TUTORIAL_WORK_DIR") or tempfile.mkdtemp(prefix="nacos-pipeline-")
result = tvm_nacos.search(
    supernet,
    target=target,
    accuracy=lambda samples: [0.9 if s["block.kernel"] == "k3" else 0.8 for s in samples],
    budget=int(os.environ.get("NACOS_TUTORIAL_BUDGET", "16")),
    strategy="exhaustive",
    strategy_options={"trials_per_task": 2},
    work_dir=work_dir,
    seed=0,
)
for point in result.pareto:
    print(f"front: {point.sample.to_json()} accuracy {point.accuracy} latency {point.latency_ms:.4f} ms")

# %%
# MetaSchedule's way: a fused module and a database
# -------------------------------------------------
# ``MetaScheduleApplyDatabase`` schedules the kernels of a *fused* module whose PrimFuncs are
# the database's workloads. Here that module is one architecture lowered as the search
# extracted its tasks; the database is the work directory's (MetaSchedule's JSON format).

database = open_database(work_dir, target)
fused = lower_for_tuning(supernet, target, sample={"block.kernel": "k3"})
with target, database:
    scheduled = relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(fused)
kernels = [gv.name_hint for gv, f in scheduled.functions_items() if isinstance(f, tvm.tirx.PrimFunc)]
tuned = [n for n in kernels if scheduled[n].attrs.get("tirx.is_scheduled", False)]
print(f"MetaScheduleApplyDatabase: {len(tuned)} of {len(kernels)} kernels scheduled")

# %%
# tvm-nacos's way: the supernet and a rule
# ----------------------------------------
# :func:`~tvm_nacos.pipeline.architecture_pipeline` is a ``relax_pipeline`` for ``tvm.compile``:
# it picks the architecture (here: the fastest with accuracy at least 0.85), specializes the
# supernet, lowers it as the search did, applies the tuned schedules (a kernel without records
# of its own borrows the best schedule of a measured kernel with the same anchor block, as the
# search measured it) and runs TVM's default build passes.

pipeline = architecture_pipeline(work_dir, min_accuracy=0.85)
executable = tvm.compile(supernet, target=target, relax_pipeline=pipeline)
print(f"picked {pipeline.sample.to_json()}; tuned kernels: {', '.join(pipeline.apply.last_scheduled)}")

vm = relax.VirtualMachine(executable, tvm.cpu())
out = vm["main"](tvm.runtime.tensor(x.numpy())).numpy()
with torch.no_grad():
    reference = apply_sample(model, pipeline.sample)(x).numpy()
np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-4)
print("the pipeline's executable matches PyTorch")

# ``tvm-nacos compile`` of the same pick builds the same kernels: the outputs agree bit for bit.
# (Compiled from the module the work directory keeps, ``model.json``, the libraries are even the
# same bytes; ``tests/test_pipeline.py`` checks that.)
from tvm_nacos.cli import main  # noqa: E402

library = os.path.join(work_dir, "picked.so")
main(["compile", "--work-dir", work_dir, "--arch", pipeline.point["arch_id"], "--output", library])
compiled = relax.VirtualMachine(tvm.runtime.load_module(library), tvm.cpu())
same = np.array_equal(compiled["main"](tvm.runtime.tensor(x.numpy())).numpy(), out)
print("same output as tvm-nacos compile:", same)

# %%
# Composing the steps with passes of your own
# -------------------------------------------
# The pipeline's steps are ordinary passes. Put your own between them, e.g. a check after the
# architecture is picked, then lower, tune and build as before.


@tvm.transform.module_pass(opt_level=0, name="CountCalls")
def count_calls(mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
    calls = []
    relax.analysis.post_order_visit(mod["main"].body, lambda e: calls.append(e) if isinstance(e, relax.Call) else None)
    print(f"after SelectArchitecture: {len(calls)} calls in main")
    return mod


mine = tvm.transform.Sequential(
    [
        select_architecture(work_dir, prefer="most-accurate"),  # a SelectArchitecture pass
        count_calls,
        LowerForTuning(),
        ApplyTunedSchedules(database, target=target),
        relax.pipeline.default_build_pipeline(),
    ]
)
executable = tvm.compile(supernet, target=target, relax_pipeline=mine)
vm = relax.VirtualMachine(executable, tvm.cpu())
print("composed pipeline output", vm["main"](tvm.runtime.tensor(x.numpy())).numpy().shape)
