"""The digits dataset of the PyTorch estimators: bundled with scikit-learn, split and shaped deterministically."""

from __future__ import annotations

import socket
import urllib.request

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from tvm_nacos.accuracy import DigitsData, load_digits_data
from tvm_nacos.accuracy import data as data_module

NUM_IMAGES = 1797
CLASS_SIZES = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_reads_the_bundled_file_and_downloads_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "sklearn_data"))
    data_module._raw_digits.cache_clear()  # really read the file again, under the patches
    data = load_digits_data()
    assert len(data.y_train) + len(data.y_val) == NUM_IMAGES
    assert not (tmp_path / "sklearn_data").exists()


def test_shapes_split_and_normalization() -> None:
    data = load_digits_data()
    assert isinstance(data, DigitsData)
    assert (data.resolution, data.channels, data.num_classes, data.seed) == (32, 3, 10, 0)
    assert data.x_train.shape == (1347, 3, 32, 32) and data.x_val.shape == (450, 3, 32, 32)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    # Stratified: every class keeps a quarter (rounded) of its images for validation.
    val_counts = torch.bincount(data.y_val, minlength=10).tolist()
    assert all(abs(v - 0.25 * n) <= 0.5 for v, n in zip(val_counts, CLASS_SIZES, strict=True))
    assert (torch.bincount(data.y_train, minlength=10) + torch.bincount(data.y_val, minlength=10)).tolist() == CLASS_SIZES
    # Standardized with the training statistics; the channels are copies.
    assert abs(float(data.x_train.mean())) < 1e-4 and abs(float(data.x_train.std()) - 1.0) < 1e-3
    assert torch.equal(data.x_train[:, 0], data.x_train[:, 2]) and torch.equal(data.x_val[:, 1], data.x_val[:, 2])
    assert 0.0 < data.mean < 1.0 and data.std > 0.0


def test_native_resolution_keeps_the_original_pixels() -> None:
    data = load_digits_data(resolution=8, channels=1, val_fraction=0.5, seed=3)
    assert data.x_train.shape == (899, 1, 8, 8) and data.x_val.shape == (898, 1, 8, 8)
    pixels = torch.cat([data.x_train, data.x_val]) * data.std + data.mean
    assert torch.allclose(pixels * 16, torch.round(pixels * 16), atol=1e-4)
    # The same images as scikit-learn's, in another order.
    ours = sorted(tuple(np.round(p.numpy().ravel() * 16).astype(int)) for p in pixels)
    theirs = sorted(tuple(row.astype(int)) for row in load_digits().data)
    assert ours == theirs


def test_split_is_deterministic_for_a_seed() -> None:
    a, b, c = load_digits_data(seed=0), load_digits_data(seed=0), load_digits_data(seed=1)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val)
    assert not torch.equal(a.y_train, c.y_train)


def test_minibatch_is_seeded() -> None:
    data = load_digits_data(resolution=16)
    x1, y1 = data.minibatch(64, seed=0)
    x2, y2 = data.minibatch(64, seed=0)
    x3, _ = data.minibatch(64, seed=1)
    assert x1.shape == (64, 3, 16, 16) and y1.shape == (64,)
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and not torch.equal(x1, x3)
    xv, yv = data.minibatch(len(data.y_val), seed=0, split="val")
    assert sorted(yv.tolist()) == sorted(data.y_val.tolist()) and xv.shape[0] == 450


def test_batches_cover_the_split_once() -> None:
    data = load_digits_data(resolution=8)
    seen = [y for _, y in data.batches(100, generator=torch.Generator().manual_seed(0))]
    assert [len(y) for y in seen] == [100] * 13 + [47]
    assert sorted(torch.cat(seen).tolist()) == sorted(data.y_train.tolist())
    again = [y for _, y in data.batches(100, generator=torch.Generator().manual_seed(0))]
    assert all(torch.equal(a, b) for a, b in zip(seen, again, strict=True))
    assert [len(y) for _, y in data.batches(100, drop_last=True)] == [100] * 13
    ordered = next(iter(data.batches(5, split="val")))[1]
    assert torch.equal(ordered, data.y_val[:5])


def test_errors_name_the_bad_value() -> None:
    with pytest.raises(ValueError, match=r"val_fraction .* between 0 and 1, got 1.0"):
        load_digits_data(val_fraction=1.0)
    with pytest.raises(ValueError, match=r"resolution must be an int >= 1, got 0"):
        load_digits_data(resolution=0)
    with pytest.raises(TypeError, match=r"channels must be an int, got float 3.0"):
        load_digits_data(channels=3.0)  # type: ignore[arg-type]
    data = load_digits_data(resolution=8)
    with pytest.raises(ValueError, match=r"batch_size 2000 exceeds the 1347 images of the 'train' split"):
        data.minibatch(2000)
    with pytest.raises(ValueError, match=r"unknown split 'test'; valid splits: 'train', 'val'"):
        data.minibatch(4, split="test")  # type: ignore[arg-type]
