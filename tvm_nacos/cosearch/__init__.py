"""The NACOS co-search: cost model, objectives, strategies and the ``search`` API.

(The package is not called ``search`` so that ``tvm_nacos.search`` stays the function.)
"""
