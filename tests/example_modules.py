"""Small Relax modules with choice points, and the modules their specializations must equal.

Built with a BlockBuilder and fixed constants, so that a test can state the expected module
independently of the pass under test.
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax

from tvm_nacos.ir import add_choice_point, emit_choice

SHAPE = (1, 4, 8, 8)
_RNG = np.random.default_rng(42)
WEIGHTS = {
    "k3": _RNG.standard_normal((4, 4, 3, 3)).astype("float32"),
    "k5": _RNG.standard_normal((4, 4, 5, 5)).astype("float32"),
}


def _tensor(shape=SHAPE, dtype="float32") -> relax.TensorType:
    return relax.TensorType(shape, dtype)


def conv_option(kernel: str) -> relax.Function:
    """x → conv2d(x, W_kernel) with 'same' padding."""
    weight = WEIGHTS[kernel]
    pad = weight.shape[-1] // 2
    bb = relax.BlockBuilder()
    x = relax.Var("x", _tensor())
    with bb.function("f", [x], private=True):
        with bb.dataflow():
            out = bb.emit_output(relax.op.nn.conv2d(x, relax.const(weight), padding=[pad] * 4))
        bb.emit_func_output(out)
    return bb.get()["f"]


def identity_option() -> relax.Function:
    """x → x."""
    bb = relax.BlockBuilder()
    x = relax.Var("x", _tensor())
    with bb.function("f", [x], private=True):
        bb.emit_func_output(x)
    return bb.get()["f"]


def _main(body) -> tvm.IRModule:
    bb = relax.BlockBuilder()
    x = relax.Var("x", _tensor())
    with bb.function("main", [x]):
        with bb.dataflow():
            y = body(bb, x)
            out = bb.emit_output(relax.op.nn.relu(y))
        bb.emit_func_output(out)
    return bb.get()


def one_kernel_choice() -> tvm.IRModule:
    """main(x) = relu(choice 'block.kernel' ∈ {k3, k5, identity}(x))."""
    options = {"k3": conv_option("k3"), "k5": conv_option("k5"), "identity": identity_option()}
    return _main(lambda bb, x: emit_choice(bb, "block.kernel", options, [x]))


def one_kernel_choice_specialized(option: str) -> tvm.IRModule:
    """What SpecializeArch({'block.kernel': option}) must give for :func:`one_kernel_choice`."""

    def body(bb, x):
        if option == "identity":
            return x
        weight = WEIGHTS[option]
        pad = weight.shape[-1] // 2
        return bb.emit(relax.op.nn.conv2d(x, relax.const(weight), padding=[pad] * 4))

    return _main(body)


def nested_depth_choice() -> tvm.IRModule:
    """'block.depth' ∈ {keep, skip}; 'block.kernel' ∈ {k3, k5} exists only inside 'keep'."""
    bb = relax.BlockBuilder()
    kernel_stub = add_choice_point(bb, "block.kernel", {"k3": conv_option("k3"), "k5": conv_option("k5")})
    x = relax.Var("x", _tensor())
    keep_builder = relax.BlockBuilder()
    with keep_builder.function("keep", [x], private=True):
        with keep_builder.dataflow():
            y = keep_builder.emit(relax.Call(kernel_stub, [x]))
            out = keep_builder.emit_output(relax.op.add(y, x))
        keep_builder.emit_func_output(out)
    keep = keep_builder.get()["keep"]
    depth_stub = add_choice_point(bb, "block.depth", {"keep": keep, "skip": identity_option()})
    x = relax.Var("x", _tensor())
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.Call(depth_stub, [x]))
            out = bb.emit_output(relax.op.nn.relu(y))
        bb.emit_func_output(out)
    return bb.get()


def nested_depth_specialized(depth: str, kernel: str | None = None) -> tvm.IRModule:
    """What SpecializeArch must give for :func:`nested_depth_choice`."""

    def body(bb, x):
        if depth == "skip":
            return x
        weight = WEIGHTS[kernel]
        pad = weight.shape[-1] // 2
        y = bb.emit(relax.op.nn.conv2d(x, relax.const(weight), padding=[pad] * 4))
        return bb.emit(relax.op.add(y, x))

    return _main(body)


def tiny_supernet():
    """A PyTorch supernet of a user's own: one ``Choice`` between a 1x1 and a 3x3 convolution
    (two architectures), seeded weights, and an input."""
    import torch
    from torch import nn

    from tvm_nacos.frontend.torch import Choice

    class TinySupernet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 4, 3, padding=1)
            self.block = Choice("block.kernel", {"k1": nn.Conv2d(4, 4, 1), "k3": nn.Conv2d(4, 4, 3, padding=1)})
            self.head = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.block(torch.relu(self.stem(x))))
            return self.head(x.mean(dim=(2, 3)))

    generator = torch.Generator().manual_seed(0)
    model = TinySupernet()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
    return model.eval(), torch.randn(1, 3, 8, 8, generator=generator)
