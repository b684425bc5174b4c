"""PyTorch front end: Choice modules become choice points whose specializations match eager PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import tvm
from torch import nn
from tvm import relax

import tvm_nacos
from tvm_nacos.analysis import search_space
from tvm_nacos.errors import ChoicePointError, InvalidSampleError, UnsupportedModelError
from tvm_nacos.examples import example_input, example_supernet
from tvm_nacos.frontend.torch import Choice, apply_sample, torch_search_space
from tvm_nacos.ir import find_choice_points
from tvm_nacos.passes import SpecializeArch


def test_choice_points_follow_choice_modules(supernet: tvm.IRModule) -> None:
    space = search_space(supernet)
    assert space.labels == ("block1.op", "block2.depth", "block2.kernel")
    assert space.options("block1.op") == ("conv3x3", "conv5x5", "dwsep3x3")
    assert space["block2.kernel"].condition.label == "block2.depth"
    assert space.size == 9
    assert space == torch_search_space(example_supernet())


def test_every_specialization_matches_pytorch(supernet: tvm.IRModule) -> None:
    """Numeric equivalence over ALL architectures of the example space, compiled for llvm."""
    target = tvm_nacos.host_target()
    x = example_input(seed=3)
    samples = list(search_space(supernet).enumerate())
    assert len(samples) == 9
    outputs = []
    for sample in samples:
        specialized = SpecializeArch(sample)(supernet)
        assert find_choice_points(specialized) == []
        ex = tvm.compile(specialized, target=target, relax_pipeline=relax.get_default_pipeline(target))
        out = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x.numpy())).numpy()
        with torch.no_grad():
            reference = apply_sample(example_supernet(), sample)(x).numpy()
        np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-4, err_msg=str(sample))
        outputs.append(out)
    # The architectures really differ: no two give the same output.
    assert len({o.tobytes() for o in outputs}) == len(samples)


def test_weights_are_kept_as_constants(supernet: tvm.IRModule) -> None:
    main = supernet["main"]
    assert len(main.params) == 1  # only the input: weights are constants
    option = supernet["choice__block1_op__conv5x5"]
    consts = []
    relax.analysis.post_order_visit(option.body, lambda e: consts.append(e) if isinstance(e, tvm.ir.GenericConst) else None)
    weights = example_supernet().block1.options["conv5x5"][0].weight.detach().numpy()
    assert any(c.value.numpy().shape == weights.shape and np.array_equal(c.value.numpy(), weights) for c in consts)


def test_apply_sample_selects_and_validates() -> None:
    model = apply_sample(example_supernet(), {"block1.op": "conv5x5", "block2.depth": "skip"})
    assert model.block1.active == "conv5x5" and model.block2.active == "skip"
    assert model.block2.options["keep"].active == "k3"  # inactive: its default
    with pytest.raises(InvalidSampleError, match=r"conv7x7.*conv3x3.*conv5x5.*dwsep3x3"):
        apply_sample(example_supernet(), {"block1.op": "conv7x7", "block2.depth": "skip"})
    with pytest.raises(InvalidSampleError, match=r"block9.*block1\.op"):
        apply_sample(example_supernet(), {"block9": "x", "block1.op": "conv3x3", "block2.depth": "skip"})
    with pytest.raises(InvalidSampleError, match=r"block2\.depth"):
        apply_sample(example_supernet(), {"block1.op": "conv3x3"})


def test_choice_module_arguments() -> None:
    with pytest.raises(ChoicePointError, match=r"'c' has 1 option"):
        Choice("c", {"a": nn.Identity()})
    with pytest.raises(ChoicePointError, match=r"not non-empty strings"):
        Choice("c", {"": nn.Identity(), "b": nn.Identity()})
    with pytest.raises(ChoicePointError, match=r"default 'z'"):
        Choice("c", {"a": nn.Identity(), "b": nn.Identity()}, default="z")


def test_option_names_may_be_any_string() -> None:
    # A benchmark that numbers its options, kernel sizes written as "3x3", names with dots or
    # names PyTorch reserves ("train"): each reaches the space and its specialization as given.
    names = ["0", "3x3", "k=5.0", "train", "k_5_0"]

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = Choice("c", {n: nn.Conv2d(3, 4, 3, padding=1) for n in names})

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.c(x)

    net, x = Net().eval(), torch.randn(1, 3, 8, 8)
    assert len(set(net.c.options.keys())) == len(names) and "0" in net.c.options  # valid keys stay as they are
    mod = tvm_nacos.from_torch(net, (x,))
    space = search_space(mod)
    assert space.options("c") == tuple(names)
    target = tvm_nacos.host_target()
    for name in names:
        specialized = SpecializeArch({"c": name})(mod)
        ex = tvm.compile(specialized, target=target, relax_pipeline=relax.get_default_pipeline(target))
        out = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x.numpy())).numpy()
        with torch.no_grad():
            np.testing.assert_allclose(out, net.c.option(name)(x).numpy(), rtol=1e-4, atol=1e-4, err_msg=name)
    with pytest.raises(ChoicePointError, match=r"no option 'k5'; valid: \['0', '3x3'"):
        net.c.option("k5")


def test_options_with_different_output_shapes_are_named() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = Choice("c", {"same": nn.Conv2d(3, 4, 3, padding=1), "shrink": nn.Conv2d(3, 4, 3)})

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.c(x)

    with pytest.raises(ChoicePointError, match=r"'c'.*'shrink'") as info:
        tvm_nacos.from_torch(Net(), (torch.randn(1, 3, 8, 8),))
    assert info.value.option == "shrink"


def test_duplicate_labels_in_torch_model() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = Choice("c", {"x": nn.ReLU(), "y": nn.Identity()})
            self.b = Choice("c", {"x": nn.ReLU(), "y": nn.Identity()})

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(self.a(x))

    with pytest.raises(ChoicePointError, match=r"duplicate choice label 'c'"):
        tvm_nacos.from_torch(Net(), (torch.randn(1, 3),))
    with pytest.raises(ChoicePointError, match=r"duplicate choice label 'c'"):
        torch_search_space(Net())


def test_unsupported_op_is_named() -> None:
    @torch.library.custom_op("nacos_test::mystery", mutates_args=())
    def mystery(x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @mystery.register_fake
    def _(x: torch.Tensor) -> torch.Tensor:
        return torch.empty_like(x)

    class Net(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return mystery(x) + 1

    with pytest.raises(UnsupportedModelError, match=r"mystery"):
        tvm_nacos.from_torch(Net(), (torch.randn(2, 2),))


def test_import_restores_training_mode() -> None:
    model = example_supernet().train()
    tvm_nacos.from_torch(model, (example_input(),))
    assert model.training


def test_shared_label_at_two_sites_of_different_width() -> None:
    def option_set(c: int) -> dict:
        return {"conv": nn.Conv2d(c, c, 3, padding=1), "pool": nn.AvgPool2d(3, 1, 1), "skip": nn.Identity()}

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = Choice("edge", option_set(3), site="narrow")
            self.widen = nn.Conv2d(3, 6, 1)
            self.b = Choice("edge", option_set(6), site="wide")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(self.widen(self.a(x)))

    x = torch.randn(1, 3, 8, 8)
    mod = tvm_nacos.from_torch(Net().eval(), (x,))
    space = search_space(mod)
    assert space.labels == ("edge",) and space.size == 3
    assert space == torch_search_space(Net())
    torch.manual_seed(0)
    net = Net().eval()
    mod = tvm_nacos.from_torch(net, (x,))
    target = tvm.target.Target({"kind": "llvm"})
    for sample in space.enumerate():
        ex = tvm.compile(SpecializeArch(sample)(mod), target=target)
        out = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x.numpy())).numpy()
        with torch.no_grad():
            reference = apply_sample(net, sample)(x).numpy()
        assert net.a.active == net.b.active == sample["edge"]
        np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-4)


def test_listing_pytorch_ops_once_per_import_changes_nothing(supernet: tvm.IRModule, monkeypatch) -> None:
    """The import lists PyTorch's CompositeImplicitAutograd ops once, not per exported option:
    the module is the same as with PyTorch listing them every time, and the listing is restored."""
    import contextlib

    import torch._export.utils
    import torch.export.exported_program

    from tvm_nacos._compat import structural_equal
    from tvm_nacos.frontend import torch as frontend

    original = torch.export.exported_program._collect_all_valid_cia_ops
    assert original is torch._export.utils._collect_all_valid_cia_ops
    monkeypatch.setattr(frontend, "_cia_ops_collected_once", contextlib.nullcontext)
    every_time = tvm_nacos.from_torch(example_supernet(), (example_input(),))
    assert structural_equal(supernet, every_time)
    assert torch.export.exported_program._collect_all_valid_cia_ops is original
