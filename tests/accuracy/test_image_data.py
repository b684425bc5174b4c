"""Your own image data: .npz files, arrays and DataLoaders, checked before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tvm_nacos.accuracy import DataError, ImageData, SupernetAccuracy, ZeroCostProxy, load_digits_data
from tvm_nacos.search_space import get


def _arrays(count: int = 120, classes: int = 4, shape: tuple[int, int, int] = (3, 8, 8), seed: int = 0):
    """Images whose class is the bright quadrant: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % classes
    images = rng.normal(0.0, 0.3, size=(count, *shape)).astype(np.float32)
    half = shape[1] // 2
    for i, label in enumerate(labels):
        row, col = divmod(int(label) % 4, 2)
        images[i, :, row * half : (row + 1) * half, col * half : (col + 1) * half] += 2.0
    return images, labels


def test_npz_files_with_and_without_a_validation_file(tmp_path: Path) -> None:
    images, labels = _arrays()
    np.savez(tmp_path / "train.npz", images=images[:90], labels=labels[:90])
    np.savez(tmp_path / "val.npz", images=images[90:], labels=labels[90:])
    data = ImageData.from_npz(tmp_path / "train.npz", tmp_path / "val.npz")
    assert data.image_shape == (3, 8, 8) and data.num_classes == 4
    assert len(data.y_train) == 90 and len(data.y_val) == 30
    np.testing.assert_array_equal(data.x_val.numpy(), images[90:])
    assert data.describe() == "90 train / 30 val images of 3x8x8, 4 classes"
    split = ImageData.from_npz(tmp_path / "train.npz", val_fraction=0.2, seed=1)
    # stratified: a fifth of each class (23, 23, 22, 22 images) held out
    assert len(split.y_val) == 18 and np.bincount(split.y_val.numpy()).tolist() == [5, 5, 4, 4]
    x, y = split.minibatch(8, seed=3)
    assert x.shape == (8, 3, 8, 8) and y.dtype == torch.int64


def test_a_dataloader_gives_the_same_data_as_its_arrays() -> None:
    images, labels = _arrays()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(images), torch.from_numpy(labels)), batch_size=32
    )
    from_loader = ImageData.from_loader(loader, loader)
    from_arrays = ImageData.from_arrays(images, labels, images, labels)
    assert torch.equal(from_loader.x_train, from_arrays.x_train) and torch.equal(from_loader.y_val, from_arrays.y_val)
    with pytest.raises(DataError, match=r"training loader: the loader gave no batches"):
        ImageData.from_loader([])


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p, x, y: p.write_bytes(b""), r"is empty; expected an .npz archive with arrays \['images', 'labels'\]"),
        (lambda p, x, y: np.savez(p, pixels=x, labels=y), r"lacks the array\(s\) \['images'\]; it has \['labels', 'pixels'\]"),
        (lambda p, x, y: np.savez(p, images=x[:, 0], labels=y), r"images must be 4-D \(N, C, H, W\), channels first; got shape \(120, 8, 8\)"),
        (lambda p, x, y: np.savez(p, images=np.where(np.arange(120)[:, None, None, None] == 7, np.nan, x), labels=y),
         r"192 NaN or infinite pixel values, the first in image 7"),
        (lambda p, x, y: np.savez(p, images=x, labels=y[:-1]), r"one label per image \(120\), got shape \(119,\)"),
        (lambda p, x, y: np.savez(p, images=x, labels=y - 1), r"labels must be >= 0, got -1 \(image 0\)"),
        (lambda p, x, y: np.savez(p, images=x, labels=y + 0.5), r"labels must be integers"),
        (lambda p, x, y: np.savez(p, images=x[:0], labels=y[:0]), r"no images"),
        (lambda p, x, y: p.write_text("not an archive"), r"cannot read data file .* as an .npz archive"),
    ],
)
def test_bad_files_are_named_errors(tmp_path: Path, write, message: str) -> None:
    images, labels = _arrays()
    path = tmp_path / "train.npz"
    write(path, images, labels)
    with pytest.raises(DataError, match=message) as info:
        ImageData.from_npz(path)
    assert isinstance(info.value, ValueError) and str(path) in str(info.value)


def test_bad_arrays_are_named_errors(tmp_path: Path) -> None:
    images, labels = _arrays()
    with pytest.raises(DataError, match=r"label 3 is out of range for num_classes=3 \(valid labels: 0 … 2\)"):
        ImageData.from_arrays(images, labels, num_classes=3)
    with pytest.raises(DataError, match=r"validation images are \(3, 16, 16\) .* training images are \(3, 8, 8\)"):
        ImageData.from_arrays(images, labels, np.zeros((4, 3, 16, 16), np.float32), labels[:4])
    with pytest.raises(DataError, match=r"give both validation images and labels, or neither"):
        ImageData.from_arrays(images, labels, images)
    with pytest.raises(DataError, match=r"data file '.*missing.npz' does not exist"):
        ImageData.from_npz(tmp_path / "missing.npz")


def test_estimators_train_and_score_on_your_data(tmp_path: Path) -> None:
    images, labels = _arrays(count=256)
    data = ImageData.from_arrays(images, labels)
    resnet = get("resnet", resolution=8, num_classes=4)
    estimator = SupernetAccuracy(resnet, data=data, epochs=3, num_random=0, calib_batches=1)
    assert estimator.data is data
    (largest, smallest) = estimator.sandwich
    scores = estimator.evaluate([largest, smallest])
    assert all(s > 50.0 for s in scores), scores  # 4 classes: chance is 25 %
    proxy = ZeroCostProxy.create("grad_norm", space=resnet, data=data, batch_size=16)
    (score,) = proxy.evaluate([get("resnet").default_sample()])
    assert np.isfinite(score) and score > 0
    # The network must take the data's images: named before any training.
    with pytest.raises(DataError, match=r"takes images of 3x8x8 \(C, H, W\), but the data has 3x16x16"):
        SupernetAccuracy(get("vit", resolution=8, patch_size=2), data=ImageData.from_arrays(*_arrays(shape=(3, 16, 16))))
    with pytest.raises(DataError, match=r"the data has 10 classes but the vit network has 4 outputs"):
        SupernetAccuracy(get("vit", resolution=8, patch_size=2, num_classes=4), data=load_digits_data(resolution=8))
    with pytest.raises(DataError, match=r"resnet takes images of 3x32x32"):
        ZeroCostProxy.create("synflow", space="resnet", data=data)


def test_a_supernet_of_your_own_trains_and_is_scored_on_your_data(tmp_path: Path) -> None:
    from example_modules import tiny_supernet

    from tvm_nacos.accuracy import StandaloneAccuracy

    model, _ = tiny_supernet()
    labels = np.arange(128) % 2
    # The supernet pools globally: the classes differ in mean brightness.
    images = np.random.default_rng(0).normal(size=(128, 3, 8, 8)).astype(np.float32) + 1.5 * labels[:, None, None, None]
    data = ImageData.from_arrays(images, labels)
    estimator = SupernetAccuracy(model, data=data, epochs=15, num_random=0, calib_batches=1)
    assert estimator.name == "custom/supernet(model=TinySupernet)"
    largest, smallest = estimator.sandwich  # by parameters: the 3x3 option, then the 1x1
    assert dict(largest) == {"block.kernel": "k3"} and dict(smallest) == {"block.kernel": "k1"}
    scores = estimator.evaluate([largest, smallest])
    assert all(s > 60.0 for s in scores), scores  # 2 classes: chance is 50 %
    estimator.save(tmp_path / "mine.pt")
    with pytest.raises(ValueError, match=r"holds the weights of a supernet of your own \(TinySupernet\); pass supernet="):
        SupernetAccuracy.load(tmp_path / "mine.pt")
    loaded = SupernetAccuracy.load(tmp_path / "mine.pt", supernet=tiny_supernet()[0], data=data)
    assert loaded.evaluate([largest, smallest]) == scores
    (alone,) = StandaloneAccuracy(model, data=data, epochs=2).evaluate([smallest])
    assert 0.0 <= alone <= 100.0
    (grad,) = ZeroCostProxy.create("grad_norm", space=model, data=data, batch_size=8).evaluate([largest])
    assert np.isfinite(grad) and grad > 0
    with pytest.raises(DataError, match=r"a supernet of your own trains and scores on your images; give data="):
        SupernetAccuracy(model)
    with pytest.raises(DataError, match=r"cannot take the data's images of 1x8x8 \(C, H, W\)"):
        SupernetAccuracy(model, data=ImageData.from_arrays(*_arrays(shape=(1, 8, 8))))
    with pytest.raises(TypeError, match=r"\['channels'\] set a built-in space's network"):
        SupernetAccuracy(model, data=data, channels=8)
