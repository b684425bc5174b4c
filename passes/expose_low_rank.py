"""ExposeLowRank: a linear layer factorized into two thinner ones (truncated SVD of its weight)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tvm
from tvm import relax

from tvm_nacos.passes.expose_base import (
    ExposePass,
    InsideOptions,
    MatchContext,
    OptionBuilder,
    Region,
    check_fractions,
)
from tvm_nacos.passes.linear import linear_info, make_linear

__all__ = ["ExposeLowRank", "low_rank_factors"]


def low_rank_factors(weight: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """``(A, B)`` with ``A @ B`` the best rank-``rank`` approximation of ``weight`` (K × N) in
    the Frobenius norm (Eckart–Young): the truncated SVD, its singular values split evenly
    (``A = U √S``, ``B = √S Vᵀ``), so both factors have the same scale."""
    u, s, vt = np.linalg.svd(weight.astype(np.float64), full_matrices=False)
    root = np.sqrt(s[:rank])
    return (u[:, :rank] * root).astype(weight.dtype), (root[:, None] * vt[:rank]).astype(weight.dtype)


@tvm.transform.module_pass(opt_level=0, name="ExposeLowRank")
class ExposeLowRank(ExposePass):
    """Offer low-rank factorizations of a linear layer: ``x @ W`` → ``(x @ A) @ B``.

    Matches a linear layer (``R.matmul`` by a constant ``(K, N)`` weight, directly or through
    ``R.permute_dims`` as ``from_torch`` imports ``nn.Linear``; see
    :func:`~tvm_nacos.passes.linear.linear_info`). Option ``r<rank>`` replaces the matmul by two:
    ``A`` is ``K × rank`` and ``B`` is ``rank × N``, initialized from the truncated SVD of the
    original weight (:func:`low_rank_factors`), so the option starts from the best rank-``rank``
    approximation of the trained layer rather than from random weights. It is the matmul
    analogue of :class:`~tvm_nacos.passes.ExposeBottleneck`.

    The ranks are fractions of the full rank ``min(K, N)``; a rank is offered only when the two
    factors take fewer multiply-accumulates than the original (``rank × (K + N) < K × N``):
    a factorization that costs more is no architecture choice. A layer left with no such rank
    is not exposed. The bias, if any, stays outside the choice point.

    Label: ``"<op name>.rank"``, e.g. ``"matmul2.rank"``; options ``"original"``, ``"r8"``, ...

    Parameters
    ----------
    fractions : Sequence[float]
        Fractions of the full rank in (0, 1).
    names, where, seed, inside_options
        Restriction and seed, see :class:`~tvm_nacos.passes.expose_base.ExposePass`. ``seed``
        is unused: no weights are drawn.

    Raises
    ------
    tvm_nacos.errors.SearchSpaceError
        A fraction outside (0, 1) or repeated, or none given.

    Examples
    --------
    Before (``nn.Linear(64, 64)`` as ``from_torch`` imports it, on 8 tokens):

    .. code-block:: python

        lv = R.permute_dims(metadata["ir.GenericConst"][0], axes=[1, 0])     # (64, 64)
        lv1 = R.matmul(x, lv, out_dtype="float32")                          # (8, 64)

    After ``ExposeLowRank(fractions=(0.25,))``, option ``r16`` of ``"matmul0.rank"``:

    .. code-block:: python

        @R.function(private=True)
        def choice__matmul0_rank__r16(x: R.Tensor((8, 64), "float32")) -> R.Tensor((8, 64), "float32"):
            R.func_attr({"nacos.option": "r16", "nacos.option_of": "matmul0.rank"})
            with R.dataflow():
                lv = R.matmul(x, metadata["ir.GenericConst"][1], out_dtype="float32")   # A: (64, 16)
                gv = R.matmul(lv, metadata["ir.GenericConst"][2], out_dtype="float32")  # B: (16, 64)
                R.output(gv)
            return gv
    """

    suffix = "rank"

    def __init__(
        self,
        fractions: Sequence[float] = (0.125, 0.25),
        *,
        names: str | Sequence[str] | None = None,
        where: Callable[[relax.Call, MatchContext], bool] | None = None,
        seed: int = 0,
        inside_options: InsideOptions = "all",
    ) -> None:
        super().__init__(names=names, where=where, seed=seed, inside_options=inside_options)
        self.fractions = check_fractions("ExposeLowRank", fractions, of="the full rank", example="(0.125, 0.25)",
                                         one=False)

    def ranks(self, in_features: int, out_features: int) -> list[int]:
        """The ranks offered for a ``in_features × out_features`` weight: distinct, ascending,
        each cheaper than the original."""
        full = min(in_features, out_features)
        ranks = {max(1, round(f * full)) for f in self.fractions}
        return sorted(r for r in ranks if r < full and r * (in_features + out_features) < in_features * out_features)

    def match(self, call: relax.Call, context: MatchContext) -> bool:
        info = linear_info(call, context)
        return info is not None and bool(self.ranks(info.in_features, info.out_features))

    def region(self, call: relax.Call, context: MatchContext) -> Region | None:
        info = linear_info(call, context)
        assert info is not None  # checked by match
        variables = [context.var] if info.transposed is None else [info.transposed, context.var]
        region = context.make_region(variables)
        return region if region is not None and len(region.inputs) == 1 else None

    def options(self, call: relax.Call, context: MatchContext) -> dict[str, OptionBuilder]:
        info = linear_info(call, context)
        assert info is not None
        options: dict[str, OptionBuilder] = {}
        for rank in self.ranks(info.in_features, info.out_features):
            first, second = low_rank_factors(info.weight, rank)

            def build(bb: relax.BlockBuilder, inputs: Sequence[relax.Var], a=first, b=second) -> relax.Expr:
                narrow = bb.emit(make_linear(inputs[0], a, like=call))
                return make_linear(narrow, b, like=call)

            options[f"r{rank}"] = build
        return options
