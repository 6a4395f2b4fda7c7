"""Payload logging: CloudEvents (binary mode, spec 1.0) POSTed to a node's ``logger.url`` or
``REQUEST_LOGGER_DEFAULT_ENDPOINT``, off the request path.

A request only puts a reference to the message on a bounded queue (``put_nowait``: never blocks,
never waits); when the queue is full the event is dropped and counted. One sender thread encodes
each event as JSON and POSTs it with the write timeout; an event that cannot be delivered is
dropped and counted too (no retries: the queue would grow behind a dead sink).

Event headers: ``Ce-Specversion: 1.0``, ``Ce-Id`` (new UUID), ``Ce-Source``, ``Ce-Type``
(``io.seldon.serving.inference.request`` / ``.response``, ``io.seldon.serving.feedback``),
``Ce-Time`` and the Seldon extensions ``Ce-Modelid`` (node name), ``Ce-Requestid`` (puid),
``Ce-Inferenceservicename`` (deployment), ``Ce-Namespace``, ``Ce-Endpoint`` (predictor).
"""

from __future__ import annotations

import datetime
import http.client
import logging
import queue
import threading
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

from ..graph import messages
from ..graph.spec import GraphNode
from ..graph.walker import CallContext

logger = logging.getLogger(__name__)

REQUEST = "io.seldon.serving.inference.request"
RESPONSE = "io.seldon.serving.inference.response"
FEEDBACK = "io.seldon.serving.feedback"
_STOP = object()


class PayloadLogger:
    """A :class:`~seldon_py.graph.walker.WalkObserver` that ships payload-log events."""

    def __init__(self, default_url: str | None, deployment: str, namespace: str, predictor: str,
                 source: str, queue_size: int, write_timeout_s: float,
                 on_drop: Callable[[str], None]) -> None:
        self.default_url = default_url
        self.static = {
            "Ce-Specversion": "1.0",
            "Ce-Source": source,
            "Ce-Inferenceservicename": deployment,
            "Ce-Namespace": namespace,
            "Ce-Endpoint": predictor,
        }
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, queue_size))
        self.write_timeout_s = write_timeout_s
        self.on_drop = on_drop
        self._conns: dict[tuple[str, str, int], http.client.HTTPConnection] = {}
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------- walk observer
    def _url(self, node: GraphNode) -> str | None:
        if node.logger is None:
            return None
        return node.logger.url or self.default_url

    def node_request(self, node: GraphNode, msg: Any, ctx: CallContext) -> None:
        if node.logger is not None and node.logger.requests:
            self._put(node, REQUEST, msg, ctx)

    def node_response(self, node: GraphNode, msg: Any, ctx: CallContext) -> None:
        if node.logger is not None and node.logger.responses:
            self._put(node, RESPONSE, msg, ctx)

    def node_feedback(self, node: GraphNode, fb: Any, ctx: CallContext) -> None:
        if node.logger is not None:
            self._put(node, FEEDBACK, fb, ctx)

    def _put(self, node: GraphNode, ce_type: str, msg: Any, ctx: CallContext) -> None:
        url = self._url(node)
        if url is None:
            return
        try:
            self.queue.put_nowait((url, ce_type, node.name, ctx.puid, msg))
        except queue.Full:
            self.on_drop("queue_full")

    # ----------------------------------------------------------- sender
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="payload-logger", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Deliver what is queued (within ``timeout`` seconds), then stop."""
        if self._thread is None:
            return
        try:
            self.queue.put(_STOP, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP:
                return
            try:
                self._send(*item)
            except Exception as exc:  # noqa: BLE001 - a sink's failure must never stop logging
                logger.warning("payload log to %s failed: %s: %s", item[0], type(exc).__name__, exc)
                self.on_drop("send_failed")

    def _send(self, url: str, ce_type: str, node: str, puid: str, msg: Any) -> None:
        body = messages.to_json_bytes(msg)
        headers = {
            **self.static,
            "Content-Type": "application/json",
            "Ce-Id": str(uuid.uuid4()),
            "Ce-Type": ce_type,
            "Ce-Time": datetime.datetime.now(datetime.UTC).isoformat(),
            "Ce-Modelid": node,
            "Ce-Requestid": puid,
        }
        parts = urllib.parse.urlsplit(url)
        https = parts.scheme == "https"
        key = (parts.scheme, parts.hostname or "", parts.port or (443 if https else 80))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for attempt in (0, 1):
            conn = self._conns.get(key)
            fresh = conn is None
            if conn is None:
                cls = http.client.HTTPSConnection if https else http.client.HTTPConnection
                conn = cls(key[1], key[2], timeout=self.write_timeout_s)
                self._conns[key] = conn
            try:
                conn.request("POST", path, body, headers)
                resp = conn.getresponse()
                resp.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                conn.close()
                del self._conns[key]
                if fresh or attempt:
                    raise
                continue  # a kept-alive connection the sink had closed: once more on a new one
            if resp.status >= 300:
                raise RuntimeError(f"sink answered HTTP {resp.status}")
            return
