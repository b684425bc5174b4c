"""The extraction cache: a later search in the same work directory takes each architecture's
kernels from disk instead of lowering it again, and gets the same task pool."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tuning_helpers import host_cpu

import tvm_nacos
from tvm_nacos._compat import structural_equal
from tvm_nacos.analysis import search_space
from tvm_nacos.cosearch.session import SearchSession
from tvm_nacos.examples import example_input, example_supernet
from tvm_nacos.passes import RestrictChoices
from tvm_nacos.target import as_target
from tvm_nacos.testing.fake import DeterministicBuilder, DeterministicRunner
from tvm_nacos.tuning import tasks as tasks_module

TARGET = as_target(host_cpu(2))


@pytest.fixture(scope="module")
def supernet() -> tvm.IRModule:
    return tvm_nacos.from_torch(example_supernet(), (example_input(),))


def _session(mod: tvm.IRModule, work_dir) -> SearchSession:
    return SearchSession(mod, search_space(mod), accuracy=lambda samples: [1.0] * len(samples), target=TARGET,
                         work_dir=work_dir, budget=8, builder=DeterministicBuilder(), runner=DeterministicRunner())


def _pool(session: SearchSession) -> dict:
    return {s: session.pool.architecture(s).weights for s in session.pool.architectures}


def test_a_later_search_takes_the_kernels_from_disk_and_gets_the_same_pool(supernet, tmp_path, monkeypatch) -> None:
    space = search_space(supernet)
    samples = list({s.id: s for s in (space.sample(np.random.default_rng(i)) for i in range(6))}.values())
    first = _session(supernet, tmp_path)
    for sample in samples:
        first.add(sample)
    first.close()
    assert len(first.extraction_cache) == len(samples) and first.extraction_cache.hits == 0

    lowered = []
    monkeypatch.setattr(SearchSession, "lowered", lambda self, sample: lowered.append(sample.id))
    second = _session(supernet, tmp_path)
    for sample in samples:
        second.add(sample)
    second.close()
    assert not lowered and second.extraction_cache.hits == len(samples)  # nothing lowered again
    assert _pool(second) == _pool(first)
    assert [t.key for t in second.pool.tasks] == [t.key for t in first.pool.tasks]
    assert all(structural_equal(a.mod, b.mod) for a, b in zip(first.pool.tasks, second.pool.tasks, strict=True))
    monkeypatch.undo()

    # Another module (fewer choices) has a cache of its own; a damaged kernel file means lowering again.
    restricted = RestrictChoices({"block1.op": ["conv3x3"]})(supernet)
    assert _session(restricted, tmp_path).extraction_cache.directory != first.extraction_cache.directory
    for path in (first.extraction_cache.directory / "kernels").glob("*.json"):
        path.write_text("{not json")
    calls = []
    real = tasks_module.extract_tasks
    monkeypatch.setattr(tasks_module, "extract_tasks", lambda *a: calls.append(1) or real(*a))
    third = _session(supernet, tmp_path)
    third.add(samples[0])
    third.close()
    assert calls and third.extraction_cache.hits == 0
