"""ExposeKernelSize: kernel-size alternatives for 2-D convolutions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import tvm
from tvm import relax

from tvm_nacos.errors import SearchSpaceError
from tvm_nacos.passes.expose_base import (
    Conv2dInfo,
    ExposePass,
    InsideOptions,
    MatchContext,
    OptionBuilder,
    check_init,
    conv2d_info,
    he_normal,
    make_conv2d,
)
from tvm_nacos.passes.inherit import resize_kernel

__all__ = ["ExposeKernelSize", "same_output_padding"]


def same_output_padding(info: Conv2dInfo, size: int) -> tuple[int, int, int, int] | None:
    """Padding that keeps the output shape of the convolution ``info`` with a ``size`` × ``size`` kernel.

    Each spatial dimension grows (or shrinks) its padding by ``dilation * (size - kernel)``, split
    evenly between both sides (the odd unit, if any, after). ``None`` if a side would become
    negative.
    """
    top, left, bottom, right = info.padding
    pads = []
    sides = ((top, bottom, info.kernel[0], info.dilation[0]), (left, right, info.kernel[1], info.dilation[1]))
    for before, after, kernel, dilation in sides:
        delta = dilation * (size - kernel)
        pads.append((before + delta // 2, after + delta - delta // 2))
    (new_top, new_bottom), (new_left, new_right) = pads
    padding = (new_top, new_left, new_bottom, new_right)
    return padding if min(padding) >= 0 else None


@tvm.transform.module_pass(opt_level=0, name="ExposeKernelSize")
class ExposeKernelSize(ExposePass):
    """Offer other kernel sizes for every spatial 2-D convolution.

    Matches ``R.nn.conv2d`` calls with layouts NCHW/OIHW, a constant weight, static shapes and a
    kernel larger than 1×1 (pointwise convolutions mix channels and are left alone), grouped and
    depthwise ones included. The choice point replaces the convolution alone: a bias ``add`` or
    a ``batch_norm`` after it stays outside and serves every option. Option ``k<size>`` is a
    ``size`` × ``size`` convolution with the same strides, dilation and groups, its padding
    adjusted so that the output shape holds (see :func:`same_output_padding`), and new weights
    (He-normal, from ``seed``). Sizes equal to the original kernel, or that would need negative
    padding, are left out; a convolution without any other size is not exposed.

    Label: ``"<op name>.kernel"``, e.g. ``"conv1.kernel"``; options ``"original"``, ``"k5"``, ...

    Parameters
    ----------
    sizes : Sequence[int]
        Candidate kernel sizes: distinct, odd, positive.
    names, where, seed, inside_options
        Restriction and seed, see :class:`~tvm_nacos.passes.expose_base.ExposePass`.
    init : {"random", "inherit"}
        How a new option's weights are made: ``"random"`` (the default; He-normal from
        ``seed``, for zero-cost proxies and training from scratch) or ``"inherit"``, derived
        from the original weight so that a trained model keeps what it learnt:
        a larger kernel is the original zero-padded around (the same function), a smaller one its
        centre.


    Raises
    ------
    tvm_nacos.errors.SearchSpaceError
        An empty, repeated, even or non-positive size.

    Examples
    --------
    Before:

    .. code-block:: python

        @R.function
        def main(x: R.Tensor((1, 4, 8, 8), "float32")) -> R.Tensor((1, 4, 8, 8), "float32"):
            with R.dataflow():
                lv = R.nn.conv2d(x, metadata["ir.GenericConst"][0], padding=[1, 1, 1, 1])
                gv = R.nn.relu(lv)
                R.output(gv)
            return gv

    After ``ExposeKernelSize(sizes=(3, 5))`` (``k5`` pads by 2; the stub, as in
    :mod:`tvm_nacos.ir.choice`, lists ``["original", "k5"]`` and calls ``original``):

    .. code-block:: python

        @R.function(private=True)
        def choice__conv0_kernel__k5(x: R.Tensor((1, 4, 8, 8), "float32")) -> R.Tensor((1, 4, 8, 8), "float32"):
            R.func_attr({"nacos.option": "k5", "nacos.option_of": "conv0.kernel"})
            with R.dataflow():
                lv = R.nn.conv2d(x, metadata["ir.GenericConst"][1], padding=[2, 2, 2, 2])
                R.output(lv)
            return lv

        @R.function
        def main(x: R.Tensor((1, 4, 8, 8), "float32")) -> R.Tensor((1, 4, 8, 8), "float32"):
            with R.dataflow():
                lv = Module.choice__conv0_kernel(x)
                gv = R.nn.relu(lv)
                R.output(gv)
            return gv
    """

    suffix = "kernel"

    def __init__(
        self,
        sizes: Sequence[int] = (3, 5, 7),
        *,
        names: str | Sequence[str] | None = None,
        where: Callable[[relax.Call, MatchContext], bool] | None = None,
        seed: int = 0,
        inside_options: InsideOptions = "all",
        init: Literal["random", "inherit"] = "random",
    ) -> None:
        super().__init__(names=names, where=where, seed=seed, inside_options=inside_options)
        self.init = check_init(init, type(self).__name__)
        sizes = tuple(sizes)
        bad = [s for s in sizes if not isinstance(s, int) or isinstance(s, bool) or s < 1 or s % 2 == 0]
        if not sizes or bad or len(set(sizes)) != len(sizes):
            raise SearchSpaceError(
                f"ExposeKernelSize sizes {sizes!r} are invalid{f' ({bad!r})' if bad else ''}: "
                "give distinct odd positive kernel sizes, e.g. (3, 5, 7)"
            )
        self.sizes: tuple[int, ...] = sizes

    def match(self, call: relax.Call, context: MatchContext) -> bool:
        info = conv2d_info(call)
        return info is not None and max(info.kernel) > 1

    def options(self, call: relax.Call, context: MatchContext) -> dict[str, OptionBuilder]:
        info = conv2d_info(call)
        assert info is not None  # checked by match
        options: dict[str, OptionBuilder] = {}
        in_per_group = info.in_channels // info.groups
        for size in self.sizes:
            padding = same_output_padding(info, size)
            if (size, size) == info.kernel or padding is None:
                continue
            name = f"k{size}"
            if self.init == "inherit":
                weight = resize_kernel(info.weight, size)
            else:
                weight = he_normal(
                    context.rng(name),
                    (info.out_channels, in_per_group, size, size),
                    fan_in=in_per_group * size * size,
                    dtype=str(info.weight.dtype),
                )
            options[name] = lambda bb, inputs, w=weight, p=padding: make_conv2d(call, inputs[0], w, padding=p)
        return options
