"""Schedule transfer between fused variants of one anchor block (same convolution, other epilogue)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import tvm
from torch import nn
from tuning_helpers import host_cpu
from tvm import relax

import tvm_nacos
from tvm_nacos.analysis import search_space
from tvm_nacos.cosearch.cost_model import LatencyCostModel
from tvm_nacos.cosearch.session import SearchSession
from tvm_nacos.frontend.torch import Choice, apply_sample
from tvm_nacos.search_space import ArchSample
from tvm_nacos.target import as_target

TARGET = host_cpu(2)


class _Plain(nn.Module):
    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


class _Residual(_Plain):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)) + x


class _Net(nn.Module):
    """One 16→16 3×3 convolution, with or without a residual add: one anchor, two epilogues."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.block = Choice("block", {"plain": _Plain(nn.Conv2d(16, 16, 3, padding=1)),
                                      "residual": _Residual(nn.Conv2d(16, 16, 3, padding=1))})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


@pytest.fixture(scope="module")
def net() -> tuple[nn.Module, tvm.IRModule]:
    model = _Net().eval()
    return model, tvm_nacos.from_torch(model, (torch.randn(1, 16, 14, 14),))


def _conv_key(session: SearchSession, sample: ArchSample) -> str:
    keys = [k for k in session.add(sample).weights if "conv2d" in session.pool[k].name]
    assert len(keys) == 1
    return keys[0]


def test_a_variant_starts_from_the_schedule_of_its_measured_sibling(net, tmp_path) -> None:
    model, mod = net
    session = SearchSession(
        mod, search_space(mod), accuracy=lambda samples: [1.0] * len(samples), target=as_target(TARGET),
        work_dir=tmp_path, budget=64, seed=0, cost_model=LatencyCostModel(num_models=2, num_rounds=30, nthread=1),
        check_outputs=True,  # every candidate, the transferred one too, must compute its own kernel
    )
    try:
        plain, residual = ArchSample({"block": "plain"}), ArchSample({"block": "residual"})
        plain_key, residual_key = _conv_key(session, plain), _conv_key(session, residual)
        assert plain_key != residual_key  # two tasks ...
        residual_tuner = session.tuner(residual_key)
        assert residual_tuner.transfer_candidate() is None  # ... and nothing measured to borrow from yet

        session.measure(plain_key, 8)
        session.wait_all()  # building ahead, a batch lands once the next is proposed, or here
        plain_best = session.tuner(plain_key).best_secs
        assert plain_best is not None
        # Before its first trial the variant is predicted by its sibling, and borrows its schedule.
        assert residual_tuner.predicted_best_secs() == (plain_best, 0.3)
        transfer = residual_tuner.transfer_candidate()
        assert transfer is not None

        def signature(kernel: tvm.IRModule) -> list[str]:
            func = kernel["main"]
            return [str(p.name) for p in func.params]

        # The variant's own kernel (its residual input and output), not the sibling's replayed.
        assert signature(transfer.sch.mod) == signature(residual_tuner.mod) != signature(session.tuner(plain_key).mod)
        assert session.measure(residual_key, 1) == 1
        session.wait_all()
        assert session.num_transfers == 1
        assert session.num_failed == 0, session.failure_reasons  # e.g. not "output mismatch"
        assert residual_tuner.best_secs is not None and residual_tuner.transfer_candidate() is None
        # The transferred trace replays on the variant: it is the variant's own record, and
        # compiling uses exactly the schedule that was measured.
        assert residual_key not in session.anchors.transfers
        record = session.database.query_tuning_record(residual_tuner.mod, session.target, workload_name="main")
        assert record is not None and float(record.run_secs[0]) > 0 and len(record.trace.insts) > 10
        from tvm_nacos._compat import meta_schedule
        from tvm_nacos.tuning.database import apply_tuned_schedules
        from tvm_nacos.tuning.tasks import lower_for_tuning

        # A database with the sibling's records only: compiling falls back to the transfer.
        ms = meta_schedule()
        sibling_only = ms.database.MemoryDatabase()
        for old in session.database.get_top_k(session.database.commit_workload(session.tuner(plain_key).mod), 100):
            sibling_only.commit_tuning_record(ms.database.TuningRecord(
                old.trace, sibling_only.commit_workload(old.workload.mod), old.run_secs, old.target, old.args_info))

        def scheduled_convs(tuned: tvm.IRModule) -> list[bool]:
            return [bool(f.attrs and f.attrs.get("tirx.is_scheduled", False)) for gv, f in tuned.functions_items()
                    if isinstance(f, tvm.tirx.PrimFunc) and "conv2d" in gv.name_hint]

        fused = lower_for_tuning(mod, session.target, sample=residual)
        with session.target, sibling_only:
            alone = relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(fused)
        assert scheduled_convs(alone) == [False]  # the sibling's records alone do not schedule it
        assert scheduled_convs(apply_tuned_schedules(fused, sibling_only, session.target)) == [True]
        ex = session.compile(residual)
        x = torch.randn(1, 16, 14, 14)
        out = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x.numpy())).numpy()
        with torch.no_grad():
            expected = apply_sample(model, residual)(x).numpy()
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    finally:
        session.close()
