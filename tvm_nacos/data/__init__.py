"""Data files shipped with tvm-nacos (package data), and their loaders.

Loading happens on first use, never at import time.
"""
