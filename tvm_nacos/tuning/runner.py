"""MetaSchedule runners: the local CPU with defaults for small hosts, or remote devices over RPC.

A runner is named by a string:

- ``"local"`` (or ``None``): this machine, through MetaSchedule's ``LocalRunner``;
- ``"rpc://HOST:PORT/KEY"``: devices registered under ``KEY`` with TVM's own RPC tracker at
  ``HOST:PORT`` (start it with ``python -m tvm.exec.rpc_tracker`` and each device with
  ``python -m tvm.exec.rpc_server --tracker HOST:PORT --key KEY``).

Any ``ms.runner.Runner`` object passes through unchanged.

Local runs fill a kernel's integer inputs with zeros (:func:`alloc_in_bounds_arguments`):
MetaSchedule fills every input with random values, which sends index inputs (``take``,
``gather``, an embedding's token ids, a constant index the extractor made a parameter) out of
bounds, and the run crashes.

``MeasureConfig(check_outputs=True)`` makes the local runner a :class:`CheckingLocalRunner`: each
candidate is run on the inputs of its unscheduled kernel first, and one whose outputs differ is
an error (see :mod:`tvm_nacos.tuning.check`).
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
from dataclasses import dataclass
from typing import Any

from tvm.ir.utils import derived_object
from tvm.support.popen_pool import PopenPoolExecutor

from tvm_nacos._compat import meta_schedule
from tvm_nacos.errors import NacosError

ms = meta_schedule()

logger = logging.getLogger(__name__)

__all__ = [
    "alloc_in_bounds_arguments",
    "alloc_in_bounds_arguments_remote",
    "BackgroundStartLocalRunner",
    "CheckingLocalRunner",
    "MeasureConfig",
    "RPCEndpoint",
    "RunnerSpecError",
    "is_remote",
    "remote_endpoint",
    "make_runner",
    "resolve_devices",
    "shutdown_runner",
    "tracker_devices",
]

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
    check_outputs : bool
        Before timing a candidate, compare its outputs with its unscheduled kernel's (local
        runner only; the builder must prepare the check, see
        :class:`~tvm_nacos.tuning.builder.PersistentBuilder`).
    check_rtol, check_atol : float
        A candidate's output argument fails the check when
        ``max |out - ref| > check_atol + check_rtol * max |ref|``.
    """

    number: int = 3
    repeat: int = 2
    min_repeat_ms: int = 25
    cpu_cache_flush: bool = False
    timeout_sec: float = 30.0
    check_outputs: bool = False
    check_rtol: float = 1e-3
    check_atol: float = 1e-5

    def __post_init__(self) -> None:
        if self.timeout_sec <= 0:
            raise ValueError(f"timeout_sec must be positive, got {self.timeout_sec}")
        if self.check_rtol < 0 or self.check_atol < 0:
            raise ValueError(f"check tolerances must be >= 0, got rtol={self.check_rtol}, atol={self.check_atol}")

    def evaluator_config(self) -> Any:
        """The MetaSchedule ``EvaluatorConfig``."""
        return ms.runner.EvaluatorConfig(
            number=self.number,
            repeat=self.repeat,
            min_repeat_ms=self.min_repeat_ms,
            enable_cpu_cache_flush=self.cpu_cache_flush,
        )


def alloc_in_bounds_arguments(device: Any, args_info: Any, alloc_repeat: int) -> list[list[Any]]:
    """A kernel's arguments for timing: random floating-point values, zeros for integers and booleans.

    MetaSchedule's default fills every tensor with random values. Integer inputs of a kernel are
    mostly indices (``take`` and ``gather`` indices, token ids, a constant index that task
    extraction turned into a parameter); random ones fall out of bounds and the kernel reads
    outside its buffers: the runner's worker dies ("Subprocess terminated") and the trial is
    lost. Zero is a valid index of every non-empty axis; all-zero indices read the same rows,
    so a gather may time a little more cache-friendly than with real indices. Floating-point
    data stays random, as MetaSchedule's.

    Runs in the runner's worker (a ``LocalRunner``'s ``f_alloc_argument``).

    Parameters
    ----------
    device : tvm.runtime.Device
        Where to allocate.
    args_info : list
        MetaSchedule's JSON argument descriptions, ``["TENSOR", dtype, shape]`` each.
    alloc_repeat : int
        Argument sets to allocate.

    Returns
    -------
    list[list[tvm.runtime.Tensor]]
        ``alloc_repeat`` argument lists.
    """
    import tvm

    random_fill = tvm.get_global_func("tvm.contrib.random.random_fill_for_measure", allow_missing=True)
    return _alloc_arguments(device, args_info, alloc_repeat, random_fill)


def alloc_in_bounds_arguments_remote(session: Any, device: Any, args_info: Any, alloc_repeat: int) -> list[list[Any]]:
    """:func:`alloc_in_bounds_arguments` on a device behind an RPC session (an ``RPCRunner``'s
    ``f_alloc_argument``): random floating-point values filled on the device, zero indices."""
    try:
        random_fill = session.get_function("tvm.contrib.random.random_fill_for_measure")
    except Exception:  # noqa: BLE001 - an older runtime on the device: MetaSchedule's fill
        random_fill = session.get_function("tvm.contrib.random.random_fill")
    return _alloc_arguments(device, args_info, alloc_repeat, random_fill)


def _alloc_arguments(device: Any, args_info: Any, alloc_repeat: int, random_fill: Any) -> list[list[Any]]:
    import numpy as np
    import tvm

    repeated = []
    for _ in range(alloc_repeat):
        args = []
        for info in args_info:
            kind, dtype, shape = info[0], info[1], info[2]
            if kind != "TENSOR":
                raise NotImplementedError(f"cannot allocate a kernel argument of kind {kind!r}: {info!r}")
            tensor = tvm.runtime.empty(shape=shape, dtype=dtype, device=device)
            if dtype.startswith(("int", "uint", "bool")) or random_fill is None:
                tensor.copyfrom(np.zeros([int(n) for n in shape], dtype=dtype))
            else:
                random_fill(tensor)
            args.append(tensor)
        repeated.append(args)
    return repeated


def _check_and_time(
    artifact_path: str,
    device_type: str,
    args_info: tuple,
    evaluator_config: Any,
    rtol: float,
    atol: float,
) -> list[float]:
    """In a runner worker: check the candidate's outputs, then time it as MetaSchedule does."""
    import tvm

    from tvm_nacos.tuning.check import run_output_check

    local_runner = ms.runner.local_runner

    device = tvm.runtime.device(device_type, 0)
    run_output_check(artifact_path, device, rtol=rtol, atol=atol)
    rt_mod = tvm.runtime.load_module(artifact_path)
    args = alloc_in_bounds_arguments(device, args_info, 1)
    return local_runner.default_run_evaluator(rt_mod, device, evaluator_config, args)


def _last_line(text: str) -> str:
    """The error itself, without the worker's traceback and, for a mismatch, its class name."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else text
    for prefix in ("tvm_nacos.tuning.check.OutputMismatch: ", "OutputMismatch: "):
        if last.startswith(prefix):
            return last[len(prefix):]
    return last


#: How long :func:`shutdown_runner` waits for a background-started worker to finish starting.
WORKER_START_TIMEOUT_SEC = 60.0


def _worker_ready() -> None:
    """Nothing: submitted to start a runner's worker process."""


@derived_object
class BackgroundStartLocalRunner(ms.runner.LocalRunner._cls):  # type: ignore[name-defined]
    """MetaSchedule's ``LocalRunner``, its worker process started in the background.

    ``LocalRunner`` waits in its constructor until its worker has started and imported TVM
    (about 2.5 s on two cores) to check function names that are Python functions here; this
    one starts the worker and goes on, so that the start overlaps the search's first lowering
    and proposal. Runs queue behind the start; a worker that cannot start fails the first run
    (a failed trial with the reason) instead of the constructor.
    """

    def _sanity_check(self) -> None:
        #: Done once the worker has started (or failed to): :func:`shutdown_runner` waits for it.
        self.worker_started = self.pool.submit(_worker_ready)


@derived_object
class CheckingLocalRunner(ms.runner.PyRunner):
    """Local runner that checks each candidate's outputs against its unscheduled kernel first.

    A candidate whose outputs differ is an error, ``"output mismatch: max abs error X > tol Y
    in argument i of n, ..."``, and is not timed. Like MetaSchedule's ``LocalRunner`` it runs one
    candidate at a time in a worker process; a run that crashes or exceeds the timeout is an
    error and the worker is replaced.

    Parameters
    ----------
    measure : MeasureConfig, optional
        Timing, timeout and tolerances; its ``check_outputs`` must be set.
    """

    def __init__(self, measure: MeasureConfig | None = None) -> None:
        super().__init__()
        self.measure = measure or MeasureConfig(check_outputs=True)
        if not self.measure.check_outputs:
            raise ValueError("CheckingLocalRunner always checks outputs: pass MeasureConfig(check_outputs=True, ...)")
        self._pool: PopenPoolExecutor | None = None
        self.num_mismatches = 0

    def _get_pool(self) -> PopenPoolExecutor:
        if self._pool is None:
            self._pool = PopenPoolExecutor(max_workers=1, timeout=self.measure.timeout_sec)
        return self._pool

    def run(self, runner_inputs: list[Any]) -> list[Any]:
        """Check and time each input; one finished future per input, in order."""
        config = self.measure
        futures = []
        for runner_input in runner_inputs:
            future = self._get_pool().submit(
                _check_and_time,
                str(runner_input.artifact_path),
                str(runner_input.device_type),
                tuple(info.as_json() for info in runner_input.args_info),
                config.evaluator_config(),
                config.check_rtol,
                config.check_atol,
            )
            run_secs, error = None, None
            try:
                run_secs = future.result()
            except TimeoutError:
                error = f"CheckingLocalRunner: run timed out after {config.timeout_sec:g} s; worker replaced"
            except ChildProcessError as err:
                error = f"CheckingLocalRunner: run worker crashed ({err}); worker replaced"
            except Exception as err:
                error = f"CheckingLocalRunner: {_last_line(str(err))}"
                if "output mismatch" in error:
                    self.num_mismatches += 1
            if error is not None:
                logger.debug("%s", error)
            futures.append(ms.runner.LocalRunnerFuture(run_secs, error))
        return futures

    def shutdown(self) -> None:
        """Stop the worker (a later :meth:`run` starts a new one)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __del__(self) -> None:
        try:
            self.shutdown()
        except Exception:
            pass


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
        RPC only: candidates measured at once (the number of devices under the key,
        :func:`resolve_devices`).

    Raises
    ------
    RunnerSpecError
        An unrecognized runner string, or ``check_outputs`` asked of a runner that cannot
        check; the message shows the valid forms.
    """
    if runner is not None and not isinstance(runner, str):
        if measure is not None:
            raise RunnerSpecError(
                f"measure={measure!r} applies to runners made from a name ('local', 'rpc://HOST:PORT/KEY'), "
                f"not to the runner object {type(runner).__name__} given; configure that object instead"
            )
        return runner
    measure = measure or MeasureConfig()
    if runner is None or runner == "local":
        if measure.check_outputs:
            return CheckingLocalRunner(measure)
        return BackgroundStartLocalRunner(
            timeout_sec=measure.timeout_sec,
            evaluator_config=measure.evaluator_config(),
            f_alloc_argument=alloc_in_bounds_arguments,
        )
    if measure.check_outputs:
        raise RunnerSpecError(f"check_outputs runs on the local runner only, not on {runner!r}; use runner='local'")
    if runner.startswith("rpc://"):
        endpoint = RPCEndpoint.parse(runner)
        config = ms.runner.RPCConfig(
            tracker_host=endpoint.host,
            tracker_port=endpoint.port,
            tracker_key=endpoint.key,
            session_timeout_sec=int(max(1, measure.timeout_sec)),
        )
        return ms.runner.RPCRunner(
            rpc_config=config, evaluator_config=measure.evaluator_config(), max_workers=max(1, max_workers),
            f_alloc_argument=alloc_in_bounds_arguments_remote,
        )
    raise RunnerSpecError(
        f"unknown runner {runner!r}; valid: 'local', 'rpc://HOST:PORT/KEY', or an ms.runner.Runner object"
    )


def shutdown_runner(runner: Any) -> None:
    """Stop the worker processes of a runner :func:`make_runner` made.

    MetaSchedule's runners keep a ``PopenPoolExecutor`` and have no method for it. Left running,
    the workers outlive the process that made them (each holds the others' pipes open, so none
    sees its parent exit), and a pool shut down only by the garbage collector can deadlock the
    thread that collects it (TVM's ``PopenPoolExecutor.shutdown`` warns of it).
    """
    if isinstance(runner, CheckingLocalRunner):
        runner.shutdown()
        return
    started = getattr(runner, "worker_started", None)
    if started is not None:
        # A worker still starting cannot be killed: TVM's PopenWorker has its process before its
        # pipes, and kill() then fails on the missing pipe (seen in CI, a runner shut down at once).
        concurrent.futures.wait([started], timeout=WORKER_START_TIMEOUT_SEC)
    pool = getattr(runner, "pool", None)
    if pool is not None and hasattr(pool, "shutdown"):
        pool.shutdown(wait=False)


def is_remote(runner: Any) -> bool:
    """Whether ``runner`` measures somewhere else than this machine: an ``"rpc://..."`` name or
    an ``RPCRunner``."""
    return (isinstance(runner, str) and runner.startswith("rpc://")) or isinstance(runner, ms.runner.RPCRunner)


def tracker_devices(endpoint: RPCEndpoint, timeout_sec: float = 10.0) -> int:
    """Devices registered under ``endpoint.key`` at its tracker now (idle or busy).

    Raises
    ------
    RunnerSpecError
        The tracker does not answer, or no device is registered under the key (the message
        names the keys it has).
    """
    import socket

    from tvm import rpc

    try:
        # A quick probe first: TVM's own client retries a refused connection for a minute.
        socket.create_connection((endpoint.host, endpoint.port), timeout=timeout_sec).close()
        summary = rpc.connect_tracker(endpoint.host, endpoint.port).summary()
    except Exception as err:  # noqa: BLE001 - any failure to reach it is the same problem for the user
        raise RunnerSpecError(
            f"cannot reach the RPC tracker at {endpoint.host}:{endpoint.port} ({err}); start one with "
            f"'python -m tvm.exec.rpc_tracker --host 0.0.0.0 --port {endpoint.port}'"
        ) from None
    queues = summary.get("queue_info", {})
    servers = [info for info in summary.get("server_info", []) if str(info.get("key", "")).split(":")[-1] == endpoint.key]
    count = max(len(servers), int(queues.get(endpoint.key, {}).get("free", 0)))
    if count == 0:
        raise RunnerSpecError(
            f"no device is registered under key {endpoint.key!r} at the tracker {endpoint.host}:{endpoint.port}; "
            f"keys it has: {sorted(queues)}; start one with 'python -m tvm.exec.rpc_server "
            f"--tracker {endpoint.host}:{endpoint.port} --key {endpoint.key}'"
        )
    return count


def resolve_devices(runner: Any, devices: int | None) -> int:
    """How many devices a search keeps busy with ``runner``.

    ``devices`` when given; else the devices under an ``"rpc://HOST:PORT/KEY"`` runner's key at
    its tracker (:func:`tracker_devices`), a runner object's ``num_devices`` attribute, or 1.

    Raises
    ------
    RunnerSpecError
        ``devices`` is not a positive integer, or more than one device is asked of the local
        runner (it measures on this machine, one candidate at a time).
    """
    if devices is not None and (isinstance(devices, bool) or not isinstance(devices, int) or devices < 1):
        raise RunnerSpecError(f"devices must be a positive integer, got {devices!r}")
    if runner is None or runner == "local":
        if devices not in (None, 1):
            raise RunnerSpecError(
                f"the local runner measures on this machine, one candidate at a time: devices must be 1, got {devices}; "
                "for several devices use runner='rpc://HOST:PORT/KEY'"
            )
        return 1
    if devices is not None:
        return devices
    if isinstance(runner, str) and runner.startswith("rpc://"):
        return tracker_devices(RPCEndpoint.parse(runner))
    return max(1, int(getattr(runner, "num_devices", 1)))


def remote_endpoint(runner: Any) -> RPCEndpoint | None:
    """The tracker and key a remote runner measures on (an ``"rpc://..."`` name or an
    ``RPCRunner``), else ``None``."""
    if isinstance(runner, str) and runner.startswith("rpc://"):
        return RPCEndpoint.parse(runner)
    if isinstance(runner, ms.runner.RPCRunner):
        config = runner.rpc_config
        return RPCEndpoint(config.tracker_host, int(config.tracker_port), config.tracker_key)
    return None
