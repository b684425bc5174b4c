"""LatencyCostModel: learns absolute latency across tasks, reports held-out accuracy, persists."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tuning_helpers import host_cpu, matmul

from tvm_nacos._compat import meta_schedule
from tvm_nacos.cosearch.cost_model import LatencyCostModel
from tvm_nacos.testing.fake import SMALL_SCHEDULE_SEARCH
from tvm_nacos.tuning import PersistentBuilder, make_runner, register_tensor_intrinsics
from tvm_nacos.tuning.runner import shutdown_runner

ms = meta_schedule()
FEATURES = 2 * 164 + 2


def _synthetic(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.random((n, FEATURES)).astype(np.float32)
    secs = np.exp(-12 + 3 * x[:, 0] + x[:, 5])  # latency depends on two features
    return x, secs


def test_learns_and_ranks_unseen_data(rng) -> None:
    model = LatencyCostModel(seed=1)
    assert not model.is_trained
    x, secs = _synthetic(rng, 200)
    model.add_measurements(x[:150], secs[:150])
    assert model.is_trained and model.num_samples == 150
    mean, std = model.predict_log_secs(x[150:])
    rho = np.corrcoef(np.argsort(np.argsort(mean)), np.argsort(np.argsort(np.log(secs[150:]))))[0, 1]
    assert rho > 0.9
    assert std.shape == mean.shape and np.all(std >= 0) and std.max() > 0
    accuracy = model.held_out_accuracy(folds=5)
    assert accuracy.num_samples == 150 and accuracy.spearman > 0.9 and accuracy.median_abs_rel_error < 0.3


def test_untrained_model_gives_random_scores_and_refuses_latency(rng) -> None:
    model = LatencyCostModel()
    with pytest.raises(RuntimeError, match="no measurement"):
        model.predict_log_secs(rng.random((2, FEATURES)))
    with pytest.raises(ValueError, match="at least 10 measurements"):
        model.held_out_accuracy(folds=5)


def test_save_and_load_round_trip(tmp_path, rng) -> None:
    model = LatencyCostModel(seed=3)
    x, secs = _synthetic(rng, 40)
    model.add_measurements(x, secs)
    model.save(str(tmp_path / "model.pkl"))
    loaded = LatencyCostModel()
    loaded.load(str(tmp_path / "model.pkl"))
    assert loaded.num_samples == 40
    np.testing.assert_array_equal(loaded.predict_log_secs(x)[0], model.predict_log_secs(x)[0])


@pytest.mark.slow
def test_drives_a_metaschedule_session_across_tasks(tmp_path) -> None:
    target = tvm.target.Target(host_cpu(2))
    register_tensor_intrinsics(target)
    model = LatencyCostModel()
    builder = PersistentBuilder()
    # MetaSchedule's evolutionary search, with the suite's small population (its default of
    # 512 costs ~20 s here and changes nothing this test checks).
    contexts = [
        ms.TuneContext(mod=matmul(n), target=target, space_generator="post-order-apply",
                       search_strategy=ms.search_strategy.EvolutionarySearch(**SMALL_SCHEDULE_SEARCH),
                       task_name=f"mm{n}", num_threads=2, rand_state=n)
        for n in (32, 96)
    ]
    runner = make_runner()
    try:
        ms.tune_tasks(tasks=contexts, task_weights=[1.0, 1.0], work_dir=str(tmp_path), max_trials_global=32,
                      max_trials_per_task=16, num_trials_per_iter=8, builder=builder, runner=runner,
                      database="memory", cost_model=model)
    finally:
        builder.shutdown()
        shutdown_runner(runner)
    assert model.num_samples >= 24 and model.is_trained
    small = model.features(contexts[0], [])
    assert small.shape == (0, FEATURES)


def _design_space_candidates(n: int) -> tuple[object, list[object]]:
    """A tune context for an n×n matmul and its design spaces as measure candidates."""
    target = tvm.target.Target(host_cpu(2))
    register_tensor_intrinsics(target)
    context = ms.TuneContext(mod=matmul(n), target=target, space_generator="post-order-apply",
                             task_name=f"mm{n}", num_threads=1, rand_state=n)
    spaces = context.generate_design_space()
    args = ms.arg_info.ArgInfo.from_prim_func(matmul(n)["main"])
    return context, [ms.MeasureCandidate(sch, args) for sch in spaces]


def test_features_of_a_candidate_seen_before_come_from_the_cache() -> None:
    context, candidates = _design_space_candidates(64)
    assert len(candidates) >= 2
    model = LatencyCostModel()
    first = model.features(context, candidates)
    assert model.feature_cache_hits == 0
    again = model.features(context, candidates[::-1] + candidates[:1])
    assert model.feature_cache_hits == len(candidates) + 1
    np.testing.assert_array_equal(again[:len(candidates)], first[::-1])
    np.testing.assert_array_equal(again[-1], first[0])
    # The cached rows are what a model without them computes.
    np.testing.assert_array_equal(LatencyCostModel().features(context, candidates), first)
    # The same schedule of another task is another row (its FLOPs differ).
    other_context, other = _design_space_candidates(32)
    assert model.features(other_context, other[:1])[0, -1] != first[0, -1]
