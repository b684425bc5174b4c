"""The architecture strategies are a registry: names, options, lazy loading, your own."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tvm_nacos.cosearch import strategies
from tvm_nacos.errors import SearchConfigError


def test_builtin_strategies_load_and_list_their_options() -> None:
    assert strategies.strategy_names()[0] == "joint"
    assert set(strategies.strategy_names()) >= {"joint", "two-stage", "random", "exhaustive"}
    from tvm_nacos.cosearch.strategies.joint import run_joint

    assert strategies.get_strategy("joint") is run_joint
    assert "finish_fraction" in strategies.strategy_options("joint")
    assert strategies.strategy_options("two-stage") == ["num_candidates", "proxy", "trials_per_task"]


def test_unknown_strategy_names_the_valid_ones() -> None:
    with pytest.raises(SearchConfigError, match=r"unknown strategy 'greedy'; valid: \['exhaustive', 'joint'"):
        strategies.get_strategy("greedy")


def test_a_registered_strategy_is_found_and_a_name_is_not_taken_twice() -> None:
    def run_first_only(session, *, width: int = 1):
        return []

    strategies.register_strategy("first-only", run_first_only)
    try:
        assert strategies.get_strategy("first-only") is run_first_only
        assert strategies.strategy_options("first-only") == ["width"]
        with pytest.raises(SearchConfigError, match="already registered"):
            strategies.register_strategy("first-only", run_first_only)
    finally:
        strategies._REGISTRY.pop("first-only")


def test_listing_the_names_imports_no_tvm() -> None:
    # The command line builds its --strategy choices from the registry before anything heavy loads.
    code = "import sys; from tvm_nacos.cosearch.strategies import strategy_names; strategy_names(); print('tvm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
