"""SupernetAccuracy (sandwich-trained weight-sharing supernet) and StandaloneAccuracy on a tiny budget."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from tvm_nacos.accuracy import AccuracyEstimator, StandaloneAccuracy, SupernetAccuracy, TrainingRecord
from tvm_nacos.accuracy._torch import ArchitectureCopier
from tvm_nacos.accuracy.supernet import LARGEST, SMALLEST
from tvm_nacos.search_space import ArchSample, InvalidSampleError, get

NB201 = get("nas-bench-201")
ALL_NONE = ArchSample((label, "none") for label in NB201.space.labels)
# A supernet small enough to train in about a second: C=4, one cell per stage, 8×8 digits.
TINY = {"channels": 4, "cells_per_stage": 1, "resolution": 8, "num_random": 1, "calib_batches": 2}


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    # Tiny networks: on a shared 2-core machine a second intra-op thread mostly waits.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained() -> SupernetAccuracy:
    return SupernetAccuracy(epochs=3, **TINY).fit()


def _cells(count: int) -> list[ArchSample]:
    rng = np.random.default_rng(0)
    return [NB201.space.sample(rng) for _ in range(count)]


def test_sandwich_ends_are_the_largest_and_smallest_by_parameters() -> None:
    copier = ArchitectureCopier(SupernetAccuracy(**TINY).supernet)

    def params(sample: ArchSample) -> int:
        return sum(p.numel() for p in copier.copy(sample).parameters())

    counts = [params(s) for s in _cells(30)]
    assert params(LARGEST) > max(counts)
    assert params(SMALLEST) == params(ALL_NONE) <= min(counts)
    assert NB201.space.contains(LARGEST) and NB201.space.contains(SMALLEST)


def test_trains_and_scores_above_chance(trained: SupernetAccuracy) -> None:
    record = trained.record
    assert isinstance(record, TrainingRecord) and trained.trained
    assert record.stopped_by == "epochs" and record.steps == 3 * (1347 // 64) and record.epochs == 3.0
    assert record.train_secs > 0 and record.cpu_secs > 0 and np.isfinite(record.final_loss)
    scores = trained.evaluate([LARGEST, SMALLEST, ALL_NONE, *_cells(5)])
    assert all(0.0 <= s <= 100.0 for s in scores)
    assert scores[0] > 50.0 and scores[1] > 50.0  # chance is 10%
    assert scores[2] < 20.0  # the all-none cell cuts the network
    assert trained.is_cheap is False and isinstance(trained, AccuracyEstimator)
    assert trained.name == "nas-bench-201/supernet(C=4,N=1,8px)"


def test_evaluations_are_deterministic_and_cached(trained: SupernetAccuracy) -> None:
    cells = _cells(3)
    first = trained.evaluate(cells)
    trained.clear_cache()
    # Each subnet recalibrates every batch norm, so the order of evaluation does not matter.
    assert trained.evaluate(cells[::-1]) == first[::-1]
    assert trained.cache_size == 3


def test_save_and_load_give_identical_evaluations(trained: SupernetAccuracy, tmp_path) -> None:
    cells = [LARGEST, *_cells(4)]
    before = trained.evaluate(cells)
    path = tmp_path / "supernet.pt"
    trained.save(path)
    loaded = SupernetAccuracy.load(path)
    assert loaded.trained and loaded.record == trained.record
    assert loaded.options() == trained.options() and loaded.cache_size == 0
    assert loaded.evaluate(cells) == before
    state, loaded_state = trained.supernet.state_dict(), loaded.supernet.state_dict()
    assert all(torch.equal(state[k], loaded_state[k]) for k in state if "running" not in k and "num_batches" not in k)


def test_training_is_deterministic_for_a_seed() -> None:
    a = SupernetAccuracy(epochs=1, **TINY).fit()
    b = SupernetAccuracy(epochs=1, **TINY).fit()
    c = SupernetAccuracy(epochs=1, seed=1, **TINY).fit()
    sa, sb, sc = (e.supernet.state_dict() for e in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_an_interrupted_training_resumes_from_its_checkpoint_and_ends_the_same(tmp_path) -> None:
    uninterrupted = SupernetAccuracy(epochs=2, **TINY).fit()
    path = tmp_path / "training.pt"

    def stop_after_the_first_epoch(event) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        SupernetAccuracy(epochs=2, checkpoint=path, progress=stop_after_the_first_epoch, **TINY).fit()
    events = []
    resumed = SupernetAccuracy(epochs=2, checkpoint=path, progress=events.append, **TINY).fit()
    assert resumed.record.resumed_at_epoch == 1 and resumed.record.steps == uninterrupted.record.steps
    assert [(e.epoch, e.epochs) for e in events] == [(2, 2)] and events[0].eta_secs == 0
    done, expected = resumed.supernet.state_dict(), uninterrupted.supernet.state_dict()
    assert all(torch.equal(done[k], expected[k]) for k in expected)
    with pytest.raises(ValueError, match=r"checkpoint of a training with other options \(\['epochs'\]"):
        SupernetAccuracy(epochs=3, checkpoint=path, **TINY).fit()
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable training checkpoint"):
        SupernetAccuracy(epochs=2, checkpoint=path, **TINY).fit()


def test_in_place_distillation_trains_the_small_subnets_on_the_largest(tmp_path) -> None:
    distilled = SupernetAccuracy(epochs=2, distill=True, **TINY).fit()
    plain = SupernetAccuracy(epochs=2, **TINY).fit()
    assert not all(torch.equal(a, b) for a, b in zip(distilled.supernet.state_dict().values(),
                                                       plain.supernet.state_dict().values(), strict=True))
    scores = distilled.evaluate([LARGEST, SMALLEST])
    assert min(scores) > 50.0  # chance is 10%
    distilled.save(tmp_path / "distilled.pt")
    loaded = SupernetAccuracy.load(tmp_path / "distilled.pt")
    assert loaded.distill and loaded.options()["distill"] is True and "distill" not in plain.options()
    with pytest.raises(TypeError, match="distill must be True or False"):
        SupernetAccuracy(distill="yes", **TINY)  # type: ignore[arg-type]


def test_lazy_training_and_time_budget() -> None:
    estimator = SupernetAccuracy(epochs=1000, max_train_secs=0.3, **TINY)
    assert not estimator.trained and estimator.record is None
    (score,) = estimator.evaluate([LARGEST])  # trains first
    record = estimator.record
    assert record is not None and record.stopped_by == "max_train_secs"
    assert 0 < record.steps < 1000 * 21 and record.train_secs < 5.0
    assert 0.0 <= score <= 100.0


def test_standalone_trains_each_architecture() -> None:
    standalone = StandaloneAccuracy(epochs=2, channels=4, cells_per_stage=1, resolution=8)
    cells = [LARGEST, ALL_NONE]
    scores = standalone.evaluate(cells)
    assert scores[0] > 50.0 and scores[1] < 20.0
    assert set(standalone.records) == {c.id for c in cells}
    assert all(r.steps == 2 * 21 and r.stopped_by == "epochs" for r in standalone.records.values())
    assert standalone.name == "nas-bench-201/standalone(C=4,N=1,8px)" and standalone.is_cheap is False
    again = StandaloneAccuracy(epochs=2, channels=4, cells_per_stage=1, resolution=8).evaluate([LARGEST])
    assert again == scores[:1]


def test_errors_name_the_bad_value(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"channels must be an int >= 1, got 0"):
        SupernetAccuracy(channels=0)
    with pytest.raises(TypeError, match=r"epochs must be an int, got float 1.5"):
        SupernetAccuracy(epochs=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"max_train_secs must be > 0, got -1"):
        StandaloneAccuracy(max_train_secs=-1)
    with pytest.raises(ValueError, match=r"val_fraction must be a float strictly between 0 and 1, got 0"):
        SupernetAccuracy(val_fraction=0)
    untrained = SupernetAccuracy(**TINY)
    with pytest.raises(RuntimeError, match=r"not trained; call fit\(\) before save"):
        untrained.save(tmp_path / "x.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"is not a saved SupernetAccuracy"):
        SupernetAccuracy.load(tmp_path / "other.pt")
    bad = {**NB201.default_sample(), "edge.3<-2": "conv_5x5"}
    with pytest.raises(InvalidSampleError, match=r"supernet\(C=4,N=1,8px\): .*'conv_5x5' for label 'edge.3<-2'"):
        untrained.evaluate([bad])
    assert not untrained.trained  # a bad sample is rejected before any training


# -- any built-in space: the ViT ---------------------------------------------------------------


@pytest.fixture(scope="module")
def vit_trained() -> SupernetAccuracy:
    # 10 epochs of the 8x8, patch-2, width-32 variant: a few seconds.
    return SupernetAccuracy("vit", epochs=10, learning_rate=0.1, num_random=1, calib_batches=2).fit()


def test_any_space_trains_its_supernet(vit_trained: SupernetAccuracy, tmp_path) -> None:
    vit = get("vit")
    assert vit_trained.name == "vit/supernet(resolution=8,patch_size=2,embed_dim=32,num_classes=10)"
    assert vit_trained.space == vit.space and vit_trained.sandwich == vit.sandwich_samples()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in vit_trained.supernet.modules())
    norms = [m for m in vit_trained.supernet.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms and vit_trained.record is not None and vit_trained.record.steps == 10 * 21
    rng = np.random.default_rng(1)
    samples = [*vit.sandwich_samples(), *(vit.space.sample(rng) for _ in range(3))]
    scores = vit_trained.evaluate(samples)
    assert all(25.0 < s <= 100.0 for s in scores), scores  # chance is 10%
    path = tmp_path / "vit.pt"
    vit_trained.save(path)
    loaded = SupernetAccuracy.load(path)
    assert loaded.options() == vit_trained.options() and loaded.options()["network_options"]["embed_dim"] == 32
    assert loaded.evaluate(samples) == scores


def test_a_space_object_trains_as_given_and_the_sandwich_falls_back_to_parameters() -> None:
    resnet = get("resnet", resolution=8)
    estimator = SupernetAccuracy(resnet, epochs=1, num_random=0, calib_batches=1)
    assert estimator.name == "resnet/supernet(resolution=8,num_classes=10)"
    largest, smallest = estimator.sandwich
    # No sandwich of its own: the most and fewest parameters, choice by choice.
    assert largest["stage1.width"] == "w100" and largest["stage1.block1.kernel"] == "k5"
    assert smallest["stage1.width"] == "w050" and smallest["stage1.block2.depth"] == "skip"
    assert resnet.num_params(largest) > resnet.num_params(smallest)
    standalone = StandaloneAccuracy(resnet, epochs=1)
    (score,) = standalone.evaluate([smallest])
    assert 0.0 <= score <= 100.0 and standalone.name == "resnet/standalone(resolution=8,num_classes=10)"


def test_network_options_errors_name_the_space() -> None:
    with pytest.raises(TypeError, match=r"\['channels'\] apply to 'nas-bench-201' only; the 'vit' network"):
        SupernetAccuracy("vit", channels=8)
    with pytest.raises(TypeError, match=r"network_options does not apply to 'nas-bench-201'"):
        SupernetAccuracy(network_options={"channels": 8})
    with pytest.raises(TypeError, match=r"network_options applies to a space given by name"):
        SupernetAccuracy(get("vit"), network_options={"embed_dim": 16})
    with pytest.raises(ValueError, match=r"unknown optimizer 'adam'; valid: \['sgd', 'adamw'\]"):
        SupernetAccuracy("vit", optimizer="adam")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown search space 'vit-b'"):
        StandaloneAccuracy("vit-b")
