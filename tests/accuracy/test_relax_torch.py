"""RelaxAsTorch and FineTunedAccuracy: an exposed architecture run by PyTorch predicts as TVM does, image by image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import tvm
from torch import nn
from tvm import relax

from tvm_nacos.accuracy import FineTunedAccuracy, InheritedAccuracy, load_digits_data
from tvm_nacos.accuracy.relax_torch import RelaxAsTorch, UnsupportedOperatorError
from tvm_nacos.analysis import search_space
from tvm_nacos.examples import trained_example_cnn
from tvm_nacos.frontend.torch import from_torch
from tvm_nacos.passes import ExposeKernelSize, ExposeSkip, ExposeWidth


@pytest.fixture(scope="module")
def exposed():
    data = load_digits_data(resolution=8, channels=1, seed=0)
    model = trained_example_cnn(data, epochs=0, pool=True)  # the tutorial's network, random weights
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):  # statistics worth folding
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    mod = from_torch(model.eval(), (torch.zeros(1, 1, 8, 8),))
    passes = [ExposeWidth(multipliers=(0.5, 1.0)), ExposeSkip(), ExposeKernelSize(sizes=(1, 3), init="inherit")]
    return tvm.transform.Sequential(passes)(mod), data


def test_an_architecture_run_by_pytorch_predicts_as_tvm_to_the_last_image(exposed) -> None:
    mod, data = exposed
    space = search_space(mod)
    rng = np.random.default_rng(0)
    samples = [space.default_sample(), *(space.sample(rng) for _ in range(4))]
    inherited = InheritedAccuracy(mod, data)
    reference = FineTunedAccuracy(mod, data, epochs=0)
    for sample in samples:
        network = reference.network(sample)
        assert sum(p.requires_grad for p in network.parameters()) >= 3  # the weights train
        np.testing.assert_array_equal(reference.predictions(network), inherited.predictions(sample))
    assert reference.evaluate(samples) == inherited.evaluate(samples)
    # Any batch size: the module's own is 1.
    out = reference.network(samples[1])(data.x_val[:7])
    assert tuple(out.shape) == (7, 10)


def test_fine_tuning_trains_the_inherited_weights(exposed) -> None:
    mod, data = exposed
    sample = search_space(mod).default_sample()
    (untrained,) = FineTunedAccuracy(mod, data, epochs=0).evaluate([sample])
    tuned = FineTunedAccuracy(mod, data, epochs=3, learning_rate=1e-2)
    (after,) = tuned.evaluate([sample])
    assert untrained < 20 and after > untrained + 30  # random weights (batch norms folded): ~10 % before
    assert tuned.train_secs[sample.id] > 0 and tuned.name == "fine-tuned/3 epochs"
    with pytest.raises(ValueError, match="epochs must be an int >= 0"):
        FineTunedAccuracy(mod, data, epochs=-1)
    with pytest.raises(TypeError, match="data must be an ImageData"):
        FineTunedAccuracy(mod, data.x_val)


def test_an_operator_pytorch_does_not_run_here_is_named() -> None:
    builder = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 4), "float32"))
    with builder.function("main", [x]):
        with builder.dataflow():
            out = builder.emit_output(builder.emit(relax.op.cumsum(x, axis=1)))
        builder.emit_func_output(out)
    with pytest.raises(UnsupportedOperatorError, match=r"operator relax.cumsum .* supported: \["):
        RelaxAsTorch(builder.get())
