"""ExposeBottleneck: 1×1 reduce → k×k conv → 1×1 expand alternatives for 2-D convolutions."""

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
from tvm_nacos.passes.inherit import tucker2_factors

__all__ = ["ExposeBottleneck"]

_ACTIVATIONS = {"relu": relax.op.nn.relu}


def _ratio_name(ratio: float) -> str:
    return "r" + f"{ratio:g}".replace(".", "_")


@tvm.transform.module_pass(opt_level=0, name="ExposeBottleneck")
class ExposeBottleneck(ExposePass):
    """Offer a bottleneck (1×1 reduce → k×k conv → 1×1 expand) in place of a dense convolution.

    Matches ``R.nn.conv2d`` calls with layouts NCHW/OIHW, a constant weight, static shapes,
    ``groups == 1`` and a kernel larger than 1×1. The choice point replaces the convolution
    alone; bias and normalization after it stay outside. Option ``r<ratio>`` (``r0_25`` for
    0.25) computes, with ``mid = max(1, round(ratio * out_channels))``:

    - a 1×1 convolution ``in → mid`` (stride 1, no padding),
    - the original k×k convolution's geometry (strides, padding, dilation) ``mid → mid``,
    - a 1×1 convolution ``mid → out``,

    with ``activation`` after the first two (as in a ResNet bottleneck, minus the
    normalization), and new weights (He-normal, from ``seed``). The output shape is the
    original's. Ratios whose ``mid`` is not below ``out_channels`` are left out.

    Label: ``"<op name>.bottleneck"``, e.g. ``"conv1.bottleneck"``; options ``"original"``,
    ``"r0_25"``, ``"r0_5"``.

    Parameters
    ----------
    ratios : Sequence[float]
        Bottleneck widths relative to the output channels: distinct, in (0, 1).
    activation : {"relu"} or None
        Non-linearity between the three convolutions; ``None`` makes the bottleneck a linear
        (low-rank) factorization.
    names, where, seed, inside_options
        Restriction and seed, see :class:`~tvm_nacos.passes.expose_base.ExposePass`.
    init : {"random", "inherit"}
        How a new option's weights are made: ``"random"`` (the default; He-normal from
        ``seed``, for zero-cost proxies and training from scratch) or ``"inherit"``, derived
        from the original weight so that a trained model keeps what it learnt:
        Tucker-2 of the original (truncated HOSVD over output and input channels),
        the best factorization of its rank without ``activation``; use
        ``activation=None`` with it, or the ReLUs change the function.


    Raises
    ------
    tvm_nacos.errors.SearchSpaceError
        A ratio outside (0, 1), repeated ratios, or an unknown activation.

    Examples
    --------
    Before: ``lv = R.nn.conv2d(x, W, padding=[1, 1, 1, 1])`` on ``x: R.Tensor((1, 4, 8, 8))``,
    4 → 4 channels, inside ``main``. After ``ExposeBottleneck(ratios=(0.5,))``, ``main`` calls
    the stub of ``"conv0.bottleneck"`` and the option ``r0_5`` is:

    .. code-block:: python

        @R.function(private=True)
        def choice__conv0_bottleneck__r0_5(x: R.Tensor((1, 4, 8, 8), "float32")) -> R.Tensor((1, 4, 8, 8), "float32"):
            R.func_attr({"nacos.option": "r0_5", "nacos.option_of": "conv0.bottleneck"})
            with R.dataflow():
                lv = R.nn.conv2d(x, metadata["ir.GenericConst"][1])                         # 4 -> 2, 1x1
                lv1 = R.nn.relu(lv)
                lv2 = R.nn.conv2d(lv1, metadata["ir.GenericConst"][2], padding=[1, 1, 1, 1])  # 2 -> 2, 3x3
                lv3 = R.nn.relu(lv2)
                lv4 = R.nn.conv2d(lv3, metadata["ir.GenericConst"][3])                       # 2 -> 4, 1x1
                R.output(lv4)
            return lv4
    """

    suffix = "bottleneck"

    def __init__(
        self,
        ratios: Sequence[float] = (0.25, 0.5),
        *,
        activation: str | None = "relu",
        names: str | Sequence[str] | None = None,
        where: Callable[[relax.Call, MatchContext], bool] | None = None,
        seed: int = 0,
        inside_options: InsideOptions = "all",
        init: Literal["random", "inherit"] = "random",
    ) -> None:
        super().__init__(names=names, where=where, seed=seed, inside_options=inside_options)
        self.init = check_init(init, type(self).__name__)
        ratios = tuple(ratios)
        bad = [r for r in ratios if not isinstance(r, (int, float)) or isinstance(r, bool) or not 0 < r < 1]
        if not ratios or bad or len({_ratio_name(r) for r in ratios}) != len(ratios):
            raise SearchSpaceError(
                f"ExposeBottleneck ratios {ratios!r} are invalid{f' ({bad!r})' if bad else ''}: "
                "give distinct ratios in (0, 1), e.g. (0.25, 0.5)"
            )
        if activation is not None and activation not in _ACTIVATIONS:
            raise SearchSpaceError(
                f"ExposeBottleneck activation {activation!r} is unknown; valid: {sorted(_ACTIVATIONS)} or None"
            )
        self.ratios: tuple[float, ...] = ratios
        self.activation = activation

    def match(self, call: relax.Call, context: MatchContext) -> bool:
        info = conv2d_info(call)
        return info is not None and info.groups == 1 and max(info.kernel) > 1

    def options(self, call: relax.Call, context: MatchContext) -> dict[str, OptionBuilder]:
        info = conv2d_info(call)
        assert info is not None  # checked by match
        dtype = str(info.weight.dtype)
        kh, kw = info.kernel
        act = _ACTIVATIONS.get(self.activation) if self.activation else None
        options: dict[str, OptionBuilder] = {}
        for ratio in self.ratios:
            mid = max(1, round(ratio * info.out_channels))
            if mid >= info.out_channels:
                continue
            name = _ratio_name(ratio)
            if self.init == "inherit":
                reduce_w, conv_w, expand_w = tucker2_factors(info.weight, mid)
            else:
                rng = context.rng(name)
                reduce_w = he_normal(rng, (mid, info.in_channels, 1, 1), fan_in=info.in_channels, dtype=dtype)
                conv_w = he_normal(rng, (mid, mid, kh, kw), fan_in=mid * kh * kw, dtype=dtype)
                expand_w = he_normal(rng, (info.out_channels, mid, 1, 1), fan_in=mid, dtype=dtype)

            def build(
                bb: relax.BlockBuilder, inputs: Sequence[relax.Var], w=(reduce_w, conv_w, expand_w)
            ) -> relax.Expr:
                pointwise = {"strides": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1)}
                y = bb.emit(make_conv2d(call, inputs[0], w[0], **pointwise))
                y = bb.emit(act(y)) if act else y
                y = bb.emit(make_conv2d(call, y, w[1]))
                y = bb.emit(act(y)) if act else y
                return make_conv2d(call, y, w[2], **pointwise)

            options[name] = build
        return options
