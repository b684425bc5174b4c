"""Task extraction and the task pool: batch norm folded, shared kernels deduplicated."""

from __future__ import annotations

import pytest
import tvm
from tuning_helpers import host_cpu

import tvm_nacos
from tvm_nacos.tuning import TaskPool, extract_tasks, lower_for_tuning

TARGET = tvm.target.Target(host_cpu(2))


def _names(mod: tvm.IRModule, sample: dict, fold: bool) -> list[str]:
    return sorted(str(t.task_name) for t in extract_tasks(lower_for_tuning(mod, TARGET, sample=sample, fold_batch_norm=fold), TARGET))


def test_batch_norm_is_folded_into_convolutions(supernet: tvm.IRModule) -> None:
    sample = {"block1.op": "dwsep3x3", "block2.depth": "keep", "block2.kernel": "k5"}
    unfolded = _names(supernet, sample, fold=False)
    folded = _names(supernet, sample, fold=True)
    assert any("batch_norm" in n for n in unfolded)
    assert not any("batch_norm" in n for n in folded)
    convs = [n for n in folded if "conv2d" in n]
    assert len(convs) == 4  # stem, depthwise, pointwise, block2
    assert all("add" in n and "relu" in n for n in convs)  # bias (ex batch norm) and ReLU fused in
    assert len(folded) < len(unfolded)


def test_shared_layers_share_tasks(supernet: tvm.IRModule, monkeypatch: pytest.MonkeyPatch) -> None:
    pool = TaskPool(TARGET)
    assert pool.fewest_kernels == 0
    a = pool.add_architecture(supernet, {"block1.op": "conv3x3", "block2.depth": "keep", "block2.kernel": "k3"})
    b = pool.add_architecture(supernet, {"block1.op": "conv3x3", "block2.depth": "keep", "block2.kernel": "k5"})
    c = pool.add_architecture(supernet, {"block1.op": "conv5x5", "block2.depth": "skip"})
    shared_ab = set(a.weights) & set(b.weights)
    assert shared_ab and set(a.weights) != set(b.weights)
    assert len(pool) == len(set(a.weights) | set(b.weights) | set(c.weights))
    for key in shared_ab:
        assert set(pool[key].architectures) >= {a.sample.id, b.sample.id}
    assert pool.sharing_ratio() > 1.0
    assert pool.fewest_kernels == min(len(a.weights), len(b.weights), len(c.weights)) > 0
    assert pool.sharing_ratio([a.sample.id]) == 1.0
    # Adding an architecture again changes nothing, lowered or not, and extracts nothing.
    assert pool.add_architecture(supernet, a.sample) is a and len(pool.architectures) == 3
    import tvm_nacos.tuning.tasks as tasks_module

    fused = lower_for_tuning(supernet, TARGET, sample=b.sample)
    extractions: list = []
    original = tasks_module.extract_tasks
    monkeypatch.setattr(tasks_module, "extract_tasks", lambda *args: extractions.append(args) or original(*args))
    assert pool.add_fused(b.sample, fused) is b and not extractions
    # A kernel's weight counts its calls: block2 "k3" and block1 "conv3x3" are the same conv.
    assert sum(a.weights.values()) == a.num_calls >= len(a.weights)


def test_pooling_kernels_lose_the_custom_rule_that_cpu_targets_lack() -> None:
    import torch
    from tvm import relax

    from tvm_nacos._compat import meta_schedule, structural_equal
    from tvm_nacos.tuning.intrin import register_tensor_intrinsics

    ms = meta_schedule()

    class Pool(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.avg_pool2d(torch.relu(x), 3, 1, 1, count_include_pad=False)

    mod = tvm_nacos.from_torch(Pool(), (torch.randn(1, 16, 8, 8),))
    with TARGET:
        raw = relax.get_pipeline("zero")(mod)
    stripped = lower_for_tuning(mod, TARGET)
    assert "meta_schedule.pool_avg" in raw.script() and "schedule_rule" not in stripped.script()
    kernels = {gv.name_hint for gv, f in raw.functions_items() if isinstance(f, tvm.tirx.PrimFunc)}
    assert len(kernels) == 2  # relu, avg_pool2d: the relu kernel, without the annotation, is untouched
    relu = next(name for name in kernels if "relu" in name)
    assert structural_equal(raw[relu], stripped[relu])
    # Kernels seen before are answered from a cache (by structural hash): a copy of the module,
    # its functions new objects, is stripped alike, and its untouched kernel is its own object.
    from tvm_nacos.tuning.tasks import strip_unknown_schedule_rules

    copy = tvm.ir.load_json(tvm.ir.save_json(raw))
    again = strip_unknown_schedule_rules(copy, TARGET)
    assert structural_equal(again, stripped) and "schedule_rule" not in again.script()
    assert again[relu].same_as(copy[relu]) and not again[relu].same_as(raw[relu])

    register_tensor_intrinsics(TARGET)

    def instructions(fused: tvm.IRModule) -> list[list[str]]:
        task = next(t for t in extract_tasks(fused, TARGET) if "pool" in str(t.task_name))
        context = ms.TuneContext(mod=task.dispatched[0], target=TARGET, space_generator="post-order-apply",
                                 search_strategy="evolutionary", num_threads=1)
        return [[f"{inst.kind.name}{[str(a) for a in inst.attrs]}" for inst in space.trace.insts]
                for space in context.generate_design_space()]

    # The same design space: MetaSchedule only drops the annotation itself when it finds no rule.
    dropped = "Unannotate['schedule_rule']"
    expected = [[k for k in kinds if k != dropped] for kinds in instructions(raw)]
    assert instructions(stripped) == expected and dropped in sum(instructions(raw), [])
