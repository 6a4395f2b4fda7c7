"""Serving the REST app: gunicorn (production) or Flask's development server (``--debug``).

The app factory runs in each worker after fork; the user's ``load()`` then runs in a background
thread of that worker (:func:`seldon_py.runtime.runtime.start_loading`, called by the composition
root), so ``/health/ping`` answers at once and ``/health/status`` (readiness) answers 503 until
``load()`` has finished. If ``load()`` raises, the worker exits with gunicorn's boot-error code
and the whole server stops with a clear log line instead of serving a broken model.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from ...settings import Settings

logger = logging.getLogger(__name__)

def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """gunicorn settings derived from ours: the gthread worker always (keep-alive even at 1 thread),
    as :class:`~.worker.ServingWorker`, which spreads kept-alive connections over workers
    (:class:`~.worker.BalancedThreadWorker`) and reads requests in its event loop."""
    opts: dict[str, Any] = {
        "bind": f"{settings.host}:{settings.http_port}",
        "workers": settings.workers,
        "threads": settings.threads,
        "worker_class": "seldon_py.transports.rest.worker.ServingWorker",
        "timeout": settings.timeout,
        "graceful_timeout": settings.graceful_timeout,
        "keepalive": settings.keepalive,
        "max_requests": settings.max_requests,
        "max_requests_jitter": settings.max_requests_jitter,
        "loglevel": settings.log_level.lower(),
        "accesslog": "-" if settings.access_log else None,
        "limit_request_line": 0,
        "proc_name": f"seldon-rest:{settings.interface_name}",
        "control_socket_disable": True,
    }
    return opts


class GunicornServer(BaseApplication):
    """A gunicorn application that builds the Flask app with ``app_factory`` in each worker."""

    def __init__(self, app_factory: Callable[[], Flask], options: dict[str, Any],
                 max_payload_bytes: int | None = None) -> None:
        self._factory = app_factory
        self._options = options
        #: read by :class:`~.worker.ServingWorker` (413 on Content-Length before reading the body)
        self.max_payload_bytes = max_payload_bytes
        super().__init__()

    def run(self) -> None:
        from .worker import DrainingArbiter

        try:
            DrainingArbiter(self).run()
        except RuntimeError as exc:
            logger.error("%s", exc)
            raise SystemExit(1) from None

    def load_config(self) -> None:
        for key, value in self._options.items():
            if value is not None and key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Flask:  # type: ignore[override]  # a Flask app is a WSGI app; the stub's type is narrower
        return self._factory()


def run_rest(settings: Settings, app_factory: Callable[[], Flask],
             hooks: dict[str, Any] | None = None) -> None:
    """Serve REST in this process until told to stop (blocks). ``hooks``: gunicorn server hooks."""
    if settings.debug:
        app = app_factory()
        # werkzeug's server stops on KeyboardInterrupt; make SIGTERM behave like Ctrl-C
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            app.run(host=settings.host, port=settings.http_port,
                    threaded=not settings.single_threaded, use_reloader=False)
        except KeyboardInterrupt:
            pass
        return
    GunicornServer(app_factory, {**gunicorn_options(settings), **(hooks or {})},
                   settings.max_payload_bytes).run()
