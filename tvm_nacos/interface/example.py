"""``tvm-nacos example``: build the example supernet, specialize one architecture, compile it,
run it and check it against PyTorch (:mod:`tvm_nacos.examples` holds the supernet)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tvm_nacos.search_space import ArchSample, SearchSpace

logger = logging.getLogger(__name__)

__all__ = ["ExampleRun", "run_example"]


@dataclass(frozen=True)
class ExampleRun:
    """What :func:`run_example` did: the space, the architecture, and how it ran.

    Attributes
    ----------
    space : SearchSpace
        The space of the example supernet.
    sample : ArchSample
        The architecture that was specialized, compiled and run.
    target : str
        The target it was compiled for (JSON).
    output_shape : tuple of int
        Shape of the output of the compiled architecture.
    max_abs_error : float
        Largest difference from the PyTorch reference of the same architecture.
    untuned_latency_ms : float
        Median latency of the compiled architecture, untuned (no MetaSchedule yet).
    compile_secs : float
        Time to specialize and compile.
    """

    space: SearchSpace
    sample: ArchSample
    target: str
    output_shape: tuple[int, ...]
    max_abs_error: float
    untuned_latency_ms: float
    compile_secs: float


def run_example(
    *,
    sample: ArchSample | Mapping[str, str] | None = None,
    target: Any = None,
    seed: int = 0,
) -> ExampleRun:
    """Build the example supernet, specialize one architecture, compile it and run it.

    Parameters
    ----------
    sample : ArchSample or Mapping[str, str], optional
        The architecture; a random one of the space (from ``seed``) by default.
    target : Target, dict or JSON str, optional
        The host CPU by default.
    seed : int
        Seed of the weights, the input and the random architecture.

    Returns
    -------
    ExampleRun
    """
    import numpy as np
    import torch
    import tvm
    from tvm import relax

    from tvm_nacos.analysis import search_space
    from tvm_nacos.examples import example_input, example_supernet
    from tvm_nacos.frontend.torch import apply_sample, from_torch
    from tvm_nacos.passes import CheckChoicePoints
    from tvm_nacos.target import as_target, device_for
    from tvm_nacos.tuning.compile import compile_architecture, time_executable

    tvm_target = as_target(target)
    x = example_input(seed)
    logger.info("importing the example supernet from PyTorch")
    supernet = from_torch(example_supernet(seed=seed), (x,))
    space = search_space(supernet)
    logger.info("space: %d choice points, %d architectures", len(space), space.size)
    if sample is None:
        sample = space.sample(np.random.default_rng(seed))
    sample = space.canonicalize(sample if isinstance(sample, ArchSample) else ArchSample(sample))

    start = time.perf_counter()
    CheckChoicePoints()(supernet)
    executable = compile_architecture(supernet, tvm_target, sample=sample).executable  # no database: untuned
    compile_secs = time.perf_counter() - start
    logger.info("specialized and compiled %s in %.2f s", sample.id, compile_secs)

    device = device_for(tvm_target)
    x_tvm = tvm.runtime.tensor(x.numpy(), device)
    output = relax.VirtualMachine(executable, device)["main"](x_tvm).numpy()
    with torch.no_grad():
        reference = apply_sample(example_supernet(seed=seed), sample)(x).numpy()
    latency_ms = time_executable(executable, tvm_target, [x_tvm], repeat=5).median_ms
    return ExampleRun(
        space=space,
        sample=sample,
        target=str(tvm_target),
        output_shape=tuple(output.shape),
        max_abs_error=float(np.abs(output - reference).max()),
        untuned_latency_ms=latency_ms,
        compile_secs=compile_secs,
    )
