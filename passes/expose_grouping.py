"""ExposeGrouping: grouped-convolution alternatives for 2-D convolutions."""

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
from tvm_nacos.passes.inherit import regroup

__all__ = ["ExposeGrouping"]


@tvm.transform.module_pass(opt_level=0, name="ExposeGrouping")
class ExposeGrouping(ExposePass):
    """Offer other group counts for every 2-D convolution where the channels divide.

    Matches ``R.nn.conv2d`` calls with layouts NCHW/OIHW, a constant weight and static shapes,
    of any kernel size and any current group count (a depthwise convolution may become dense
    with ``groups=(1, ...)``). The choice point replaces the convolution alone; bias and
    normalization after it stay outside. Option ``g<groups>`` is the same convolution with that
    group count and new weights of shape ``(out, in // groups, kh, kw)`` (He-normal, from
    ``seed``). Group counts equal to the current one, or that do not divide both the input and
    the output channels, are left out; a convolution without any other group count is not
    exposed.

    Label: ``"<op name>.groups"``, e.g. ``"conv2.groups"``; options ``"original"``, ``"g2"``, ...

    Parameters
    ----------
    groups : Sequence[int]
        Candidate group counts: distinct positive integers.
    names, where, seed, inside_options
        Restriction and seed, see :class:`~tvm_nacos.passes.expose_base.ExposePass`.
    init : {"random", "inherit"}
        How a new option's weights are made: ``"random"`` (the default; He-normal from
        ``seed``, for zero-cost proxies and training from scratch) or ``"inherit"``, derived
        from the original weight so that a trained model keeps what it learnt:
        the block diagonal of the original's dense equivalent (exact with fewer
        groups: each new group holds whole original ones, as depthwise to dense).


    Raises
    ------
    tvm_nacos.errors.SearchSpaceError
        An empty, repeated or non-positive group count.

    Examples
    --------
    Before (a dense 3×3 convolution, 4 → 4 channels):

    .. code-block:: python

        @R.function
        def main(x: R.Tensor((1, 4, 8, 8), "float32")) -> R.Tensor((1, 4, 8, 8), "float32"):
            with R.dataflow():
                lv = R.nn.conv2d(x, metadata["ir.GenericConst"][0], padding=[1, 1, 1, 1])
                gv = R.nn.relu(lv)
                R.output(gv)
            return gv

    After ``ExposeGrouping(groups=(1, 2, 4))``, ``main`` calls the stub of ``"conv0.groups"``
    (options ``original``, ``g2``, ``g4``); option ``g4``:

    .. code-block:: python

        @R.function(private=True)
        def choice__conv0_groups__g4(x: R.Tensor((1, 4, 8, 8), "float32")) -> R.Tensor((1, 4, 8, 8), "float32"):
            R.func_attr({"nacos.option": "g4", "nacos.option_of": "conv0.groups"})
            with R.dataflow():
                # weight (4, 1, 3, 3)
                lv = R.nn.conv2d(x, metadata["ir.GenericConst"][2], padding=[1, 1, 1, 1], groups=4)
                R.output(lv)
            return lv
    """

    suffix = "groups"

    def __init__(
        self,
        groups: Sequence[int] = (1, 2, 4),
        *,
        names: str | Sequence[str] | None = None,
        where: Callable[[relax.Call, MatchContext], bool] | None = None,
        seed: int = 0,
        inside_options: InsideOptions = "all",
        init: Literal["random", "inherit"] = "random",
    ) -> None:
        super().__init__(names=names, where=where, seed=seed, inside_options=inside_options)
        self.init = check_init(init, type(self).__name__)
        groups = tuple(groups)
        bad = [g for g in groups if not isinstance(g, int) or isinstance(g, bool) or g < 1]
        if not groups or bad or len(set(groups)) != len(groups):
            raise SearchSpaceError(
                f"ExposeGrouping groups {groups!r} are invalid{f' ({bad!r})' if bad else ''}: "
                "give distinct positive group counts, e.g. (1, 2, 4)"
            )
        self.groups: tuple[int, ...] = groups

    def match(self, call: relax.Call, context: MatchContext) -> bool:
        return conv2d_info(call) is not None

    def options(self, call: relax.Call, context: MatchContext) -> dict[str, OptionBuilder]:
        info = conv2d_info(call)
        assert info is not None  # checked by match
        kh, kw = info.kernel
        options: dict[str, OptionBuilder] = {}
        for groups in self.groups:
            if groups == info.groups or info.in_channels % groups or info.out_channels % groups:
                continue
            name = f"g{groups}"
            in_per_group = info.in_channels // groups
            if self.init == "inherit":
                weight = regroup(info.weight, info.groups, groups)
            else:
                weight = he_normal(
                    context.rng(name),
                    (info.out_channels, in_per_group, kh, kw),
                    fan_in=in_per_group * kh * kw,
                    dtype=str(info.weight.dtype),
                )
            options[name] = lambda bb, inputs, w=weight, g=groups: make_conv2d(call, inputs[0], w, groups=g)
        return options
