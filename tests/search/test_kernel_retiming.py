"""The front's kernels run again in turns: each kernel's best build kept, latencies read under load
corrected, nothing left behind."""

from __future__ import annotations

import os
import tempfile
from types import SimpleNamespace

import pytest
from tuning_helpers import host_cpu

import tvm_nacos
from tvm_nacos._compat import meta_schedule
from tvm_nacos.cosearch.kernel_retiming import SLOW_IN_DATABASE, BestArtifacts, retime_kernels
from tvm_nacos.cosearch.measure_callbacks import RemoveBuildArtifacts
from tvm_nacos.cosearch.search import near_front
from tvm_nacos.examples import example_input, example_supernet
from tvm_nacos.testing.fake import SMALL_SCHEDULE_SEARCH

ms = meta_schedule()


def _artifact() -> str:
    folder = tempfile.mkdtemp(prefix="nacos-build-")
    path = os.path.join(folder, "tmp.so")
    open(path, "w").close()
    return path


def _batch(latencies: list[float | None]):
    builds = [ms.builder.BuilderResult(_artifact(), None) for _ in latencies]
    results = [ms.runner.RunnerResult([secs, secs], None) if secs is not None else ms.runner.RunnerResult(None, "failed")
               for secs in latencies]
    candidates = [SimpleNamespace(args_info=[f"args{i}"]) for i in range(len(latencies))]
    return candidates, builds, results


def test_the_best_candidates_build_is_kept_and_the_one_it_replaces_deleted() -> None:
    tuner = SimpleNamespace(key="k", best_secs=None)
    session = SimpleNamespace(best_artifacts=BestArtifacts(), task=lambda task_id: tuner)
    callback = RemoveBuildArtifacts()

    tuner.best_secs = 2e-3  # as ShareBestSchedules left it: the batch's best
    candidates, builds, results = _batch([3e-3, 2e-3, None])
    callback.apply(session, 0, candidates, builds, results)
    kept = session.best_artifacts.get("k")
    assert kept is not None and kept.path == builds[1].artifact_path and kept.args_info == ["args1"]
    assert os.path.exists(builds[1].artifact_path)
    assert not any(os.path.exists(os.path.dirname(b.artifact_path)) for b in (builds[0], builds[2]))

    # A batch that does not improve the kernel: all of it goes, the kept build stays.
    candidates, worse, results = _batch([4e-3])
    callback.apply(session, 0, candidates, worse, results)
    assert session.best_artifacts.get("k").path == builds[1].artifact_path
    assert not os.path.exists(os.path.dirname(worse[0].artifact_path))

    # A better one replaces it, and the replaced build is deleted.
    tuner.best_secs = 1e-3
    candidates, better, results = _batch([1e-3])
    callback.apply(session, 0, candidates, better, results)
    assert session.best_artifacts.get("k").path == better[0].artifact_path
    assert not os.path.exists(os.path.dirname(builds[1].artifact_path))

    session.best_artifacts.clear()
    assert len(session.best_artifacts) == 0 and not os.path.exists(os.path.dirname(better[0].artifact_path))


def test_near_front_keeps_what_a_margin_could_hide() -> None:
    def point(accuracy: float, latency_ms: float):
        return SimpleNamespace(accuracy=accuracy, latency_ms=latency_ms)

    front, close, far, worse = point(90, 1.0), point(89, 1.4), point(89, 1.6), point(91, 3.0)
    assert near_front([front, close, far, worse], margin=0.5) == [front, close, worse]
    assert near_front([front, close, far, worse], margin=0.0) == [front, worse]


@pytest.mark.slow
def test_a_latency_read_under_load_is_timed_again(tmp_path) -> None:
    """Real builds and runs: a kernel whose database latency reads 5× slow gets its own back,
    from the kept build, or from a rebuild of its record when nothing was kept (a resumed run)."""
    from tvm_nacos.analysis import search_space
    from tvm_nacos.cosearch.session import SearchSession
    from tvm_nacos.target import as_target

    mod = tvm_nacos.from_torch(example_supernet(), (example_input(),))
    before = _build_folders()
    session = SearchSession(mod, search_space(mod), accuracy=lambda samples: [0.0] * len(samples),
                            target=as_target(host_cpu(2)), work_dir=tmp_path, budget=64,
                            schedule_options=SMALL_SCHEDULE_SEARCH)
    try:
        sample = session.space.default_sample()
        session.tune_architecture_tasks(sample, 2)
        session.wait_all()
        keys = list(session.add(sample).weights)
        assert len(session.best_artifacts) == len(keys)
        tuned = {key: session.tuner(key).best_secs for key in keys}
        slowest = max(keys, key=tuned.get)
        session.tuner(slowest).best_secs = 5 * tuned[slowest]

        found = retime_kernels(session, keys)
        assert found is not None and found.kernels == len(keys) and found.rebuilt == 0
        assert found.slow_in_database >= 1
        assert session.tuner(slowest).best_secs < SLOW_IN_DATABASE * 2 * tuned[slowest]
        retimed = {key: session.tuner(key).best_secs for key in keys}

        # A build that no longer loads: that kernel keeps its figure, the others are re-timed.
        broken = keys[0]
        with open(session.best_artifacts.get(broken).path, "w") as library:
            library.write("not a library")
        session.tuner(broken).best_secs = 1.0
        partial = retime_kernels(session, keys)
        assert partial is not None and partial.kernels == len(keys) - 1 and session.tuner(broken).best_secs == 1.0
        session.tuner(broken).best_secs = retimed[broken]

        # A resumed run kept nothing: the database's best is built again and runs alike.
        session.best_artifacts.clear()
        again = retime_kernels(session, keys)
        assert again is not None and again.rebuilt == len(keys)
        for key in keys:
            assert session.tuner(key).best_secs == pytest.approx(retimed[key], rel=1.0)
    finally:
        session.close()
    # Kept and rebuilt artifacts alike are gone once the session is closed.
    assert len(session.best_artifacts) == 0 and _build_folders() <= before


def _build_folders() -> set[str]:
    return {name for name in os.listdir(tempfile.gettempdir()) if name.startswith("nacos-build")}
