"""Shared test configuration.

Importing this file puts ``tests/`` on ``sys.path`` (pytest's prepend import mode), so test
modules can ``import example_modules``.
"""

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: every random choice in a test is reproducible."""
    return np.random.default_rng(0)
