"""Helpers for the gRPC tests: free ports, data planes, and a real `python -m seldon_py.cli`
process driven over gRPC."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from seldon_py.model.reflection import reflect
from seldon_py.protocol.seldon.handler import DataPlane
from seldon_py.protocol.seldon.metadata import build_metadata
from tests.conftest import free_ports

ROOT = Path(__file__).resolve().parents[3]




def make_dataplane(user: Any, metadata: dict[str, Any] | None = None, **kwargs: Any) -> DataPlane:
    """A loaded DataPlane over ``user`` with default (or given) metadata."""
    if metadata is None:
        metadata, _ = build_metadata({}, {}, None)
    dp = DataPlane(reflect(user), metadata=metadata, **{"transport": "grpc", **kwargs})
    dp.load()
    return dp


class GrpcService:
    """A real `seldon-core-microservice` process (new session) serving ``files`` from a temp dir."""

    def __init__(self, workdir: Path, interface: str, args: list[str], env: dict[str, str] | None) -> None:
        self.http_port, self.grpc_port, self.metrics_port = free_ports(3)
        self.address = f"127.0.0.1:{self.grpc_port}"
        self.log_path = workdir / f"server-{self.grpc_port}.log"
        self._log = open(self.log_path, "wb")
        cmd = [sys.executable, "-m", "seldon_py.cli", interface, "--host", "127.0.0.1",
               "--http-port", str(self.http_port), "--grpc-port", str(self.grpc_port),
               "--metrics-port", str(self.metrics_port), *args]
        self.proc = subprocess.Popen(
            cmd, cwd=workdir, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.channels: list[grpc.Channel] = []

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def channel(self, **options: Any) -> grpc.Channel:
        ch = grpc.insecure_channel(self.address, options=list(options.items()))
        self.channels.append(ch)
        return ch

    def health(self, service: str = "", timeout: float = 1.0) -> int:
        with grpc.insecure_channel(self.address) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout).status

    def wait_serving(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited ({self.proc.returncode}):\n{self.output()}")
            try:
                if self.health() == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"gRPC not SERVING after {timeout}s:\n{self.output()}")

    def session_pids(self) -> list[int]:
        """Live processes of this service's session (what would be left behind)."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == self.proc.pid and fields[0] != "Z":  # session id, state
                pids.append(int(entry))
        return pids

    def stop(self) -> None:
        for ch in self.channels:
            ch.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=5)
        self._log.close()




def start_service(workdir: Path, files: dict[str, str], interface: str, args: list[str] | None = None,
                  env: dict[str, str] | None = None, serving: bool = True) -> GrpcService:
    """Write ``files`` (dedented) into ``workdir`` and start the service there; the caller stops it."""
    for name, text in files.items():
        (workdir / name).write_text(textwrap.dedent(text))
    svc = GrpcService(workdir, interface, args or [], env)
    if serving:
        try:
            svc.wait_serving()
        except BaseException:
            svc.stop()
            raise
    return svc
