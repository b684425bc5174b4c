"""Front ends that build modules with choice points: PyTorch (:mod:`.torch`) and Relax nn (:mod:`.nn`).

Submodules are imported on demand, so that PyTorch is needed only by those who use it.
"""
