"""InheritedAccuracy: a trained model's exposed architectures scored by TVM, equal to PyTorch image by image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tvm_nacos.accuracy import DataError, ImageData, InheritedAccuracy, load_digits_data
from tvm_nacos.analysis import search_space
from tvm_nacos.frontend.torch import from_torch
from tvm_nacos.passes import ExposeKernelSize

BATCH = 32


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Module, object]:
    """A small CNN trained for a few seconds on the 8x8 digits."""
    data = load_digits_data(resolution=8, channels=1, seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(8 * 8 * 8, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        for images, labels in data.batches(64, generator=generator):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(images), labels).backward()
            optimizer.step()
    return model.eval(), data


def test_tvm_accuracy_equals_pytorch_to_the_last_image(trained) -> None:
    model, data = trained
    mod = ExposeKernelSize(sizes=(3, 5), init="inherit")(from_torch(model, (torch.zeros(BATCH, 1, 8, 8),)))
    space = search_space(mod)
    assert len(space.labels) == 2
    estimator = InheritedAccuracy(mod, data)
    original = space.default_sample()
    with torch.no_grad():
        expected = model(data.x_val).argmax(dim=1).numpy()
    np.testing.assert_array_equal(estimator.predictions(original), expected)  # 450 images, none differs
    (accuracy,) = estimator.evaluate([original])
    assert accuracy == pytest.approx(100.0 * (expected == data.y_val.numpy()).mean()) and accuracy > 50.0
    # The 5x5 options inherit the zero-padded 3x3 weights: the same network, the same predictions.
    wider = {label: "k5" for label in space.labels}
    np.testing.assert_array_equal(estimator.predictions(space.canonicalize(wider)), expected)
    assert estimator.name == "inherited/450 val images" and estimator.is_cheap is False


def test_batch_norms_recalibrated_on_training_batches_as_pytorch_does() -> None:
    """``recalibrate_batches``: each architecture's batch norms get statistics of the first
    training batches (on the Relax module) and predict as PyTorch's recalibrated network does."""
    import copy

    data = load_digits_data(resolution=8, channels=1, seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for images, labels in data.batches(64, generator=torch.Generator().manual_seed(0)):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    model[1].running_mean.add_(1.0)  # stale statistics: what an inherited option would have
    model.eval()
    mod = ExposeKernelSize(sizes=(3, 5), init="inherit")(from_torch(model, (torch.zeros(BATCH, 1, 8, 8),)))
    estimator = InheritedAccuracy(mod, data, recalibrate_batches=2, recalibrate_batch_size=16)
    recalibrated = copy.deepcopy(model)
    recalibrated[1].reset_running_stats()
    recalibrated[1].momentum = None
    recalibrated.train()
    with torch.no_grad():
        for batch in estimator.calibration_batches():
            recalibrated(torch.from_numpy(batch))
        expected = recalibrated.eval()(data.x_val).argmax(dim=1).numpy()
        stale = model(data.x_val).argmax(dim=1).numpy()
    np.testing.assert_array_equal(estimator.predictions(search_space(mod).default_sample()), expected)
    assert (expected != stale).any()  # recalibration changed predictions: the check can fail


def test_images_that_do_not_fit_the_module_are_refused(trained) -> None:
    model, _ = trained
    mod = ExposeKernelSize(sizes=(3, 5))(from_torch(model, (torch.zeros(BATCH, 1, 8, 8),)))
    wrong = ImageData.from_arrays(np.zeros((8, 3, 8, 8), np.float32), np.arange(8) % 2)
    with pytest.raises(DataError, match=r"the module takes \(32, 1, 8, 8\) but the images are \(3, 8, 8\)"):
        InheritedAccuracy(mod, wrong)
