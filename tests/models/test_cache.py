"""Built-in supernets kept on disk: a process loads what an earlier one built."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import tvm
from tvm import relax

from tvm_nacos._compat import structural_equal
from tvm_nacos.models import cache


def _space(name: str = "tiny", **options) -> SimpleNamespace:
    return SimpleNamespace(name=name, options=lambda: dict(options))


def _module(width: int = 4) -> tvm.IRModule:
    x = relax.Var("x", relax.TensorType((1, width), "float32"))
    builder = relax.BlockBuilder()
    with builder.function("main", [x]):
        builder.emit_func_output(builder.emit(relax.op.nn.relu(x)))
    return builder.get()


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path / "supernets"))
    return tmp_path / "supernets"


def test_a_saved_supernet_loads_as_it_was(folder) -> None:
    space, mod = _space(resolution=32), _module()
    assert cache.load(space, 0) is None  # nothing built yet
    path = cache.save(space, 0, mod)
    assert path is not None and path.parent == folder and path.name.startswith("tiny-")
    assert structural_equal(cache.load(space, 0), mod)
    # Another seed or other options are other supernets.
    assert cache.load(space, 1) is None and cache.load(_space(resolution=64), 0) is None


def test_a_change_of_code_builds_again(folder, monkeypatch) -> None:
    space = _space()
    cache.save(space, 0, _module())
    monkeypatch.setattr(cache, "code_digest", lambda: "another version of the code")
    assert cache.load(space, 0) is None


def test_a_damaged_file_is_built_again(folder, caplog) -> None:
    space = _space()
    path = cache.save(space, 0, _module())
    path.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="tvm_nacos.models.cache"):
        assert cache.load(space, 0) is None
    assert "building it again" in caplog.text


def test_off_keeps_nothing(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(cache.CACHE_DIR_ENV, "off")
    assert cache.cache_dir() is None
    assert cache.save(_space(), 0, _module()) is None and cache.load(_space(), 0) is None


def test_the_folder_keeps_the_newest(folder) -> None:
    for width in range(cache.MAX_FILES + 3):
        cache.save(_space(f"s{width}"), 0, _module(width + 1))
    kept = sorted(p.name.split("-")[0] for p in folder.glob("*.json"))
    assert len(kept) == cache.MAX_FILES and "s0" not in kept and f"s{cache.MAX_FILES + 2}" in kept


def test_a_new_process_loads_the_builtin_supernet_without_importing_it(nb201_module, monkeypatch) -> None:
    """The session built nas-bench-201 once: with the process's own copy forgotten, ``ir_module``
    reads the session's cache folder instead of importing from PyTorch."""
    from tvm_nacos import models
    from tvm_nacos.search_space import get

    def no_import(*args, **kwargs):
        raise AssertionError("the supernet was imported again")

    monkeypatch.setattr(models, "_BUILT", type(models._BUILT)())
    monkeypatch.setattr("tvm_nacos.frontend.torch.from_torch", no_import)
    assert structural_equal(get("nas-bench-201").ir_module(), nb201_module)
