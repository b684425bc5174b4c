"""Hypothesis strategies for architectures, and the settings of the property tests on real spaces."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tvm_nacos.search_space import ArchSample, SearchSpace


def arch_samples(space: SearchSpace) -> st.SearchStrategy[ArchSample]:
    """Architectures of ``space``: an option for every label, inactive ones then dropped.

    Every label gets a drawn option, so hypothesis shrinks a failing architecture towards each
    choice's first option.
    """
    return st.fixed_dictionaries({c.label: st.sampled_from(c.options) for c in space.choices}).map(space.canonicalize)


def few_examples(max_examples: int) -> settings:
    """Few examples, the same ones in every run (CI stays stable), no time limit per example.

    Each example compiles or runs a whole network, so the example database is off: a failure is
    reproduced by the derandomized run itself, not by a file left in ``.hypothesis/``.
    """
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
