"""``seldon-core-executor``: the composition root of the graph executor.

Start-up (in the parent, before anything listens): settings → the predictor (``--file`` or
``ENGINE_PREDICTOR``) → class map → import, construct and reflect the in-process nodes' classes →
check every other node has an endpoint. Any problem ends the process with one line naming it.

Serving: gunicorn's arbiter with one threaded worker (``--threads`` request threads). The worker
builds the :class:`~.core.Executor` (connection pools, gRPC channels, payload logger, in-process
nodes' ``load()``) and also serves gRPC. On SIGTERM the gRPC server stops taking calls and both
transports finish their in-flight requests within ``--graceful_timeout``; the process exits 0.
One worker keeps pools, metrics and the payload-log queue in one place; the executor mostly waits
on nodes, so one process with threads carries its load.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Sequence
from typing import Any

from gunicorn.app.base import BaseApplication

from ..graph.spec import (
    GraphError,
    Predictor,
    check_endpoints,
    decode_engine_predictor,
    parse_deployment,
    parse_predictor,
)
from ..settings import ANNOTATIONS_PATH, ConfigError
from ..transports.rest.worker import ServingWorker
from . import config
from .config import PROG, ExecutorSettings
from .inprocess import LocalUnit

logger = logging.getLogger("seldon_py.executor")
LOG_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def _load_document(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise GraphError(f"cannot read {path}: {exc.strerror or exc}") from None
    if path.endswith(".json") or text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise GraphError(f"{path} is not valid JSON: {exc}") from None
    import yaml

    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise GraphError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    sdeps = [d for d in docs if isinstance(d, dict) and d.get("kind") in ("SeldonDeployment", None)]
    if len(sdeps) != 1:
        raise GraphError(f"{path} must hold exactly one SeldonDeployment (found {len(sdeps)})")
    return sdeps[0]


def load_predictor(s: ExecutorSettings) -> Predictor:
    transport = s.transport.upper()
    if s.file:
        return parse_deployment(_load_document(s.file), s.predictor, transport)
    assert s.engine_predictor is not None
    return parse_predictor(decode_engine_predictor(s.engine_predictor), s.sdep or "", s.namespace or "",
                           default_transport=transport)


def load_class_map(s: ExecutorSettings, predictor: Predictor) -> dict[str, LocalUnit]:
    if not s.class_map:
        return {}
    from .inprocess import build_inprocess, parse_class_map

    doc = _load_document_any(s.class_map)
    by_node, by_image = parse_class_map(doc, os.path.dirname(os.path.abspath(s.class_map)))
    unknown = sorted(set(by_node) - {n.name for n in predictor.nodes()})
    if unknown:  # a class map may serve several predictors: say so, do not refuse
        logger.warning("class map names nodes not in predictor %r: %s", predictor.name, ", ".join(unknown))
    return build_inprocess(predictor, by_node, by_image)


def _load_document_any(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise GraphError(f"cannot read class map {path}: {exc.strerror or exc}") from None
    import yaml

    try:
        return yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        raise GraphError(f"class map {path} is not valid YAML/JSON: {str(exc).splitlines()[0]}") from None


def prepare(s: ExecutorSettings) -> tuple[Predictor, dict[str, LocalUnit]]:
    predictor = load_predictor(s)
    config.apply_annotations(s, predictor.annotations)
    dataplanes = load_class_map(s, predictor)
    check_endpoints(predictor, set(dataplanes), s.transport)
    return predictor, dataplanes


def _check_port_free(host: str, port: int, what: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} for {what}: {exc.strerror or exc}") from None


# ---------------------------------------------------------------------------------- serving
class ExecutorWorker(ServingWorker):
    """The microservice's REST worker (request heads and small bodies are read in the event loop,
    so slow or unfinished requests never hold a thread: 408 after a while; 413 on a too large
    Content-Length before the body is read; connections queued when stopping are answered, not
    reset); on SIGTERM it also starts draining gRPC at once."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        drain = getattr(self.wsgi, "begin_shutdown", None)
        if drain is not None:
            threading.Thread(target=drain, name="grpc-drain", daemon=True).start()
        super().handle_exit(sig, frame)


class ServingApp:
    """What the worker serves: the REST app (WSGI) plus the gRPC server beside it."""

    def __init__(self, s: ExecutorSettings, predictor: Predictor, dataplanes: dict[str, LocalUnit]) -> None:
        from .core import Executor
        from .grpc_server import GrpcIngress
        from .rest import ExecutorApp

        self.settings = s
        self.executor = Executor(s, predictor, dataplanes)
        self.rest = ExecutorApp(self.executor)
        self.grpc = GrpcIngress(self.executor, s.host, s.grpc_port, s.threads)
        self.executor.start(on_load_failure=_stop_on_load_failure)
        self.grpc.start()
        self._drained = threading.Event()
        self._lock = threading.Lock()
        self._draining = False
        logger.info("serving predictor %r (%d nodes: %s) on http://%s:%d and gRPC %s", predictor.name,
                    len(predictor.nodes()),
                    ", ".join(_describe(n.name, dataplanes, predictor) for n in predictor.nodes()),
                    s.host, s.http_port, self.grpc.address)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.rest(environ, start_response)

    def begin_shutdown(self) -> None:
        with self._lock:
            if self._draining:
                return
            self._draining = True
        self.grpc.stop(float(self.settings.graceful_timeout))
        self._drained.set()

    def finish(self) -> None:
        self.begin_shutdown()
        self._drained.wait(self.settings.graceful_timeout + 2)
        self.executor.close(timeout=2.0)


#: gunicorn's exit code for "worker failed to boot": the arbiter then stops instead of respawning
WORKER_BOOT_ERROR = 3


def _stop_on_load_failure(node: str, exc: BaseException) -> None:
    """An in-process node that cannot load stops the executor (as the microservice stops), so
    Kubernetes restarts the pod rather than keep one that can never be ready."""
    logger.error("stopping: in-process node %r failed to load (%s: %s)", node, type(exc).__name__, exc)
    logging.shutdown()
    os._exit(WORKER_BOOT_ERROR)


def _describe(name: str, dataplanes: dict[str, LocalUnit], predictor: Predictor) -> str:
    node = predictor.node(name)
    assert node is not None
    if node.builtin:
        return f"{name}=built-in {node.builtin}"
    if name in dataplanes:
        return f"{name}=in-process"
    ep = node.endpoint
    assert ep is not None
    return f"{name}={ep.host or 'localhost'}:{ep.rest_port or '-'}/{ep.grpc_port or '-'}"


class _Gunicorn(BaseApplication):
    def __init__(self, s: ExecutorSettings, predictor: Predictor, dataplanes: dict[str, LocalUnit]) -> None:
        self.s, self.predictor, self.dataplanes = s, predictor, dataplanes
        #: read by the worker: 413 on a Content-Length above it, before the body is read
        self.max_payload_bytes = s.max_payload_bytes
        super().__init__()

    def load_config(self) -> None:
        host = f"[{self.s.host}]" if ":" in self.s.host else self.s.host

        def worker_exit(_server: Any, worker: Any) -> None:
            app = getattr(worker, "wsgi", None)
            if isinstance(app, ServingApp):
                app.finish()

        opts = {
            "bind": f"{host}:{self.s.http_port}",
            "workers": 1,
            "threads": self.s.threads,
            "worker_class": "seldon_py.executor.main.ExecutorWorker",
            "graceful_timeout": self.s.graceful_timeout,
            "timeout": 60,
            "keepalive": 75,
            "loglevel": self.s.log_level.lower(),
            "accesslog": None,
            "proc_name": f"seldon-executor:{self.predictor.name}",
            "control_socket_disable": True,
            "worker_exit": worker_exit,
        }
        for key, value in opts.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Any:
        return ServingApp(self.s, self.predictor, self.dataplanes)

    def run(self) -> None:
        from ..transports.rest.worker import DrainingArbiter

        try:
            DrainingArbiter(self).run()
        except RuntimeError as exc:  # gunicorn's "cannot bind" and the like
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            sys.exit(1)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    annotations_path = os.environ.get("SELDON_EXECUTOR_ANNOTATIONS_FILE", ANNOTATIONS_PATH)
    try:
        with open(annotations_path, encoding="utf-8") as fh:
            annotations = fh.read()
    except OSError:
        annotations = ""
    try:
        s = config.parse(args, os.environ, annotations)
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        print(f"Run '{PROG} --help' for the options.", file=sys.stderr)
        return 2
    logging.basicConfig(level=s.log_level, format=LOG_FORMAT, stream=sys.stderr, force=True)
    try:
        predictor, dataplanes = prepare(s)
        _check_port_free(s.host, s.http_port, "REST")
        _check_port_free(s.host, s.grpc_port, "gRPC")
    except (GraphError, ConfigError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    _Gunicorn(s, predictor, dataplanes).run()
    return 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
