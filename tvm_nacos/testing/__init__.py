"""Test doubles for tvm-nacos's measurement seams (as MetaSchedule's ``testing`` package).

- :mod:`tvm_nacos.testing.fake`: a builder and runner that compile nothing and time nothing,
  with latencies that are a function of the candidate (same seed, same trajectory);
- :mod:`tvm_nacos.testing.faults`: builders that fail, crash or hang on chosen candidates.
"""
