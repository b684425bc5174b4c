"""Shared test configuration: the slow-test switch and the session-wide networks.

Importing this file puts ``tests/`` on ``sys.path`` (pytest's prepend import mode), so test
modules can ``import example_modules``.

``TVM_NACOS_SKIP_SLOW=1 pytest`` skips the tests marked ``slow`` (as ``SKIP_SLOW_TESTS`` does for
``tvm.testing.slow``); CI leaves it unset and runs them.

Built-in supernets are kept on disk between processes (``tvm_nacos.models.cache``): the
session keeps them in a temporary folder of its own (``TVM_NACOS_CACHE_DIR``, inherited by the
command lines and tutorials the tests start), never in the user's cache.

Building a network's IR is the costliest setup of the suite (the NAS-Bench-201 supernet takes
minutes), so each is built once per session by a fixture here and shared by every module that
uses it. The modules are shared, not copied: a test must not change one in place (passes return
new modules); each fixture checks at the end of the session that its module is unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

pytest_plugins = ["pytester"]


def pytest_configure(config: pytest.Config) -> None:
    """A supernet cache folder and a temporary folder for this session, removed at its end.

    The temporary folder (``TMPDIR``, inherited by builder and runner workers, command lines and
    RPC servers) collects what tests build outside a search (a search deletes its candidates'
    artifacts; a test that builds with a builder directly does not). pytest's own ``tmp_path``
    folders stay where they were (``PYTEST_DEBUG_TEMPROOT``), kept for a failure's inspection.
    """
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="tvm-nacos-test-cache-")
    os.environ["TVM_NACOS_CACHE_DIR"] = folder
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir())
    scratch = tempfile.mkdtemp(prefix="tvm-nacos-tests-")
    os.environ["TMPDIR"] = scratch
    tempfile.tempdir = scratch
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)

#: The environment switch that skips the tests marked ``slow``.
SKIP_SLOW_ENV = "TVM_NACOS_SKIP_SLOW"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def _skip_slow() -> bool:
    """Whether :data:`SKIP_SLOW_ENV` asks to skip the slow tests.

    Raises
    ------
    pytest.UsageError
        If its value is neither true nor false (the message lists both).
    """
    value = os.environ.get(SKIP_SLOW_ENV, "").strip().lower()
    if value not in _TRUE + _FALSE:
        raise pytest.UsageError(
            f"{SKIP_SLOW_ENV}={os.environ[SKIP_SLOW_ENV]!r} is neither true {list(_TRUE)} nor false {list(_FALSE)}"
        )
    return value in _TRUE


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests marked ``slow`` when :data:`SKIP_SLOW_ENV` is set (a local, quicker run)."""
    if not _skip_slow():
        return
    skip = pytest.mark.skip(reason=f"slow test; unset {SKIP_SLOW_ENV} to run it (CI runs it)")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: every random choice in a test is reproducible."""
    return np.random.default_rng(0)


def _shared(build: Callable[[], Any]) -> Iterator[Any]:
    """Yield ``build()``; after the session, fail if a test changed it in place."""
    from tvm_nacos._compat import structural_hash

    mod = build()
    before = structural_hash(mod)
    yield mod
    assert structural_hash(mod) == before, "a test changed a session-wide IRModule in place"


@pytest.fixture(scope="session")
def supernet() -> Iterator[Any]:
    """The Relax IR of :func:`tvm_nacos.examples.example_supernet` (on :func:`~tvm_nacos.examples.example_input`)."""
    import tvm_nacos
    from tvm_nacos.examples import example_input, example_supernet

    yield from _shared(lambda: tvm_nacos.from_torch(example_supernet(), (example_input(),)))


@pytest.fixture(scope="session")
def nb201_module() -> Iterator[Any]:
    """The Relax IR of the ``nas-bench-201`` supernet, seed 0 (minutes to build: build it once)."""
    from tvm_nacos.search_space import get

    yield from _shared(lambda: get("nas-bench-201").ir_module())
