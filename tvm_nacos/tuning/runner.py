"""MetaSchedule runners: the local CPU with defaults for small hosts, or remote devices over RPC.

A runner is named by a string:

- ``"local"`` (or ``None``): this machine, through MetaSchedule's ``LocalRunner``;
- ``"rpc://HOST:PORT/KEY"``: devices registered under ``KEY`` with TVM's own RPC tracker at
  ``HOST:PORT`` (start it with ``python -m tvm.exec.rpc_tracker`` and each device with
  ``python -m tvm.exec.rpc_server --tracker HOST:PORT --key KEY``).

Any ``ms.runner.Runner`` object passes through unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tvm_nacos._compat import meta_schedule
from tvm_nacos.errors import NacosError

ms = meta_schedule()

__all__ = ["MeasureConfig", "RPCEndpoint", "RunnerSpecError", "make_runner"]

_RPC_URL = re.compile(r"^rpc://(?P<host>[^:/]+):(?P<port>\d+)/(?P<key>[^/]+)$")


class RunnerSpecError(NacosError, ValueError):
    """A runner description that is neither ``"local"`` nor ``"rpc://HOST:PORT/KEY"``."""


@dataclass(frozen=True)
class MeasureConfig:
    """How each candidate is timed.

    The defaults suit a 2-core host: MetaSchedule's ``min_repeat_ms=100`` costs about 0.17 s a
    trial here; 25 ms keeps kernels of a few microseconds above timer noise at a third of the
    cost. ``repeat=2`` gives a second sample so that a preempted measurement shows.

    Attributes
    ----------
    number : int
        Runs averaged into one sample.
    repeat : int
        Samples per candidate.
    min_repeat_ms : int
        ``number`` grows until one sample takes at least this long.
    cpu_cache_flush : bool
        Flush the CPU caches before each run (cold-cache latency).
    timeout_sec : float
        A run that takes longer is an error.
    """

    number: int = 3
    repeat: int = 2
    min_repeat_ms: int = 25
    cpu_cache_flush: bool = False
    timeout_sec: float = 30.0

    def evaluator_config(self) -> Any:
        """The MetaSchedule ``EvaluatorConfig``."""
        return ms.runner.EvaluatorConfig(
            number=self.number,
            repeat=self.repeat,
            min_repeat_ms=self.min_repeat_ms,
            enable_cpu_cache_flush=self.cpu_cache_flush,
        )


@dataclass(frozen=True)
class RPCEndpoint:
    """A device key at an RPC tracker."""

    host: str
    port: int
    key: str

    @classmethod
    def parse(cls, url: str) -> RPCEndpoint:
        """Parse ``rpc://HOST:PORT/KEY``."""
        match = _RPC_URL.match(url)
        if match is None:
            raise RunnerSpecError(f"runner {url!r} is not of the form rpc://HOST:PORT/KEY")
        return cls(match["host"], int(match["port"]), match["key"])

    @property
    def url(self) -> str:
        """``rpc://HOST:PORT/KEY``."""
        return f"rpc://{self.host}:{self.port}/{self.key}"


def make_runner(
    runner: Any = None,
    *,
    measure: MeasureConfig | None = None,
    max_workers: int = 1,
) -> Any:
    """Build a MetaSchedule runner from a name.

    Parameters
    ----------
    runner : None, str or ms.runner.Runner
        ``None`` or ``"local"``, ``"rpc://HOST:PORT/KEY"``, or a runner object (returned as is).
    measure : MeasureConfig, optional
        Timing settings; :class:`MeasureConfig` defaults.
    max_workers : int
        RPC only: candidates measured at once (use the number of devices under the key).

    Raises
    ------
    RunnerSpecError
        An unrecognized runner string; the message shows the valid forms.
    """
    if runner is not None and not isinstance(runner, str):
        return runner
    measure = measure or MeasureConfig()
    if runner is None or runner == "local":
        return ms.runner.LocalRunner(timeout_sec=measure.timeout_sec, evaluator_config=measure.evaluator_config())
    if runner.startswith("rpc://"):
        endpoint = RPCEndpoint.parse(runner)
        config = ms.runner.RPCConfig(
            tracker_host=endpoint.host,
            tracker_port=endpoint.port,
            tracker_key=endpoint.key,
            session_timeout_sec=int(max(1, measure.timeout_sec)),
        )
        return ms.runner.RPCRunner(
            rpc_config=config, evaluator_config=measure.evaluator_config(), max_workers=max_workers
        )
    raise RunnerSpecError(
        f"unknown runner {runner!r}; valid: 'local', 'rpc://HOST:PORT/KEY', or an ms.runner.Runner object"
    )
