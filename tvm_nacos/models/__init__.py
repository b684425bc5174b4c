"""PyTorch models of the built-in search spaces (see :mod:`tvm_nacos.search_space.registry`).

One module per space; each needs PyTorch and is imported on demand by the space's methods:

- :mod:`tvm_nacos.models.nas_bench_201`: the NAS-Bench-201 network and its cell supernet;
- :mod:`tvm_nacos.models.mobilenet_v2`: the MobileNetV2 (ProxylessNAS / OFA-style) supernet;
- :mod:`tvm_nacos.models.resnet`: the basic-block ResNet supernet.

Importing this package itself imports nothing heavy.
"""
