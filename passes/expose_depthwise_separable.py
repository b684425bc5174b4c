"""ExposeDepthwiseSeparable: depthwise k×k + pointwise 1×1 in place of a dense k×k convolution."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import tvm
from tvm import relax

from tvm_nacos.errors import SearchSpaceError
from tvm_nacos.passes.expose_base import (
    ExposePass,
    InsideOptions,
    MatchContext,
    OptionBuilder,
    check_init,
    conv2d_info,
    he_normal,
    make_conv2d,
)
from tvm_nacos.passes.inherit import separable_factors

__all__ = ["ExposeDepthwiseSeparable"]

_ACTIVATIONS = {"relu": relax.op.nn.relu}


@tvm.transform.module_pass(opt_level=0, name="ExposeDepthwiseSeparable")
class ExposeDepthwiseSeparable(ExposePass):
    """Offer a depthwise-separable factorization of every dense spatial convolution.

    Matches ``R.nn.conv2d`` calls with layouts NCHW/OIHW, a constant weight, static shapes,
    ``groups == 1``, more than one input channel and a kernel larger than 1×1. The choice point
    replaces the convolution alone; bias and normalization after it stay outside. Option
    ``"separable"`` is a depthwise convolution with the original kernel, strides, padding and
    dilation (``groups = in_channels``, weight ``(in, 1, kh, kw)``), then ``activation`` if any,
    then a pointwise 1×1 convolution ``in → out``; new weights are He-normal from ``seed``. The
    output shape is the original's.

    Label: ``"<op name>.separable"``, e.g. ``"conv1.separable"``; options ``"original"`` and
    ``"separable"``.

    Parameters
    ----------
    activation : {"relu"} or None
        Non-linearity between the depthwise and the pointwise convolution (none by default, as
        in Xception's separable convolutions).
    names, where, seed, inside_options
        Restriction and seed, see :class:`~tvm_nacos.passes.expose_base.ExposePass`.
    init : {"random", "inherit"}
        How a new option's weights are made: ``"random"`` (the default; He-normal from
        ``seed``, for zero-cost proxies and training from scratch) or ``"inherit"``, derived
        from the original weight so that a trained model keeps what it learnt:
        per input channel the best rank-1 factorization of the original (SVD); exact
        when the original is rank-1 per channel and ``activation`` is ``None``.


    Raises
    ------
    tvm_nacos.errors.SearchSpaceError
        An unknown activation.

    Examples
    --------
    Before: ``lv = R.nn.conv2d(x, W, padding=[1, 1, 1, 1])`` on ``x: R.Tensor((1, 4, 8, 8))``
    (4 → 4 channels) in ``main``. After ``ExposeDepthwiseSeparable()``, ``main`` calls the stub of
    ``"conv0.separable"``, and its option ``separable`` is:

    .. code-block:: python

        @R.function(private=True)
        def choice__conv0_separable__separable(
            x: R.Tensor((1, 4, 8, 8), "float32")
        ) -> R.Tensor((1, 4, 8, 8), "float32"):
            R.func_attr({"nacos.option": "separable", "nacos.option_of": "conv0.separable"})
            with R.dataflow():
                lv = R.nn.conv2d(x, metadata["ir.GenericConst"][1], padding=[1, 1, 1, 1], groups=4)  # (4, 1, 3, 3)
                lv1 = R.nn.conv2d(lv, metadata["ir.GenericConst"][2])                                # (4, 4, 1, 1)
                R.output(lv1)
            return lv1
    """

    suffix = "separable"

    def __init__(
        self,
        *,
        activation: str | None = None,
        names: str | Sequence[str] | None = None,
        where: Callable[[relax.Call, MatchContext], bool] | None = None,
        seed: int = 0,
        inside_options: InsideOptions = "all",
        init: Literal["random", "inherit"] = "random",
    ) -> None:
        super().__init__(names=names, where=where, seed=seed, inside_options=inside_options)
        self.init = check_init(init, type(self).__name__)
        if activation is not None and activation not in _ACTIVATIONS:
            raise SearchSpaceError(
                f"ExposeDepthwiseSeparable activation {activation!r} is unknown; valid: {sorted(_ACTIVATIONS)} or None"
            )
        self.activation = activation

    def match(self, call: relax.Call, context: MatchContext) -> bool:
        info = conv2d_info(call)
        return info is not None and info.groups == 1 and info.in_channels > 1 and max(info.kernel) > 1

    def options(self, call: relax.Call, context: MatchContext) -> dict[str, OptionBuilder]:
        info = conv2d_info(call)
        assert info is not None  # checked by match
        kh, kw = info.kernel
        dtype = str(info.weight.dtype)
        if self.init == "inherit":
            depthwise_w, pointwise_w = separable_factors(info.weight)
        else:
            rng = context.rng("separable")
            depthwise_w = he_normal(rng, (info.in_channels, 1, kh, kw), fan_in=kh * kw, dtype=dtype)
            pointwise_w = he_normal(
                rng, (info.out_channels, info.in_channels, 1, 1), fan_in=info.in_channels, dtype=dtype
            )
        act = _ACTIVATIONS.get(self.activation) if self.activation else None

        def build(bb: relax.BlockBuilder, inputs: Sequence[relax.Var]) -> relax.Expr:
            y = bb.emit(make_conv2d(call, inputs[0], depthwise_w, groups=info.in_channels))
            y = bb.emit(act(y)) if act else y
            return make_conv2d(call, y, pointwise_w, strides=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1)

        return {"separable": build}
