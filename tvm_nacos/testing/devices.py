"""Device-like RPC servers on one host: each candidate occupies its device for a fixed time.

Eight ``rpc_server`` processes on a 2-core host fight over the cores when they time kernels, so
a benchmark of "N devices" would measure the host, not the search. :class:`DeviceLikeEvaluator`
makes each run hold its device (the RPC session) for ``secs_per_trial`` before running the
kernel once, as a board that takes that long per trial would: N such servers measure N times as
fast as one, until the host's builds are the limit. The run time reported is the single run's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tvm_nacos._compat import meta_schedule
from tvm_nacos.tuning.runner import MeasureConfig, RPCEndpoint, alloc_in_bounds_arguments_remote

ms = meta_schedule()

__all__ = ["DeviceLikeEvaluator", "device_like_rpc_runner"]


@dataclass(frozen=True)
class DeviceLikeEvaluator:
    """An ``RPCRunner``'s ``f_run_evaluator`` that holds the device for ``secs_per_trial``, then
    runs the kernel once (picklable: it runs in the runner's worker processes).

    Attributes
    ----------
    secs_per_trial : float
        How long the device is held per candidate, run included.
    """

    secs_per_trial: float

    def __call__(self, session: Any, rt_mod: Any, device: Any, evaluator_config: Any, repeated_args: Any) -> list[float]:
        start = time.perf_counter()
        # The wait comes first: a device that drops out meanwhile fails the run, as a real one would.
        time.sleep(max(0.0, self.secs_per_trial - 0.005))
        once = ms.runner.EvaluatorConfig(number=1, repeat=1, min_repeat_ms=0, enable_cpu_cache_flush=False)
        costs = ms.runner.rpc_runner.default_run_evaluator(session, rt_mod, device, once, repeated_args)
        time.sleep(max(0.0, self.secs_per_trial - (time.perf_counter() - start)))
        return costs


def device_like_rpc_runner(url: str, secs_per_trial: float, *, max_workers: int, timeout_sec: float = 60.0) -> Any:
    """An ``RPCRunner`` for devices under ``url`` (``rpc://HOST:PORT/KEY``) whose runs each take
    ``secs_per_trial`` (:class:`DeviceLikeEvaluator`), ``max_workers`` at once.

    Its ``num_devices`` is ``max_workers``, which a search then keeps busy.
    """
    endpoint = RPCEndpoint.parse(url)
    config = ms.runner.RPCConfig(
        tracker_host=endpoint.host, tracker_port=endpoint.port, tracker_key=endpoint.key,
        session_timeout_sec=int(max(1, timeout_sec)),
    )
    runner = ms.runner.RPCRunner(
        rpc_config=config, evaluator_config=MeasureConfig().evaluator_config(), max_workers=max_workers,
        f_alloc_argument=alloc_in_bounds_arguments_remote, f_run_evaluator=DeviceLikeEvaluator(secs_per_trial),
    )
    runner.num_devices = max_workers
    return runner
