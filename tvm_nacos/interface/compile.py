"""``tvm-nacos compile``: one architecture of a finished search, built with its tuned kernels and
exported as a shared library with a manifest (:mod:`tvm_nacos.export` does the work).

It works on the work directory of any search: :func:`tvm_nacos.search` keeps the module it
searched (a built-in space by name, any other module as ``model.json``).
"""

from __future__ import annotations

from tvm_nacos.export import ExportedArchitecture, export_architecture

__all__ = ["ExportedArchitecture", "export_architecture"]
