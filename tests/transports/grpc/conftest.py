"""Fixtures for the gRPC tests: an in-process server over a DataPlane, and a real
`python -m seldon_py.cli` process, both on free loopback ports and always stopped at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from seldon_py.protocol.seldon.handler import DataPlane
from seldon_py.runtime.runtime import RequestObserver
from seldon_py.transports.grpc.server import GrpcServer, create_grpc_server

from .helpers import GrpcService, make_dataplane, start_service


@pytest.fixture
def grpc_server() -> Iterator[Callable[..., tuple[grpc.Channel, GrpcServer]]]:
    """grpc_server(user, observer=None, max_payload_bytes=..., dataplane=None) → (channel, server):
    a started in-process server, SERVING, stopped at teardown."""
    started: list[tuple[grpc.Channel, GrpcServer]] = []

    def start(user: Any = None, observer: RequestObserver | None = None,
              max_payload_bytes: int = 100 << 20, dataplane: DataPlane | None = None,
              threads: int = 4, serving: bool = True) -> tuple[grpc.Channel, GrpcServer]:
        dp = dataplane if dataplane is not None else make_dataplane(user)
        srv = create_grpc_server(dp, host="127.0.0.1", port=0, threads=threads,
                                 max_payload_bytes=max_payload_bytes, observer=observer)
        srv.server.start()
        if serving:
            srv.set_serving()
        channel = grpc.insecure_channel(
            f"127.0.0.1:{srv.port}",
            options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
        )
        started.append((channel, srv))
        return channel, srv

    yield start
    for channel, srv in started:
        channel.close()
        srv.server.stop(None)


@pytest.fixture
def grpc_service(tmp_path: Path) -> Iterator[Callable[..., GrpcService]]:
    """grpc_service(files, interface, args=[], env=None, serving=True) → a started GrpcService;
    every process it started is killed at teardown."""
    started: list[GrpcService] = []

    def start(files: dict[str, str], interface: str, args: list[str] | None = None,
              env: dict[str, str] | None = None, serving: bool = True) -> GrpcService:
        svc = start_service(tmp_path, files, interface, args, env, serving=False)
        started.append(svc)
        if serving:
            svc.wait_serving()
        return svc

    yield start
    for svc in started:
        svc.stop()
