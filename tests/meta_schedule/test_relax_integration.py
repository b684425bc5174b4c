# ruff: noqa: E501, F841
"""MetaSchedule's Relax integration tests, run with MetaSchedule's strategies and ours.

Ported from apache/tvm v0.27, ``tests/python/relax/test_meta_schedule_relax_integration.py``
(unchanged from tag ``v0.27.dev0``, 68ba2b31c2, through main 5d4dc87213): the same module, task
extraction and ``tune_relax`` + ``compile_relax`` round trip with every assertion. The round trip
runs over the search strategies (``strategy=``) and over the database: a fresh work directory,
or one holding the JSON database of an earlier ``tune_relax`` (a resumed tuning; that earlier
session only fills the database, so its candidates are not compiled or timed). It also checks
what the session promises: ``max_trials_global`` trials, and (ours) no schedule measured twice
and the trials reported on the strategy object passed in.

Environment: tvm-nacos's ``PersistentBuilder`` (the stock ``LocalBuilder`` imports every tensor
intrinsic in every worker of every batch, ~25 s each here) and a runner that times each
candidate once, both shared by the tests (``conftest.measurement``), a seeded session, a random cost model (XGBoost predicts at random below 100 samples anyway), and a
population of 16 for the evolutionary strategies (``strategies.TUNING_SETTINGS``).
"""

from __future__ import annotations

import numpy as np
import pytest
import tvm
import tvm.testing
from strategies import ALL, DATABASES, TUNING_SETTINGS, make_strategy, skips_measured
from tvm import relax
from tvm.runtime import cpu as tvm_cpu
from tvm.runtime import tensor as tvm_tensor
from tvm.runtime.vm import VirtualMachine
from tvm.script import ir as I
from tvm.script import relax as R

from tvm_nacos._compat import meta_schedule
from tvm_nacos.cosearch.schedule_strategy import NACOSSearchStrategy
from tvm_nacos.testing.fake import DeterministicBuilder, DeterministicRunner

ms = meta_schedule()

# fmt: off
@I.ir_module
class Module0:
    @R.function
    def main(data: R.Tensor((1, 8, 8, 4), dtype="int32")) -> R.Tensor((1, 8, 8, 4), dtype="int32"):
        cls = Module0
        with R.dataflow():
            c = R.const([[[[-171701247],[-1719837685],[1801664104],[-634316588]],[[920159370],[-132073802],[2142531563],[1465185701]],[[-1505608067],[1737948828],[1581089391],[-1986167320]]],[[[-1449581822],[35714587],[496324563],[-1430879015]],[[-1615680873],[1198514997],[1494683955],[1567376558]],[[1319924884],[-380548171],[296785437],[-1546305981]]],[[[-398644701],[-2004794585],[-1850413687],[2072643657]],[[847950121],[-544212073],[-199532669],[-343273682]],[[953721562],[-1930209358],[1573600108],[-577689853]]]], "int32")
            lv: R.Tensor((1, 8, 8, 4), dtype="int32") = R.nn.conv2d(data, c, strides=[1, 1], padding=[1, 1, 1, 1], dilation=[1, 1], groups=4, data_layout="NHWC", kernel_layout="HWOI", out_layout="NHWC", out_dtype="int32")
            b = R.const([[[[1, 1, 1, 1]]]], "int32")
            lv1: R.Tensor((1, 8, 8, 4), dtype="int32") = R.add(lv, b)
            c1 = R.const([[[[2042349344],[-2076067063],[1528163722],[-1156452837]],[[-2097172051],[1137787079],[-601389657],[1907495997]],[[987801941],[1073738593],[-1410339796],[-689755358]]],[[[90351522],[-44886952],[-1914103775],[-691553659]],[[-1288505112],[-1376578817],[-2067933148],[-1413101824]],[[1261422027],[-156976862],[-1185734459],[1608778622]]],[[[-664209483],[1907479806],[1838595152],[464942526]],[[877953160],[415131837],[-2010736511],[1218242769]],[[-1440127632],[112931],[521745784],[-1931145893]]]], "int32")
            lv2: R.Tensor((1, 8, 8, 4), dtype="int32") = R.nn.conv2d(lv1, c1, strides=[1, 1], padding=[1, 1, 1, 1], dilation=[1, 1], groups=4, data_layout="NHWC", kernel_layout="HWOI", out_layout="NHWC", out_dtype="int32")
            c2 = R.const([[[[687940110],[-910571705],[-901609800],[-500525928]],[[506872399],[1070176297],[-305936110],[1625439784]],[[-1565626954],[-1705688881],[-866370805],[-1750740826]]],[[[300497007],[-626864803],[390295545],[222549121]],[[319224543],[-2003064970],[657992492],[2014175448]],[[653278589],[-768810984],[-294555581],[-1197167662]]],[[[1703154671],[-1540759805],[-568817430],[-1729755444]],[[-275458074],[2078945571],[1683298006],[-1029327874]],[[1315093181],[159010501],[875694807],[-223655381]]]], "int32")
            lv3: R.Tensor((1, 8, 8, 4), dtype="int32") = R.nn.conv2d(lv2, c2, strides=[1, 1], padding=[1, 1, 1, 1], dilation=[1, 1], groups=4, data_layout="NHWC", kernel_layout="HWOI", out_layout="NHWC", out_dtype="int32")
            gv: R.Tensor((1, 8, 8, 4), dtype="int32") = lv3
            R.output(gv)
        return gv

# fmt: on


def _fused(mod: tvm.IRModule) -> tvm.IRModule:
    mod = relax.transform.LegalizeOps()(mod)
    mod = relax.transform.AnnotateTIROpPattern()(mod)
    mod = relax.transform.FuseOps()(mod)
    mod = relax.transform.FoldConstant()(mod)
    return relax.transform.FuseTIR()(mod)


def test_extracting_tasks() -> None:
    target = {"kind": "llvm", "mcpu": "core-avx2", "num-cores": 1}
    relax_mod = _fused(Module0)
    relax_expectation = {
        "structural": 2,  # The relax constants do not reach the tirx at the lowering.
        "ignore-tensor": 2,
        "anchor-block": 1,
    }
    for module_equality, count in relax_expectation.items():
        extracted_tasks = ms.relax_integration.extract_tasks(relax_mod, target, {}, module_equality=module_equality)
        assert len(extracted_tasks) == count


def _tune_relax(fused_mod, target, work_dir, kind, measurement=None):
    """``tune_relax`` with the port's strategy and the builder and runner ``measurement``
    (``None``: ``DeterministicBuilder`` and ``DeterministicRunner``, which compile and time
    nothing, for the earlier session that only fills the database)."""
    strategy = make_strategy(kind, **TUNING_SETTINGS)
    builder, runner = measurement or (DeterministicBuilder(), DeterministicRunner())
    database = ms.relax_integration.tune_relax(
        fused_mod, params={}, target=target, work_dir=work_dir, max_trials_global=4, strategy=strategy,
        builder=builder, runner=runner, seed=0,
    )
    return database, strategy


@pytest.mark.slow
@pytest.mark.parametrize("database_state", DATABASES)
@pytest.mark.parametrize("kind", ALL)
def test_compile_relax_with_database(kind: str, database_state: str, measurement, tmp_path) -> None:
    """End-to-end: tune with MetaSchedule, then compile_relax with the database.

    ``compile_relax`` takes the raw module and runs LegalizeOps + FuseOps + FuseTIR before
    applying the database, so its kernels must have the keys the tasks were tuned with.
    """
    pytest.importorskip("cloudpickle")  # needed by meta_schedule popen workers
    target = tvm.target.Target({"kind": "llvm", "num-cores": 1})
    fused_mod = _fused(Module0)
    work_dir = str(tmp_path)
    before: list[str] = []
    if database_state == "with-records":
        earlier, _ = _tune_relax(fused_mod, target, work_dir, kind)
        before = [str(r.trace) for r in earlier.get_all_tuning_records()]
    database, strategy = _tune_relax(fused_mod, target, work_dir, kind, measurement)
    exe = ms.relax_integration.compile_relax(database=database, mod=Module0, target=target, params=None)

    dev = tvm_cpu()
    vm = VirtualMachine(exe.jit(), dev)
    data = tvm_tensor(np.zeros((1, 8, 8, 4), dtype="int32"), device=dev)
    result = vm["main"](data)
    assert result.numpy().shape == (1, 8, 8, 4)

    records = [str(r.trace) for r in database.get_all_tuning_records()]
    assert len(records) == len(before) + 4  # max_trials_global
    if skips_measured(kind):
        assert len(set(records)) == len(records)  # nothing measured twice
        assert isinstance(strategy, NACOSSearchStrategy)
        # tune_relax tuned a clone per task; the object passed in reports their trials.
        assert strategy.trials_measured == 4 and len(strategy.clones) == 2
        assert sorted(c.task_name for c in strategy.clones) == sorted(
            t.task_name for t in ms.relax_integration.extract_tasks(fused_mod, target)
        )
