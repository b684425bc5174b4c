"""
A joint search on NAS-Bench-201
===============================

The NACOS loop searches architectures and kernel schedules together: it keeps a population of
architectures, estimates each one's *tuned* latency from the kernels measured so far (and the
shared cost model's predictions for the rest), and spends every batch of MetaSchedule
measurements on the kernel that could move the accuracy–latency front the most. Kernels that
several architectures share are measured once for all of them.

This tutorial runs it on ``nas-bench-201`` (15,625 cells on the benchmark's exact CIFAR-10
network) with the benchmark's own accuracies (:class:`~tvm_nacos.accuracy.TableAccuracy`), on
the host CPU:

1. the space and the accuracy table;
2. :func:`tvm_nacos.search` with a small budget, printing progress as it goes;
3. the front, :meth:`SearchResult.best <tvm_nacos.cosearch.search.SearchResult.best>`, and the
   report files in the work directory;
4. the fastest architecture above an accuracy, compiled with its tuned kernels, checked
   against PyTorch.

The same run from the command line: ``tvm-nacos search --budget 200``.

``NACOS_TUTORIAL_BUDGET`` sets the measurement budget (default 200 trials; the test runs it
with 8, too few for a front, to check that the script runs), ``NACOS_TUTORIAL_WORK_DIR`` the
work directory.
"""

# %%
# The space and its accuracy table
# --------------------------------
# Built-in spaces are pure Python until you ask for their network. A NAS-Bench-201 architecture
# is six edge operations; ``arch_str`` is the benchmark's own notation.

import os

import numpy as np
import torch
import tvm
from tvm import relax

import tvm_nacos
from tvm_nacos.accuracy import TableAccuracy
from tvm_nacos.search_space import get

budget = int(os.environ.get("NACOS_TUTORIAL_BUDGET", "200"))
work_dir = os.environ.get("NACOS_TUTORIAL_WORK_DIR", "nacos-tutorial-nb201")

nb201 = get("nas-bench-201")
accuracy = TableAccuracy()  # CIFAR-10 validation accuracy (%), 200 epochs, mean of 3 seeds
example = nb201.sample_from_index(6111)
print(f"nas-bench-201: {nb201.space.size} architectures, {len(nb201.space)} choice points")
print(f"for example {nb201.arch_str(example)}: {accuracy.evaluate([example])[0]:.2f}% on CIFAR-10")

# %%
# Search
# ------
# ``budget`` counts measurement trials: schedule candidates built and timed on this CPU. The
# library never prints; ``progress`` receives a
# :class:`~tvm_nacos.cosearch.progress.SearchProgress` after every measured batch (the
# ``tvm-nacos search`` command line draws its progress line from the same events). Importing
# the supernet (all 450 options of the 15 cells) takes about 20 s before the first batch.


def show_progress(event) -> None:
    best = f"; fastest measured {event.front[0].latency_ms:.3f} ms at {event.front[0].accuracy:.2f}%" if event.front else ""
    print(f"  trials {event.trials_used}/{event.budget}, {event.num_tasks} kernels in the pool{best}")


result = tvm_nacos.search(
    "nas-bench-201",
    accuracy=accuracy,
    budget=budget,
    strategy="joint",
    work_dir=work_dir,
    seed=0,
    progress=show_progress,
)
print(f"{result.trials_used} trials ({result.failed_trials} failed) in {result.search_secs:.0f} s")

# %%
# The front
# ---------
# ``result.pareto`` holds the non-dominated architectures, fastest first. Their latency was
# measured end to end, compiled with the tuned kernels; ``estimated_latency_ms`` is the sum of
# the best kernel latencies that guided the search. The work directory also holds the report:
# ``pareto.json``, ``pareto.csv``, ``pareto.png`` (every measured architecture and the front)
# and ``report.md``, and the tuning database that later searches on this CPU reuse.

print("front (fastest first):")
for point in result.pareto:
    print(
        f"  {point.accuracy:6.2f}%  {point.latency_ms:7.3f} ms (estimated {point.estimated_latency_ms:.3f})"
        f"  {nb201.arch_str(point.sample)}"
    )
print("report:", os.path.join(work_dir, "report.md"), "and", os.path.join(work_dir, "pareto.png"))

# %%
# Pick and compile
# ----------------
# ``best(min_accuracy=...)`` is the fastest front architecture that reaches an accuracy (here
# the middle of what the front offers); ``compile`` builds any architecture with the best
# schedules the work directory holds for its kernels. Its PyTorch reference, with the same
# weights, must compute the same output. (``tvm-nacos compile`` does the same from a work
# directory and exports a shared library.)
#
# A NAS-Bench-201 architecture has about 25 kernels; an architecture joins the front once every
# one of them is measured, which a very small budget may not reach. Then we compile the example
# cell from above instead.

if result.pareto:
    accuracies = sorted(p.accuracy for p in result.pareto)
    point = result.best(min_accuracy=accuracies[len(accuracies) // 2])
    sample = point.sample
    print(f"best: {nb201.arch_str(sample)} at {point.accuracy:.2f}% and {point.latency_ms:.3f} ms")
else:
    sample = example
    print(f"the front is empty after {result.trials_used} trials: raise NACOS_TUTORIAL_BUDGET; compiling the example cell")

vm = relax.VirtualMachine(result.compile(sample), tvm.cpu())
x = nb201.example_input()
output = vm["main"](tvm.runtime.tensor(x.numpy())).numpy()
with torch.no_grad():
    expected = nb201.torch_reference(sample).eval()(x).numpy()
np.testing.assert_allclose(output, expected, rtol=1e-3, atol=1e-3)
print("compiled with the tuned kernels; matches PyTorch")
