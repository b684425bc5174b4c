"""Small TIR kernels for measurement tests."""

from __future__ import annotations

import tvm
from tvm import te


def matmul(n: int, a_name: str = "A") -> tvm.IRModule:
    """An n×n×n float32 matmul as a TIR module ``{"main": PrimFunc}``; ``a_name`` names input A."""
    a = te.placeholder((n, n), name=a_name)
    b = te.placeholder((n, n), name="B")
    k = te.reduce_axis((0, n), name="k")
    c = te.compute((n, n), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="C")
    return tvm.IRModule({"main": te.create_prim_func([a, b, c])})


def gather(rows: int, count: int) -> tvm.IRModule:
    """``out[i, :] = table[index[i], :]`` over a ``rows``×64 float32 table, int64 indices, no bounds check."""
    table = te.placeholder((rows, 64), name="table")
    index = te.placeholder((count,), dtype="int64", name="index")
    out = te.compute((count, 64), lambda i, j: table[index[i], j], name="out")
    return tvm.IRModule({"main": te.create_prim_func([table, index, out])})


def host_cpu(num_cores: int = 2) -> dict:
    """This machine's CPU as a target dict (the ``mcpu`` TVM detects), for tests that run code.

    A fixed ``mcpu`` such as ``znver4`` emits AVX-512, which a host without it cannot execute:
    every measurement of such a test would fail there.
    """
    from tvm_nacos.target import host_target

    spec = {"kind": "llvm", "num-cores": num_cores}
    mcpu = host_target().attrs.get("mcpu")
    if mcpu:
        spec["mcpu"] = str(mcpu)
    return spec
