"""Start TVM's RPC tracker and servers on this machine (loopback), for tests and trials.

Real deployments run ``python -m tvm.exec.rpc_tracker`` on one host and
``python -m tvm.exec.rpc_server --tracker HOST:PORT --key KEY`` on every device; this does the
same as child processes of the caller, bound to 127.0.0.1.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from types import TracebackType

from tvm_nacos.errors import NacosError
from tvm_nacos.tuning.runner import RPCEndpoint

logger = logging.getLogger(__name__)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalRPCCluster:
    """A tracker and ``num_servers`` servers on loopback, stopped on exit.

    Parameters
    ----------
    num_servers : int
        RPC servers registered under ``key``.
    key : str
        Device key.
    start_timeout_sec : float
        How long to wait for every server to register.

    Examples
    --------
    .. code-block:: python

        with LocalRPCCluster(num_servers=2) as cluster:
            runner = make_runner(cluster.endpoint.url, max_workers=2)
    """

    def __init__(self, num_servers: int = 2, key: str = "nacos-local", start_timeout_sec: float = 60.0) -> None:
        self.num_servers = num_servers
        self.key = key
        self.start_timeout_sec = start_timeout_sec
        self.endpoint: RPCEndpoint | None = None
        self._procs: list[subprocess.Popen] = []
        self._log = tempfile.TemporaryFile(mode="w+")

    def __enter__(self) -> LocalRPCCluster:
        port = _free_port()
        tracker = [sys.executable, "-m", "tvm.exec.rpc_tracker", "--host", "127.0.0.1", "--port", str(port), "--port-end", str(port + 1)]
        self._procs.append(subprocess.Popen(tracker, stdout=subprocess.DEVNULL, stderr=self._log, start_new_session=True))
        self.endpoint = RPCEndpoint("127.0.0.1", port, self.key)
        self._wait_for_tracker()
        for _ in range(self.num_servers):
            server_port = _free_port()
            server = [
                sys.executable, "-m", "tvm.exec.rpc_server", "--host", "127.0.0.1", "--port", str(server_port), "--port-end", str(server_port + 1),
                "--tracker", f"127.0.0.1:{port}", "--key", self.key,
            ]
            self._procs.append(subprocess.Popen(server, stdout=subprocess.DEVNULL, stderr=self._log, start_new_session=True))
        self._wait_for_servers()
        logger.info("RPC tracker at %s with %d servers", self.endpoint.url, self.num_servers)
        return self

    def _wait_for_tracker(self) -> None:
        deadline = time.monotonic() + self.start_timeout_sec
        while time.monotonic() < deadline and self._procs[0].poll() is None:
            try:
                with socket.create_connection((self.endpoint.host, self.endpoint.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        self._fail(f"RPC tracker did not start on port {self.endpoint.port} within {self.start_timeout_sec} s")

    def _fail(self, message: str) -> None:
        self.close()
        self._log.seek(0)
        tail = self._log.read()[-2000:]
        raise NacosError(f"{message}; its output ends with:\n{tail}")

    def free_servers(self) -> int:
        """Servers currently registered (and idle) under the key."""
        from tvm import rpc

        summary = rpc.connect_tracker(self.endpoint.host, self.endpoint.port).summary()
        queue = summary.get("queue_info", {}).get(self.key, {})
        return int(queue.get("free", 0))

    def _wait_for_servers(self) -> None:
        deadline = time.monotonic() + self.start_timeout_sec
        while time.monotonic() < deadline:
            if self.free_servers() >= self.num_servers:
                return
            time.sleep(0.5)
        self._fail(f"{self.num_servers} RPC servers did not register within {self.start_timeout_sec} s")

    def kill_server(self, index: int) -> None:
        """SIGKILL server ``index`` (0-based) and its session workers: a device dropping out."""
        if not 0 <= index < len(self._procs) - 1:
            raise IndexError(f"server {index} of {len(self._procs) - 1}")
        proc = self._procs[1 + index]
        _signal_group(proc, signal.SIGKILL)
        proc.wait(timeout=10)

    def close(self) -> None:
        """Stop every process, with the workers each server started (its process group)."""
        for proc in reversed(self._procs):
            _signal_group(proc, signal.SIGTERM)
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            _signal_group(proc, signal.SIGKILL)  # a server's session workers outlive it otherwise
        self._procs.clear()

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the process group ``proc`` leads (started with ``start_new_session``)."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
