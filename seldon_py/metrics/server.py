"""The metrics HTTP server: ``GET <metrics path>`` on ``--metrics-port``, in a thread of the
supervisor (:class:`MetricsService`; a process of its own would cost a Python interpreter's
memory for a few scrapes a minute).

Each scrape merges the value files of every process (live and archived) into one family per
metric name, adds the process-tree metrics, and encodes the result as Prometheus text 0.0.4 or,
when the ``Accept`` header asks for it, OpenMetrics (prometheus_client's ``choose_encoder``);
gzip when accepted. Any other path answers 404. Access lines are logged (logger
``seldon_py.metrics.access``) when ``--access-log`` or ``--debug`` is on, without the scrapes of
the metrics path itself unless ``FILTER_METRICS_ACCESS_LOGS`` is false.
"""

from __future__ import annotations

import gzip
import logging
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .mpdir import collect_lock
from .process import ProcessTreeCollector

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("seldon_py.metrics.access")


class Exposition:
    """Renders the merged metrics of a multiprocess directory."""

    def __init__(self, directory: str, root_pid: int | None = None) -> None:
        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import choose_encoder
        from prometheus_client.multiprocess import MultiProcessCollector

        self._choose_encoder = choose_encoder
        self.directory = directory
        self.registry = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(self.registry, path=directory)
        if root_pid is not None and os.path.isdir("/proc"):
            self.registry.register(ProcessTreeCollector(root_pid))

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """(body, content type) for a request with this ``Accept`` header."""
        encoder, content_type = self._choose_encoder(accept)
        with collect_lock(self.directory):
            return encoder(self.registry), content_type


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "seldon-py-metrics"
    server: MetricsHTTPServer

    def do_GET(self) -> None:  # noqa: N802
        self._serve(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(send_body=False)

    def _serve(self, send_body: bool) -> None:
        srv = self.server
        if self.path.split("?", 1)[0] != srv.metrics_path:
            self._reply(404, b"Not Found\n", "text/plain; charset=utf-8", send_body)
            return
        try:
            body, content_type = srv.exposition.render(self.headers.get("Accept", ""))
        except Exception as exc:  # noqa: BLE001 - answer 500, keep serving
            logger.error("rendering metrics failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
            self._reply(500, f"metrics unavailable: {exc}\n".encode(), "text/plain; charset=utf-8", send_body)
            return
        encoding = None
        if "gzip" in self.headers.get("Accept-Encoding", "") and len(body) > 1024:
            body, encoding = gzip.compress(body, compresslevel=1), "gzip"
        self._reply(200, body, content_type, send_body, encoding)

    def _reply(self, code: int, body: bytes, content_type: str, send_body: bool,
               encoding: str | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        srv = self.server
        if not srv.access_log:
            return
        if srv.filter_metrics and srv.metrics_path in str(getattr(self, "requestline", "")):
            return
        access_logger.info("%s - %s", self.address_string(), format % args)


class MetricsHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], exposition: Exposition, metrics_path: str,
                 access_log: bool = False, filter_metrics: bool = True) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.exposition = exposition
        self.metrics_path = metrics_path
        self.access_log = access_log
        self.filter_metrics = filter_metrics
        super().__init__(address, _Handler)


class MetricsService:
    """The metrics endpoint served by a thread of the supervisor.

    Built before the supervisor forks (so the modules it needs are shared with the children),
    started after the last fork (a process that forks must not have threads). :meth:`start`
    binds the port and raises ``OSError`` when it cannot; :attr:`error` is set if the serving
    thread ever ends on its own.
    """

    name = "metrics server"

    def __init__(self, settings: Any, root_pid: int, directory: str) -> None:
        self.settings = settings
        self.exposition = Exposition(directory, root_pid)
        self.server: MetricsHTTPServer | None = None
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        s = self.settings
        self.server = MetricsHTTPServer(
            (s.host, s.metrics_port),
            self.exposition,
            s.metrics_path,
            access_log=s.access_log or s.debug,
            filter_metrics=s.filter_metrics_access_logs,
        )
        logger.info("Metrics at http://%s:%d%s", s.host, self.server.server_address[1], s.metrics_path)
        self._thread = threading.Thread(target=self._serve, name="seldon-metrics", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        assert self.server is not None
        try:
            self.server.serve_forever(poll_interval=0.5)
        except BaseException as exc:  # noqa: BLE001 - reported by the supervisor
            self.error = exc

    def stop(self) -> None:
        """Stop accepting scrapes and close the port (idempotent)."""
        server, self.server = self.server, None
        if server is None:
            return
        if self._thread is not None and self._thread.is_alive():
            server.shutdown()
        server.server_close()
