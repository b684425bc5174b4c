"""RestrictChoices: a subspace of a module's space, as a module with choice points."""

from __future__ import annotations

import pytest
import tvm
import tvm_ffi
from tvm import relax

from tvm_nacos.analysis import search_space
from tvm_nacos.errors import InvalidSampleError
from tvm_nacos.examples import example_input
from tvm_nacos.ir.choice import find_choice_points
from tvm_nacos.passes import CheckChoicePoints, RestrictChoices, SpecializeArch


@pytest.mark.parametrize(
    "kept,labels,size",
    [
        ({"block1.op": ["dwsep3x3", "conv3x3"]}, ["block1.op", "block2.depth", "block2.kernel"], 6),
        ({"block2.depth": ["skip"]}, ["block1.op"], 3),  # the nested kernel choice goes with it
        ({"block2.depth": ["keep"]}, ["block1.op", "block2.kernel"], 6),  # ... or becomes unconditional
        ({"block1.op": ["conv5x5"], "block2.kernel": ["k5"]}, ["block2.depth"], 2),
    ],
)
def test_subspace_architectures_are_the_full_spaces(supernet, kept, labels: list[str], size: int) -> None:
    sub = RestrictChoices(kept)(supernet)
    CheckChoicePoints()(sub)
    space = search_space(sub)
    assert list(space.labels) == labels and space.size == size
    for label, options in kept.items():
        if len(options) > 1:  # the module's order, not the caller's
            assert space.options(label) == tuple(o for o in search_space(supernet).options(label) if o in options)
    fixed = {label: options[0] for label, options in kept.items() if len(options) == 1}
    for sample in space.enumerate():
        assert tvm_ffi.structural_equal(SpecializeArch(sample)(sub), SpecializeArch({**fixed, **sample})(supernet))


def test_dropped_default_moves_and_the_restricted_module_runs(supernet) -> None:
    sub = RestrictChoices({"block1.op": ["conv5x5", "dwsep3x3"]})(supernet)
    assert search_space(sub)["block1.op"].default == "conv5x5"
    assert relax.analysis.check_well_formed(sub)
    names = {gv.name_hint for gv in sub.get_global_vars()}
    assert not any("conv3x3" in name and "block1" in name for name in names)  # the dropped option is gone
    # Unspecialized, the module runs its defaults, like any module with choice points.
    ex = tvm.compile(sub, target=tvm.target.Target({"kind": "llvm"}))
    out = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(example_input().numpy())).numpy()
    reference = tvm.compile(SpecializeArch(search_space(sub).default_sample())(sub), target=tvm.target.Target({"kind": "llvm"}))
    expected = relax.VirtualMachine(reference, tvm.cpu())["main"](tvm.runtime.tensor(example_input().numpy())).numpy()
    assert (out == expected).all()


@pytest.mark.parametrize(
    "kept,message",
    [
        ({"block9.op": ["conv3x3"]}, r"no choice 'block9.op'; valid: \['block1.op', 'block2.depth', 'block2.kernel'\]"),
        ({"block1.op": ["conv7x7"]}, r"no option 'conv7x7'; valid: \['conv3x3', 'conv5x5', 'dwsep3x3'\]"),
        ({"block1.op": []}, r"would keep no option; valid: \['conv3x3', 'conv5x5', 'dwsep3x3'\]"),
    ],
)
def test_bad_restrictions_name_the_valid_choices(supernet, kept, message: str) -> None:
    with pytest.raises(InvalidSampleError, match=message):
        RestrictChoices(kept)(supernet)
    assert len(find_choice_points(supernet)) == 3  # the input is untouched
