"""NASWOT computed by TVM on a Relax module equals PyTorch's on the same weights."""

from __future__ import annotations

import numpy as np
import pytest
import tvm

import tvm_nacos
from tvm_nacos.accuracy._torch import reset_batch_norms
from tvm_nacos.accuracy.data import load_digits_data
from tvm_nacos.accuracy.image_data import DataError
from tvm_nacos.accuracy.relax_naswot import RelaxNaswot, naswot_from_codes, relu_codes_module
from tvm_nacos.accuracy.zero_cost import NaswotProxy
from tvm_nacos.analysis import search_space
from tvm_nacos.examples import example_input, example_supernet
from tvm_nacos.ir.batch import with_batch_size


@pytest.fixture(scope="module")
def supernet():
    return reset_batch_norms(example_supernet())  # PyTorch's initial batch norms, as the proxy scores


@pytest.fixture(scope="module")
def mod(supernet) -> tvm.IRModule:
    return tvm_nacos.from_torch(supernet, (example_input(),))


@pytest.fixture(scope="module")
def digits():
    return load_digits_data(resolution=16, channels=3, seed=0)


def test_tvm_naswot_equals_pytorch_naswot_on_every_architecture(supernet, mod, digits) -> None:
    space = search_space(mod)
    samples = list(space.enumerate())
    by_tvm = RelaxNaswot(mod, digits, batch_size=32).evaluate(samples)
    by_torch = NaswotProxy(space=supernet, data=digits, batch_size=32).evaluate(samples)
    # A unit whose activation is within float error of 0 may get the other code in TVM: a count
    # of one in K (about 1e-5 of the score); every other architecture scores exactly the same.
    np.testing.assert_allclose(by_tvm, by_torch, rtol=1e-4)
    assert np.argsort(by_tvm).tolist() == np.argsort(by_torch).tolist()
    assert len(set(np.round(by_torch, 3))) > 1  # the architectures differ: the check can fail


def test_rebatched_module_runs_each_image_as_the_original(mod) -> None:
    from tvm import relax

    from tvm_nacos.passes import SpecializeArch

    sample = next(iter(search_space(mod).enumerate()))
    single = SpecializeArch(sample)(mod)
    batched = with_batch_size(single, 3)
    images = np.stack([example_input(seed=s).numpy()[0] for s in range(3)]).astype("float32")
    run = {}
    for name, module in (("single", single), ("batched", batched)):
        vm = relax.VirtualMachine(tvm.compile(module, target="llvm"), tvm.cpu())
        if name == "single":
            run[name] = np.concatenate([vm["main"](tvm.runtime.tensor(images[i : i + 1])).numpy() for i in range(3)])
        else:
            run[name] = vm["main"](tvm.runtime.tensor(images)).numpy()
    np.testing.assert_allclose(run["batched"], run["single"], rtol=1e-5, atol=1e-5)


def test_codes_kernel_and_singular_cases() -> None:
    codes = [np.array([[1, 0, 1], [1, 0, 1]], dtype=bool)]  # two images the ReLU cannot tell apart
    assert naswot_from_codes(codes) == -np.inf
    codes = [np.array([[1, 0, 1], [0, 1, 1]], dtype=bool)]
    assert naswot_from_codes(codes) == pytest.approx(np.log(3 * 3 - 1 * 1))  # K = [[3, 1], [1, 3]]


def test_bad_modules_and_data_are_named_errors(mod) -> None:
    from tvm.script import relax as R

    @tvm.script.ir_module
    class NoRelu:
        @R.function
        def main(x: R.Tensor((1, 4), "float32")) -> R.Tensor((1, 4), "float32"):
            return R.add(x, x)

    with pytest.raises(ValueError, match="NASWOT needs ReLUs"):
        relu_codes_module(NoRelu)
    with pytest.raises(DataError, match=r"the images are \(1, 8, 8\), the module takes \(3, 16, 16\)"):
        RelaxNaswot(mod, load_digits_data(resolution=8, channels=1, seed=0)).images()
