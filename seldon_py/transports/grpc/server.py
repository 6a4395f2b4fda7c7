"""Serving gRPC: one ``grpc.server`` per gRPC worker process, with health, reflection and drain.

Each worker process (``--grpc-workers`` of them, forked by the supervisor) builds its own data
plane, binds ``--grpc-port`` with ``SO_REUSEPORT`` (so the workers share it), starts serving at
once and runs the user's ``load()`` in the background. Standard ``grpc.health.v1`` health answers
``NOT_SERVING`` until ``load()`` has finished, then ``SERVING``; data RPCs answer ``UNAVAILABLE``
meanwhile. On SIGTERM/SIGINT health flips to ``NOT_SERVING`` first, then ``server.stop(grace)``
refuses new calls and lets the accepted ones finish within ``--graceful-timeout``; the process
then exits 0 (the reference's gRPC processes never stop). Each worker also tunes glibc's malloc:
one arena, and payload-sized buffers reused rather than page-faulted in again on every call
(:mod:`seldon_py.util.malloc`).
"""

from __future__ import annotations

import functools
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
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from ...protocol.seldon.handler import SeldonHandler
from ...runtime.runtime import RequestObserver, start_loading
from ...settings import Settings
from ...util.malloc import keep_freed_buffers, limit_arenas
from ...util.signals import event_setter
from .servicer import SERVICE_NAMES, SeldonServicer

logger = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
#: health entries: "" (the whole server, what Kubernetes probes ask) and every Seldon service
HEALTH_SERVICES = ("", *SERVICE_NAMES)


#: streams (server reflection) open at once per gRPC process, each holding a thread of its own
#: beyond ``--grpc-threads``; one more is refused with RESOURCE_EXHAUSTED
MAX_OPEN_STREAMS = 8
#: threads answering health ``Check`` per gRPC process, beside the ``--grpc-threads``
HEALTH_THREADS = 1


def on_pool(behavior: Callable[..., Any], pool: futures.ThreadPoolExecutor) -> Callable[..., Any]:
    """``behavior`` (an RPC method's implementation), run by grpcio on ``pool`` instead of the
    server's own pool: grpcio's per-method ``experimental_thread_pool`` (since grpcio 1.6x; tests
    in tests/transports/grpc check that it still takes effect)."""

    @functools.wraps(behavior)
    def run(*args: Any) -> Any:
        return behavior(*args)

    run.experimental_thread_pool = pool  # type: ignore[attr-defined]
    return run


class BindError(Exception):
    """The gRPC port could not be bound."""


class StreamSlots:
    """A bounded count of open streams: :meth:`take` or refuse, :meth:`give` back."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._free = threading.BoundedSemaphore(limit)

    def take(self, context: grpc.ServicerContext) -> None:
        if not self._free.acquire(blocking=False):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"too many open streams ({self.limit} per process): close one and retry")

    def give(self) -> None:
        self._free.release()


class ReflectionServicer(reflection.ReflectionServicer):
    """Server reflection whose streams are bounded (:class:`StreamSlots`).

    A reflection stream holds a thread for as long as the client keeps it open (grpcurl keeps
    one for the whole command); streams run on a pool of their own (``pool``, :data:`MAX_OPEN_STREAMS`
    threads and one to refuse more), never on the ``--grpc-threads`` of Seldon calls, so open streams never starve unary
    calls and unary calls never starve streams."""

    def __init__(self, service_names: Any, slots: StreamSlots, pool: futures.ThreadPoolExecutor) -> None:
        super().__init__(service_names)
        self._slots = slots
        # an instance attribute: what add_ServerReflectionServicer_to_server registers
        self.ServerReflectionInfo = on_pool(self._bounded_info, pool)  # type: ignore[method-assign]

    def _bounded_info(self, request_iterator: Any, context: Any) -> Any:
        self._slots.take(context)
        try:
            yield from reflection.ReflectionServicer.ServerReflectionInfo(self, request_iterator, context)
        finally:
            self._slots.give()


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
    max_payload_bytes: int = 16 * 1024 * 1024,
    observer: RequestObserver | None = None,
    extra_handlers: Iterable[grpc.GenericRpcHandler] = (),
) -> GrpcServer:
    """Build a server with every Seldon service, health (NOT_SERVING) and reflection, bound to
    ``host:port`` (port 0 picks a free one, see ``.port``). Not started.

    Threads: Seldon calls (and ``extra_handlers``) run on the server's pool of ``threads`` (the
    model's concurrency); reflection streams (which hold a thread each while open) have a pool of
    :data:`MAX_OPEN_STREAMS` (and one thread to refuse more) and health ``Check`` one of
    :data:`HEALTH_THREADS`, so each is served whatever the others are doing. Health ``Watch`` holds no thread (grpcio's
    non-blocking handler). Only ``threads`` threads take Seldon calls, so calls waiting for the
    model wait inside gRPC (their request not yet read into Python), not in parked threads.

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
    health_servicer.Check = on_pool(  # type: ignore[method-assign]
        health_servicer.Check, futures.ThreadPoolExecutor(HEALTH_THREADS, thread_name_prefix="seldon-grpc-health"))
    for name in HEALTH_SERVICES:
        health_servicer.set(name, NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        ReflectionServicer((*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME),
                           StreamSlots(MAX_OPEN_STREAMS),
                           # one thread more than streams: the one that refuses the next stream
                           futures.ThreadPoolExecutor(MAX_OPEN_STREAMS + 1, thread_name_prefix="seldon-grpc-stream")),
        server)
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

    on_signal = event_setter(stop)
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
    limit_arenas()
    keep_freed_buffers()
    dataplane = dataplane_factory()
    try:
        serve(dataplane, settings, observer_factory() if observer_factory else None,
              extra_handlers=extra_handlers() if extra_handlers else ())
    except BindError as exc:
        logger.error("%s", exc)
        raise SystemExit(1) from None
    dataplane.close()
