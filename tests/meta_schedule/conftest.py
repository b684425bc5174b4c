"""Fixtures of the MetaSchedule tests ported from apache/tvm.

- The tensor intrinsics of the CPU only: ``TuneContext`` imports TVM's whole tensor-intrinsics
  package otherwise (~25-60 s here, mostly CUDA ones these tests never use).
- MetaSchedule's logger as the test found it. ``ms.tune_*`` configures the
  ``tvm.s_tir.meta_schedule`` logger with ``logging.config.dictConfig``, listing every handler
  that logger already holds by name. Under pytest 9 it also holds pytest's ``LogCaptureHandler``s
  (no name), so the next test's tuning call fails in MetaSchedule's ``_parameterize_config``
  (``'NoneType' object has no attribute 'format'``).
- One builder and one runner for every tuning call of the session (:func:`measurement`), as in
  a user's long tuning run: each call does not pay for starting worker processes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from strategies import TARGET

from tvm_nacos.tuning.builder import PersistentBuilder
from tvm_nacos.tuning.intrin import register_tensor_intrinsics
from tvm_nacos.tuning.runner import MeasureConfig, make_runner, shutdown_runner

META_SCHEDULE_LOGGER = "tvm.s_tir.meta_schedule"


@pytest.fixture(scope="session", autouse=True)
def _cpu_tensor_intrinsics() -> None:
    register_tensor_intrinsics(TARGET)


@pytest.fixture(scope="session")
def measurement() -> Iterator[tuple[PersistentBuilder, object]]:
    """The builder (tvm-nacos's ``PersistentBuilder``, one worker per core) and the runner (times
    each candidate once) that the tuning calls of the ported tests share."""
    builder = PersistentBuilder()
    runner = make_runner("local", measure=MeasureConfig(number=1, repeat=1, min_repeat_ms=0))
    yield builder, runner
    builder.shutdown()
    shutdown_runner(runner)


@pytest.fixture(autouse=True)
def _fresh_meta_schedule_logger() -> Iterator[None]:
    logger = logging.getLogger(META_SCHEDULE_LOGGER)
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    for handler in logger.handlers:
        if handler not in saved[0]:
            logger.removeHandler(handler)
            handler.close()
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]
