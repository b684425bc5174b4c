"""Batch-norm recalibration on a Relax module equals PyTorch's recalibration of the same network."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import tvm
from tvm import relax

import tvm_nacos
from tvm_nacos.accuracy.relax_batch_norm import count_batch_norms, recalibrate_batch_norms
from tvm_nacos.analysis import search_space
from tvm_nacos.examples import example_input, example_supernet
from tvm_nacos.frontend.torch import apply_sample
from tvm_nacos.passes import SpecializeArch


def _torch_recalibrated(network: torch.nn.Module, batches: list[np.ndarray]) -> torch.nn.Module:
    network = copy.deepcopy(network)
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # the cumulative average over the batches
    network.train()
    with torch.no_grad():
        for batch in batches:
            network(torch.from_numpy(batch))
    return network.eval()


def test_recalibrated_module_predicts_as_the_recalibrated_pytorch_network() -> None:
    supernet = example_supernet()  # its batch norms' running statistics are random: stale for any subnet
    mod = tvm_nacos.from_torch(supernet, (example_input(),))
    sample = list(search_space(mod).enumerate())[-1]
    specialized = SpecializeArch(sample)(mod)
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(16, 3, 16, 16)).astype("float32") for _ in range(3)]
    recalibrated = recalibrate_batch_norms(specialized, batches)
    assert count_batch_norms(recalibrated) == count_batch_norms(specialized) > 0

    reference = _torch_recalibrated(apply_sample(supernet, sample), batches)
    x = example_input(seed=5)
    with torch.no_grad():
        expected, stale = reference(x).numpy(), apply_sample(supernet, sample).eval()(x).numpy()
    outputs = {}
    for name, module in (("recalibrated", recalibrated), ("original", specialized)):
        vm = relax.VirtualMachine(tvm.compile(module, target="llvm"), tvm.cpu())
        outputs[name] = vm["main"](tvm.runtime.tensor(x.numpy())).numpy()
    np.testing.assert_allclose(outputs["recalibrated"], expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(outputs["original"], stale, rtol=1e-4, atol=1e-4)  # the input is left as it was
    assert not np.allclose(expected, stale, atol=1e-3)  # recalibration changed something: the check can fail


def test_bad_batches_are_clear_errors() -> None:
    mod = tvm_nacos.from_torch(example_supernet(), (example_input(),))
    specialized = SpecializeArch(next(iter(search_space(mod).enumerate())))(mod)
    with pytest.raises(ValueError, match="at least one batch"):
        recalibrate_batch_norms(specialized, [])
    with pytest.raises(ValueError, match="same number"):
        recalibrate_batch_norms(specialized, [np.zeros((4, 3, 16, 16), "float32"), np.zeros((2, 3, 16, 16), "float32")])
