"""Serving gRPC: one ``grpc.server`` per gRPC worker process, with health, reflection and drain.

Each worker process (``--grpc-workers`` of them, forked by the supervisor) builds its own data
plane, binds ``--grpc-port`` with ``SO_REUSEPORT`` (so the workers share it), starts serving at
once and runs the user's ``load()`` in the background. Standard ``grpc.health.v1`` health answers
``NOT_SERVING`` until ``load()`` has finished, then ``SERVING``; data RPCs answer ``UNAVAILABLE``
meanwhile. On SIGTERM/SIGINT health flips to ``NOT_SERVING`` first, then ``server.stop(grace)``
refuses new calls and lets the accepted ones finish within ``--graceful-timeout``; the process
then exits 0 (the reference's gRPC processes never stop). Each worker also tunes glibc's malloc
so payload-sized buffers are reused rather than page-faulted in again on every call
(:func:`tune_malloc`).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ...protocol.seldon.handler import SeldonHandler
from ...runtime.runtime import RequestObserver, start_loading
from ...settings import Settings
from .servicer import SERVICE_NAMES, SeldonServicer

logger = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
#: health entries: "" (the whole server, what Kubernetes probes ask) and every Seldon service
HEALTH_SERVICES = ("", *SERVICE_NAMES)


class BindError(Exception):
    """The gRPC port could not be bound."""


#: glibc mallopt parameters
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MALLOC_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_ARENA_MAX")


def tune_malloc(mmap_threshold: int = 32 << 20, trim_threshold: int = 128 << 20) -> bool:
    """Let glibc reuse freed payload-sized buffers instead of returning them to the kernel.

    With the defaults, every buffer above ~128 KiB freed by a gRPC thread goes back to the kernel
    (munmap, or madvise on a thread arena) and the next request page-faults it in again: for a
    100k-double tensor that roughly doubles the server's CPU per call. Skipped if the user set any
    ``MALLOC_*`` tuning variable or the C library has no ``mallopt``. Returns whether it applied.
    """
    if any(var in os.environ for var in _MALLOC_ENV):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))


def server_options(max_payload_bytes: int) -> list[tuple[str, Any]]:
    return [
        ("grpc.so_reuseport", 1),
        ("grpc.max_send_message_length", max_payload_bytes),
        ("grpc.max_receive_message_length", max_payload_bytes),
    ]


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


class HealthServicer(health.HealthServicer):
    """The standard health servicer, plus ending open ``Watch`` streams on shutdown: they are
    RPCs too, and ``server.stop(grace)`` would otherwise wait the whole grace period for them."""

    def shutdown(self) -> None:
        """Every service NOT_SERVING (sent to watchers), then close the watch streams."""
        self.enter_graceful_shutdown()
        # grpc_health's private state (not in its stubs); tests/transports/grpc pin the behaviour
        with self._lock:  # type: ignore[attr-defined]
            callbacks = [cb for cbs in self._send_response_callbacks.values()  # type: ignore[attr-defined]
                         for cb in list(cbs)]
        for callback in callbacks:
            callback(None)


@dataclass
class GrpcServer:
    """A built (not yet started) server and the handles needed to run and stop it."""

    server: grpc.Server
    health: HealthServicer
    servicer: SeldonServicer
    port: int

    def set_serving(self) -> None:
        for name in HEALTH_SERVICES:
            self.health.set(name, SERVING)

    def stop(self, grace: float) -> None:
        """Health → NOT_SERVING, refuse new calls, wait up to ``grace`` s for accepted ones."""
        self.health.shutdown()
        self.server.stop(grace).wait()


def create_grpc_server(
    dataplane: SeldonHandler,
    *,
    host: str = "0.0.0.0",
    port: int = 5000,
    threads: int = 1,
    max_payload_bytes: int = 100 * 1024 * 1024,
    observer: RequestObserver | None = None,
    extra_handlers: Iterable[grpc.GenericRpcHandler] = (),
) -> GrpcServer:
    """Build a server with every Seldon service, health (NOT_SERVING) and reflection, bound to
    ``host:port`` (port 0 picks a free one, see ``.port``). Not started.

    ``extra_handlers``: more gRPC services next to Seldon's (the extension point for another
    protocol or model convention, e.g. a user object's ``grpc_handlers()``)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="seldon-grpc"),
        options=server_options(max_payload_bytes),
    )
    servicer = SeldonServicer(dataplane, observer, max_payload_bytes=max_payload_bytes)
    servicer.register(server)
    extra = tuple(extra_handlers)
    if extra:
        server.add_generic_rpc_handlers(extra)
    health_servicer = HealthServicer()
    for name in HEALTH_SERVICES:
        health_servicer.set(name, NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = bind_address(host, port)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise BindError(f"cannot bind gRPC to {address}: {exc}") from None
    if not bound:
        raise BindError(f"cannot bind gRPC to {address}")
    return GrpcServer(server, health_servicer, servicer, bound)


def serve(
    dataplane: SeldonHandler,
    settings: Settings,
    observer: RequestObserver | None = None,
    on_started: Callable[[GrpcServer], None] | None = None,
    extra_handlers: Iterable[grpc.GenericRpcHandler] = (),
) -> None:
    """Serve gRPC in this process until SIGTERM/SIGINT, then drain and return (blocks).

    Must run in the main thread (it installs the signal handlers). ``load()`` runs in the
    background; health turns SERVING when it has finished, unless a stop came first.
    """
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    srv = create_grpc_server(
        dataplane,
        host=settings.host,
        port=settings.grpc_port,
        threads=settings.grpc_threads,
        max_payload_bytes=settings.max_payload_bytes,
        observer=observer,
        extra_handlers=extra_handlers,
    )
    srv.server.start()
    logger.info("gRPC server (pid %d) listening on %s, %d thread(s)", os.getpid(),
                bind_address(settings.host, srv.port), settings.grpc_threads)
    if on_started is not None:
        on_started(srv)
    start_loading(dataplane.runtime, "gRPC server")

    while not stop.is_set():
        if dataplane.runtime.ready.wait(0.05):
            if not stop.is_set():
                srv.set_serving()
            break
    stop.wait()
    logger.info("gRPC server (pid %d) draining: up to %ds for in-flight calls",
                os.getpid(), settings.graceful_timeout)
    srv.stop(settings.graceful_timeout)
    logger.info("gRPC server (pid %d) stopped", os.getpid())


def run_grpc(settings: Settings, dataplane_factory: Callable[[], SeldonHandler],
             observer_factory: Callable[[], RequestObserver] | None = None,
             extra_handlers: Callable[[], Iterable[grpc.GenericRpcHandler]] | None = None) -> None:
    """Entry point of a gRPC worker process (forked by the supervisor)."""
    tune_malloc()
    dataplane = dataplane_factory()
    try:
        serve(dataplane, settings, observer_factory() if observer_factory else None,
              extra_handlers=extra_handlers() if extra_handlers else ())
    except BindError as exc:
        logger.error("%s", exc)
        raise SystemExit(1) from None
