"""Weights of a new option derived from the original convolution's, for the Expose passes' ``init="inherit"``.

A model you trained keeps what it learnt when a NAS move starts its new option from the original
weights, as NetAdapt and Once-for-All do: accuracy with inherited weights (and a short fine-tune)
then ranks the options, where freshly drawn weights rank nothing until trained. Each function
below takes the original OIHW weight (numpy) and returns the option's weights; where the option
can compute the original function exactly it does, otherwise it is the best approximation of
its kind (a least-squares factorization):

=============================  ==============================================================
move                           inherited weights
=============================  ==============================================================
larger kernel                  the original, zero-padded around: the same function
smaller kernel                 the original's centre (Once-for-All's elastic kernel, without
                               its learnt transform)
fewer/more groups              the block diagonal of the original's dense equivalent: exact
                               with fewer groups (each new group holds whole original ones)
depthwise-separable            per input channel, the best rank-1 factorization of the
                               original's ``(out, kh·kw)`` slice (SVD): exact for rank-1
bottleneck (linear)            Tucker-2 of the original (truncated HOSVD over the output and
                               input channels): exact when ``mid`` covers both ranks
=============================  ==============================================================
"""

from __future__ import annotations

import numpy as np

__all__ = ["dense_equivalent", "regroup", "resize_kernel", "separable_factors", "tucker2_factors"]


def resize_kernel(weight: np.ndarray, size: int) -> np.ndarray:
    """The OIHW ``weight`` cropped to its centre or zero-padded around to ``size`` × ``size``.

    With the padding of :func:`~tvm_nacos.passes.expose_kernel_size.same_output_padding`, a
    larger kernel computes exactly the original convolution.
    """
    out = np.zeros((*weight.shape[:2], size, size), dtype=weight.dtype)
    kh, kw = weight.shape[2:]
    # Source and destination windows along each spatial axis, centred on each other.
    windows = []
    for k in (kh, kw):
        if size >= k:
            start = (size - k) // 2
            windows.append((slice(0, k), slice(start, start + k)))
        else:
            start = (k - size) // 2
            windows.append((slice(start, start + size), slice(0, size)))
    (src_h, dst_h), (src_w, dst_w) = windows
    out[:, :, dst_h, dst_w] = weight[:, :, src_h, src_w]
    return out


def dense_equivalent(weight: np.ndarray, groups: int) -> np.ndarray:
    """The dense ``(O, I, kh, kw)`` weight of a grouped convolution: zeros between the groups."""
    out_channels, in_per_group = weight.shape[:2]
    dense = np.zeros((out_channels, in_per_group * groups, *weight.shape[2:]), dtype=weight.dtype)
    out_per_group = out_channels // groups
    for group in range(groups):
        rows = slice(group * out_per_group, (group + 1) * out_per_group)
        dense[rows, group * in_per_group : (group + 1) * in_per_group] = weight[rows]
    return dense


def regroup(weight: np.ndarray, groups: int, new_groups: int) -> np.ndarray:
    """The weight of the same convolution with ``new_groups`` groups: the block diagonal of its dense form."""
    dense = dense_equivalent(weight, groups)
    out_channels, in_channels = dense.shape[:2]
    out_per_group, in_per_group = out_channels // new_groups, in_channels // new_groups
    blocks = [
        dense[g * out_per_group : (g + 1) * out_per_group, g * in_per_group : (g + 1) * in_per_group]
        for g in range(new_groups)
    ]
    return np.concatenate(blocks, axis=0)


def separable_factors(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depthwise ``(I, 1, kh, kw)`` and pointwise ``(O, I, 1, 1)`` weights closest to the dense ``weight``.

    For each input channel ``i``, the slice ``W[:, i]`` (``O`` × ``kh·kw``) is replaced by its best
    rank-1 approximation ``p_i d_iᵀ`` (the leading singular pair); the depthwise filter of ``i``
    is ``d_i`` and the pointwise column ``i`` is ``p_i``.
    """
    out_channels, in_channels, kh, kw = weight.shape
    depthwise = np.zeros((in_channels, 1, kh, kw), dtype=weight.dtype)
    pointwise = np.zeros((out_channels, in_channels, 1, 1), dtype=weight.dtype)
    for i in range(in_channels):
        u, s, vt = np.linalg.svd(weight[:, i].reshape(out_channels, kh * kw).astype(np.float64), full_matrices=False)
        depthwise[i, 0] = vt[0].reshape(kh, kw)
        pointwise[:, i, 0, 0] = u[:, 0] * s[0]
    return depthwise, pointwise


def tucker2_factors(weight: np.ndarray, mid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reduce ``(mid, I, 1, 1)``, core ``(mid, mid, kh, kw)`` and expand ``(O, mid, 1, 1)`` weights of ``weight``.

    Truncated higher-order SVD over the output and the input channels: ``U_out`` and ``U_in``
    are the leading ``mid`` left singular vectors of the weight unfolded along each, and the
    core is the weight projected on both. ``expand ∘ core ∘ reduce`` (1×1, k×k, 1×1, no
    activation between) then equals the original convolution when ``mid`` is at least both
    ranks, and approximates it otherwise. With fewer than ``mid`` channels on a side, the
    missing singular vectors are zeros.
    """
    out_channels, in_channels, kh, kw = weight.shape
    w = weight.astype(np.float64)

    def leading(unfolded: np.ndarray) -> np.ndarray:
        u = np.linalg.svd(unfolded, full_matrices=False)[0][:, :mid]
        if u.shape[1] < mid:
            u = np.pad(u, ((0, 0), (0, mid - u.shape[1])))
        return u

    u_out = leading(w.reshape(out_channels, -1))  # (O, mid)
    u_in = leading(w.transpose(1, 0, 2, 3).reshape(in_channels, -1))  # (I, mid)
    core = np.einsum("oihw,om,in->mnhw", w, u_out, u_in)
    dtype = weight.dtype
    return (
        u_in.T.reshape(mid, in_channels, 1, 1).astype(dtype),
        core.astype(dtype),
        u_out.reshape(out_channels, mid, 1, 1).astype(dtype),
    )
