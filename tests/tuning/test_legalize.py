"""The legalization cache gives the module ``LegalizeOps`` gives, and reuses what it legalized."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm import relax
from tvm.script import relax as R

from tvm_nacos import search_space as spaces
from tvm_nacos._compat import structural_equal
from tvm_nacos.analysis import search_space
from tvm_nacos.target import host_target
from tvm_nacos.tuning.legalize import LegalizationCache
from tvm_nacos.tuning.tasks import lower_for_tuning, specialize_for_inference, strip_unknown_schedule_rules


def _names(mod: tvm.IRModule) -> list[str]:
    return sorted(gv.name_hint for gv in mod.get_global_vars())


def _assert_same(expected: tvm.IRModule, actual: tvm.IRModule) -> None:
    assert _names(actual) == _names(expected)
    assert structural_equal(actual, expected)


@pytest.mark.parametrize("space", ["nas-bench-201", "vit"])
def test_cached_legalization_is_legalize_ops_on_random_architectures(space, nb201_module):
    mod = nb201_module if space == "nas-bench-201" else spaces.get(space).ir_module()
    rng = np.random.default_rng(3)
    samples = [search_space(mod).sample(rng) for _ in range(2)]
    cache = LegalizationCache()
    target = tvm.target.Target(host_target())
    for sample in samples:
        specialized = specialize_for_inference(mod, sample=sample)
        with target:
            _assert_same(relax.transform.LegalizeOps()(specialized), cache.legalize_ops()(specialized))
            zero = strip_unknown_schedule_rules(relax.get_pipeline("zero")(specialized), target)
        _assert_same(zero, lower_for_tuning(mod, target, specialized=specialized, legalization_cache=cache))
    # The architectures share most of their operator calls: later ones are answered from the cache.
    assert cache.hits > cache.misses > 0


def _scaled(scale: float) -> tvm.IRModule:
    @tvm.script.ir_module
    class Module:
        @R.function
        def main(x: R.Tensor((2, 8), "float32")) -> R.Tensor((2, 8), "float32"):
            with R.dataflow():
                y = R.multiply(x, R.const(scale, "float32"))
                z = R.add(y, R.const(np.arange(8, dtype="float32") * scale))
                R.output(z)
            return z

    return Module


def test_constants_folded_into_a_kernel_are_part_of_the_key():
    # A scalar constant is folded into the multiply kernel; a small tensor constant is keyed by value.
    cache = LegalizationCache()
    for scale in (2.0, 3.0, 2.0):
        _assert_same(relax.transform.LegalizeOps()(_scaled(scale)), cache.legalize_ops()(_scaled(scale)))
    assert cache.hits == 2  # the third module is the first one again


def test_a_value_passed_twice_is_not_two_values():
    @tvm.script.ir_module
    class Square:
        @R.function
        def main(x: R.Tensor((4, 4), "float32"), y: R.Tensor((4, 4), "float32")) -> R.Tensor((4, 4), "float32"):
            with R.dataflow():
                a = R.multiply(x, x)
                b = R.multiply(a, y)
                R.output(b)
            return b

    cache = LegalizationCache()
    _assert_same(relax.transform.LegalizeOps()(Square), cache.legalize_ops()(Square))
    assert cache.hits == 0  # multiply(x, x) and multiply(a, y) are different calls


def test_symbolic_shapes_are_legalized_as_legalize_ops_does():
    @tvm.script.ir_module
    class Dynamic:
        @R.function
        def main(x: R.Tensor(("n", 8), "float32"), w: R.Tensor((8, 4), "float32")) -> R.Tensor(("n", 4), "float32"):
            with R.dataflow():
                y = R.nn.relu(R.matmul(x, w))
                R.output(y)
            return y

    cache = LegalizationCache()
    for _ in range(2):
        _assert_same(relax.transform.LegalizeOps()(Dynamic), cache.legalize_ops()(Dynamic))
    assert cache.hits == 0 and len(cache) == 0


def test_the_cache_is_bounded():
    cache = LegalizationCache(max_entries=1)
    _assert_same(relax.transform.LegalizeOps()(_scaled(2.0)), cache.legalize_ops()(_scaled(2.0)))
    assert len(cache) == 1
    with pytest.raises(ValueError, match="max_entries"):
        LegalizationCache(max_entries=0)
