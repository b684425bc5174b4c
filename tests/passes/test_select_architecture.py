"""SelectArchitecture: which architecture each rule picks, the specialized module, errors."""

from __future__ import annotations

import example_modules
import pytest
import tvm
from tvm import relax

from tvm_nacos.errors import SearchConfigError, WorkDirError
from tvm_nacos.passes import SelectArchitecture, SpecializeArch
from tvm_nacos.passes.select_architecture import select_point


def _point(arch_id: str, option: str, accuracy: float, latency_ms: float) -> dict:
    return {"arch_id": arch_id, "sample": {"block.kernel": option}, "accuracy": accuracy, "latency_ms": latency_ms}


#: A front over ``example_modules.one_kernel_choice`` (faster is less accurate), and a
#: dominated architecture the search also evaluated.
RESULT = {
    "pareto": [
        _point("id-identity", "identity", 0.70, 0.10),
        _point("id-k3", "k3", 0.85, 0.50),
        _point("id-k5", "k5", 0.90, 1.20),
    ],
    "evaluated": [_point("id-k5-slow", "k5", 0.80, 2.00)],
}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({}, "id-identity"),  # the fastest of the front, as `tvm-nacos compile`
        ({"prefer": "fastest"}, "id-identity"),
        ({"prefer": "most-accurate"}, "id-k5"),
        ({"min_accuracy": 0.8}, "id-k3"),
        ({"min_accuracy": 0.85}, "id-k3"),  # the bound is inclusive
        ({"min_accuracy": 0.8, "prefer": "most-accurate"}, "id-k5"),
        ({"max_latency_ms": 0.5, "prefer": "most-accurate"}, "id-k3"),
        ({"max_latency_ms": 0.49, "prefer": "most-accurate"}, "id-identity"),
        ({"min_accuracy": 0.8, "max_latency_ms": 1.0}, "id-k3"),
        ({"arch_id": "id-k5"}, "id-k5"),
        ({"arch_id": "id-k5-slow"}, "id-k5-slow"),  # evaluated, not on the front
    ],
)
def test_rules_pick(rule: dict, expected: str) -> None:
    assert select_point(RESULT, **rule)["arch_id"] == expected


def test_most_accurate_breaks_ties_by_latency() -> None:
    result = {"pareto": [_point("slow", "k5", 0.9, 2.0), _point("fast", "k3", 0.9, 1.0)]}
    assert select_point(result, prefer="most-accurate")["arch_id"] == "fast"


def test_bad_rules_name_the_valid_choices() -> None:
    with pytest.raises(SearchConfigError, match=r"prefer must be one of \['fastest', 'most-accurate'\], got 'small'"):
        select_point(RESULT, prefer="small")
    with pytest.raises(SearchConfigError, match=r"give an architecture id or constraints, not both"):
        select_point(RESULT, arch_id="id-k3", min_accuracy=0.5)
    with pytest.raises(
        SearchConfigError,
        match=r"no architecture of the front has accuracy >= 0.95 and latency <= None ms; the front's 3 "
        r"architectures span accuracy 0.7..0.9 and latency 0.1..1.2 ms",
    ):
        select_point(RESULT, min_accuracy=0.95)
    with pytest.raises(WorkDirError, match=r"no architecture 'nope' in this search; the front has \['id-identity'"):
        select_point(RESULT, arch_id="nope")
    with pytest.raises(SearchConfigError, match="the front is empty"):
        select_point({"pareto": [], "evaluated": []})


class TestSelectMostAccurateWithinBudget:
    before = example_modules.one_kernel_choice()
    expected = example_modules.one_kernel_choice_specialized("k3")

    def test_structure(self) -> None:
        select = SelectArchitecture(RESULT, max_latency_ms=1.0, prefer="most-accurate")
        assert dict(select.sample) == {"block.kernel": "k3"} and select.point["arch_id"] == "id-k3"
        after = select(self.before)
        relax.analysis.well_formed(after)
        tvm.ir.assert_structural_equal(after, self.expected)
        tvm.ir.assert_structural_equal(after, SpecializeArch({"block.kernel": "k3"})(self.before))

    def test_composes_in_sequential_and_keeps_its_input(self) -> None:
        before_copy = example_modules.one_kernel_choice()
        seq = tvm.transform.Sequential([SelectArchitecture(RESULT, prefer="most-accurate"),
                                        relax.transform.LegalizeOps()])
        after = seq(self.before)
        assert any(isinstance(f, tvm.tirx.PrimFunc) for f in after.functions.values())
        tvm.ir.assert_structural_equal(self.before, before_copy)


def test_picks_before_it_runs() -> None:
    # A rule that picks nothing fails when the pass is made, not inside tvm.compile.
    with pytest.raises(SearchConfigError, match="no architecture of the front"):
        SelectArchitecture(RESULT, max_latency_ms=0.01)
