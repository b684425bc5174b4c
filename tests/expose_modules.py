"""Minimal modules for the tests of the expose passes, the modules they must become, and helpers.

Before modules are built with a BlockBuilder and fixed weights; Expected modules are built
independently of the passes: each option by hand, the choice point with
:func:`tvm_nacos.ir.add_choice_point`, new weights with the documented
``he_normal(option_rng(seed, label, option), ...)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import tvm
from tvm import relax

from tvm_nacos.ir import add_choice_point
from tvm_nacos.passes.expose_base import ATTR_EXPOSED_NAMES, he_normal, option_rng

SHAPE = (1, 4, 8, 8)
_RNG = np.random.default_rng(7)
W3 = _RNG.standard_normal((4, 4, 3, 3)).astype("float32")  # conv 4 -> 4, 3x3
W_WIDE = _RNG.standard_normal((8, 4, 3, 3)).astype("float32")  # conv 4 -> 8
B_WIDE = _RNG.standard_normal((8,)).astype("float32")
W_BACK = _RNG.standard_normal((4, 8, 3, 3)).astype("float32")  # conv 8 -> 4
BN = [_RNG.standard_normal((8,)).astype("float32") for _ in range(3)] + [
    (_RNG.random((8,)) + 0.5).astype("float32")
]  # gamma, beta, mean, var
W_DW = _RNG.standard_normal((8, 1, 3, 3)).astype("float32")  # depthwise 8
W_PROJECT = _RNG.standard_normal((4, 8, 1, 1)).astype("float32")  # 1x1 8 -> 4

Body = Callable[[relax.BlockBuilder, relax.Var], relax.Expr]


def tensor(shape: Sequence[int] = SHAPE) -> relax.TensorType:
    return relax.TensorType(tuple(shape), "float32")


def module(body: Body, shape: Sequence[int] = SHAPE) -> tvm.IRModule:
    """``main(x) = body(x)`` in one dataflow block (the body's last expression is the output)."""
    bb = relax.BlockBuilder()
    x = relax.Var("x", tensor(shape))
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(body(bb, x))
        bb.emit_func_output(out)
    return bb.get()


def option(body: Body, shape: Sequence[int] = SHAPE) -> relax.Function:
    """A private option function ``x -> body(x)``."""
    return module(body, shape)["main"].without_attr("global_symbol")


def with_choice(
    label: str,
    options: Mapping[str, relax.Function],
    exposed_names: Sequence[str],
    main_body: Callable[[relax.BlockBuilder, relax.Var, tvm.ir.GlobalVar], relax.Expr],
    shape: Sequence[int] = SHAPE,
) -> tvm.IRModule:
    """What an expose pass must produce: one choice point (default ``original``) and ``main``."""
    bb = relax.BlockBuilder()
    stub = add_choice_point(bb, label, options, default="original")
    bb.update_func(stub, bb.get()[stub].with_attrs({ATTR_EXPOSED_NAMES: list(exposed_names)}))
    x = relax.Var("x", tensor(shape))
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(main_body(bb, x, stub))
        bb.emit_func_output(out)
    return bb.get()


def conv(data: relax.Expr, weight: np.ndarray, **kwargs) -> relax.Expr:
    return relax.op.nn.conv2d(data, relax.const(weight), **kwargs)


def new_weight(label: str, option_name: str, shape: Sequence[int], fan_in: int, seed: int = 0) -> np.ndarray:
    """The first weight an option draws (see ``tvm_nacos.passes.expose_base``)."""
    return he_normal(option_rng(seed, label, option_name), shape, fan_in=fan_in)


# ----------------------------------------------------------------------------------------------
# Before modules.


def conv_relu() -> tvm.IRModule:
    """main(x) = relu(conv3x3(x)), 4 -> 4 channels."""
    return module(lambda bb, x: relax.op.nn.relu(bb.emit(conv(x, W3, padding=[1, 1, 1, 1]))))


def conv_relu_expected(label: str, options: Mapping[str, relax.Function], op_name: str = "conv0") -> tvm.IRModule:
    """:func:`conv_relu` with the conv replaced by a choice point."""
    original = option(lambda bb, x: conv(x, W3, padding=[1, 1, 1, 1]))
    return with_choice(
        label,
        {"original": original, **options},
        [op_name],
        lambda bb, x, stub: relax.op.nn.relu(bb.emit(relax.Call(stub, [x]))),
    )


def residual_block() -> tvm.IRModule:
    """main(x) = relu(x + relu(conv(x)))."""

    def body(bb: relax.BlockBuilder, x: relax.Var) -> relax.Expr:
        y = bb.emit(relax.op.nn.relu(bb.emit(conv(x, W3, padding=[1, 1, 1, 1]))))
        return relax.op.nn.relu(bb.emit(relax.op.add(x, y)))

    return module(body)


def wide_chain(bias: bool = True, batch_norm: bool = False, extra_user: bool = False) -> tvm.IRModule:
    """conv 4->8 (+ bias as from_torch imports it) (+ batch_norm) -> relu -> conv 8->4.

    ``extra_user`` adds ``relu + 1`` as a second user of the relu (a shape-constrained consumer).
    """

    def body(bb: relax.BlockBuilder, x: relax.Var) -> relax.Expr:
        y = bb.emit(conv(x, W_WIDE, padding=[1, 1, 1, 1]))
        if bias:
            y = bb.emit(relax.op.add(y, bb.emit(relax.op.reshape(relax.const(B_WIDE), [1, 8, 1, 1]))))
        if batch_norm:
            bn = bb.emit(relax.op.nn.batch_norm(y, *[relax.const(p) for p in BN], axis=1, training=False))
            y = bb.emit(relax.TupleGetItem(bn, 0))
        y = bb.emit(relax.op.nn.relu(y))
        out = conv(y, W_BACK, padding=[1, 1, 1, 1])
        if extra_user:
            out = relax.op.add(bb.emit(out), bb.emit(relax.op.nn.conv2d(y, relax.const(W_BACK), padding=[1, 1, 1, 1])))
        return out

    return module(body)


def inverted_residual() -> tvm.IRModule:
    """MobileNetV2-like: conv 4->8, bn, relu6, depthwise 3x3, relu6, project 1x1 8->4."""

    def body(bb: relax.BlockBuilder, x: relax.Var) -> relax.Expr:
        y = bb.emit(conv(x, W_WIDE, padding=[1, 1, 1, 1]))
        bn = bb.emit(relax.op.nn.batch_norm(y, *[relax.const(p) for p in BN], axis=1, training=False))
        y = bb.emit(relax.op.clip(bb.emit(relax.TupleGetItem(bn, 0)), 0.0, 6.0))
        y = bb.emit(relax.op.clip(bb.emit(conv(y, W_DW, padding=[1, 1, 1, 1], groups=8)), 0.0, 6.0))
        return conv(y, W_PROJECT)

    return module(body)


# ----------------------------------------------------------------------------------------------
# Compile and run.


def run(mod: tvm.IRModule, x: np.ndarray) -> np.ndarray:
    """Compile ``mod`` for llvm with the default pipeline and run ``main(x)``."""
    target = tvm.target.Target({"kind": "llvm"})
    ex = tvm.compile(mod, target=target, relax_pipeline=relax.get_default_pipeline(target))
    return relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy()


def convolutions(func: relax.Function) -> list[relax.Call]:
    """The ``nn.conv2d`` calls of ``func``, in post order."""
    found: list[relax.Call] = []

    def visit(expr: relax.Expr) -> None:
        if isinstance(expr, relax.Call) and getattr(expr.op, "name", "") == "relax.nn.conv2d":
            found.append(expr)

    relax.analysis.post_order_visit(func.body, visit)
    return found


def cleaned(mod: tvm.IRModule) -> tvm.IRModule:
    """``mod`` after the clean-up that SpecializeArch ends with (dead code, trivial bindings)."""
    return tvm.transform.Sequential(
        [
            relax.transform.DeadCodeElimination(),
            relax.transform.CanonicalizeBindings(),
            relax.transform.DeadCodeElimination(),
        ]
    )(mod)


# ----------------------------------------------------------------------------------------------
# A real model definition from an installed package (transformers), random weights, no download.


def last_hidden_state(backbone):
    """``backbone`` (a transformers vision model) wrapped so that ``forward`` returns one tensor."""
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            return self.inner(pixel_values).last_hidden_state

    return LastHiddenState(backbone).eval()


@functools.cache
def tiny_resnet_module() -> tuple[tvm.IRModule, np.ndarray, np.ndarray]:
    """transformers' ResNetModel (basic blocks, widths 8/16, depths 2/2) imported with from_torch.

    Returns the module, an input and PyTorch's output for it.
    """
    import torch
    from transformers import ResNetConfig, ResNetModel

    import tvm_nacos

    torch.manual_seed(0)
    config = ResNetConfig(
        num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[2, 2], layer_type="basic", hidden_act="relu"
    )
    model = last_hidden_state(ResNetModel(config))
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    mod = tvm_nacos.from_torch(model, (x,))
    with torch.no_grad():
        reference = model.eval()(x).numpy()
    return mod, x.numpy(), reference


def _last_hidden_state_of(model, keyword: str):
    """``model`` (a transformers encoder taking ``keyword=``) returning its last hidden state only."""
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(**{keyword: x}).last_hidden_state

    return LastHiddenState(model).eval()


def tiny_transformer(kind: str, heads: int = 2):
    """A transformers ``BertModel`` (hidden 32, ``heads`` heads, MLP 64, 2 layers, 8 tokens) or
    ``ViTModel`` (the same sizes, 16×16 images in 8×8 patches), random weights; returns the
    wrapped PyTorch model and an input."""
    import torch

    torch.manual_seed(0)
    sizes = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=heads, intermediate_size=64)
    if kind == "bert":
        from transformers import BertConfig, BertModel

        model = _last_hidden_state_of(BertModel(BertConfig(vocab_size=50, max_position_embeddings=16, **sizes)),
                                      "input_ids")
        x = torch.randint(0, 50, (1, 8), generator=torch.Generator().manual_seed(1))
    elif kind == "vit":
        from transformers import ViTConfig, ViTModel

        model = _last_hidden_state_of(ViTModel(ViTConfig(image_size=16, patch_size=8, **sizes), add_pooling_layer=False),
                                      "pixel_values")
        x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    else:
        raise ValueError(f"unknown transformer {kind!r}; valid: 'bert', 'vit'")
    return model, x


@functools.cache
def tiny_transformer_module(kind: str, heads: int = 2) -> tuple[tvm.IRModule, np.ndarray, np.ndarray]:
    """:func:`tiny_transformer` imported with from_torch: the module, the input, PyTorch's output."""
    import torch

    import tvm_nacos

    model, x = tiny_transformer(kind, heads)
    with torch.no_grad():
        reference = model(x).numpy()
    return tvm_nacos.from_torch(model, (x,)), x.numpy(), reference
