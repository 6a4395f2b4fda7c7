"""The executor's settings: parsed once from argv, the environment and the pod annotations.

Flag names follow the Go executor (``--http_port``); the dashed spellings (``--http-port``) are
accepted too. Nothing here does I/O; :func:`parse` gets the environment and annotations text.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..settings import (
    DEFAULT_MAX_PAYLOAD_BYTES,  # one limit for the nodes and the executor
    ConfigError,
    parse_bool,
    read_annotations,
)

PROG = "seldon-core-executor"
#: per-hop timeouts when no annotation sets them (the Go executor has none: a hung node hangs the request)
DEFAULT_REST_TIMEOUT_MS = 30_000
DEFAULT_GRPC_TIMEOUT_MS = 30_000
DEFAULT_LOGGER_QUEUE = 10_000
DEFAULT_LOGGER_WRITE_TIMEOUT_MS = 2_000


@dataclass
class ExecutorSettings:
    file: str | None = None
    predictor: str | None = None
    sdep: str | None = None
    namespace: str | None = None
    host: str = "0.0.0.0"
    http_port: int = 8080
    grpc_port: int = 5000
    protocol: str = "seldon"
    transport: str = "rest"
    prometheus_path: str = "/metrics"
    full_health_checks: bool = False
    class_map: str | None = None
    threads: int = 32
    graceful_timeout: int = 15
    log_level: str = "INFO"
    engine_predictor: str | None = None  # ENGINE_PREDICTOR
    logger_default_endpoint: str | None = None  # REQUEST_LOGGER_DEFAULT_ENDPOINT
    inject_routing: bool = False  # SELDON_ENABLE_ROUTING_INJECTION
    annotations: dict[str, str] = field(default_factory=dict)
    rest_timeout_ms: int = DEFAULT_REST_TIMEOUT_MS
    grpc_timeout_ms: int = DEFAULT_GRPC_TIMEOUT_MS
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    logger_queue_size: int = DEFAULT_LOGGER_QUEUE
    logger_write_timeout_ms: int = DEFAULT_LOGGER_WRITE_TIMEOUT_MS

    def node_timeout_s(self, node: str, transport: str) -> float:
        """The per-hop timeout for ``node``: annotation ``seldon.io/<transport>-timeout.<node>``
        if set, else the graph-wide ``seldon.io/<transport>-timeout``, else the default."""
        key = f"seldon.io/{transport}-timeout"
        own = self.annotations.get(f"{key}.{node}")
        if own is not None:
            return _ms(own, f"annotation {key}.{node}") / 1000.0
        return (self.rest_timeout_ms if transport == "rest" else self.grpc_timeout_ms) / 1000.0


def _ms(value: str, what: str) -> int:
    try:
        ms = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{what}: {value!r} is not a whole number of milliseconds") from None
    if ms <= 0:
        raise ConfigError(f"{what}: {ms} must be a positive number of milliseconds")
    return ms


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise ConfigError(message)


def _flag(p: argparse.ArgumentParser, name: str, **kw: Any) -> None:
    """``--a_b`` (the Go executor's spelling) and ``--a-b``."""
    spellings = [f"--{name}"]
    if "_" in name:
        spellings.append(f"--{name.replace('_', '-')}")
    p.add_argument(*spellings, dest=name, **kw)


def _bool(value: str) -> bool:
    try:
        return parse_bool(value, "flag")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Serve a SeldonDeployment predictor's inference graph (Seldon Core executor, in Python). "
        "The graph comes from --file (a SeldonDeployment, YAML or JSON) or from ENGINE_PREDICTOR "
        "(base64 JSON of one predictor, as the Seldon operator passes it).",
        epilog="Environment: ENGINE_PREDICTOR, REQUEST_LOGGER_DEFAULT_ENDPOINT, SELDON_ENABLE_ROUTING_INJECTION, "
        "SELDON_EXECUTOR_ANNOTATIONS_FILE (default /etc/podinfo/annotations). Annotations: seldon.io/rest-timeout, "
        "seldon.io/grpc-timeout (ms, per hop; .<node> suffix for one node), seldon.io/grpc-max-message-size, "
        "seldon.io/executor-logger-queue-size, seldon.io/executor-logger-write-timeout-ms.",
    )
    _flag(p, "file", help="SeldonDeployment file (YAML or JSON)")
    _flag(p, "predictor", help="predictor to serve (needed when the deployment has several)")
    _flag(p, "sdep", help="deployment name (metrics labels, payload-log events); default: from the file")
    _flag(p, "namespace", help="namespace (payload-log events); default: from the file")
    _flag(p, "host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    _flag(p, "http_port", type=int, default=8080, help="REST port (default 8080)")
    _flag(p, "grpc_port", type=int, default=5000, help="gRPC port (default 5000)")
    _flag(p, "protocol", default="seldon", help="only 'seldon' is supported (default seldon)")
    _flag(p, "transport", default="rest", choices=["rest", "grpc"],
          help="transport of nodes whose endpoint names none (hops otherwise use the ingress transport; "
          "default rest)")
    _flag(p, "prometheus_path", default="/metrics", help="path of the Prometheus metrics (default /metrics)")
    _flag(p, "full_health_checks", nargs="?", const=True, default=False, type=_bool, metavar="BOOL",
          help="/ready also asks every node's health endpoint, not just whether it accepts connections")
    _flag(p, "class_map", metavar="FILE",
          help="YAML/JSON file naming the Python classes of nodes to run in this process")
    _flag(p, "threads", type=int, default=32, help="request threads, REST and gRPC each (default 32)")
    _flag(p, "graceful_timeout", type=int, default=15,
          help="seconds to finish in-flight requests on SIGTERM (default 15)")
    _flag(p, "log_level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], type=str.upper,
          help="log level (default INFO)")
    return p


def _annotation_int(annotations: Mapping[str, str], key: str, default: int) -> int:
    value = annotations.get(key)
    return default if value is None else _ms(value, f"annotation {key}")


def parse(argv: Sequence[str], env: Mapping[str, str], annotations_text: str = "") -> ExecutorSettings:
    """argv (without the program name) + environment + annotations file text → settings, or ConfigError."""
    args = build_parser().parse_args(list(argv))
    s = ExecutorSettings()
    for name in ("file", "predictor", "sdep", "namespace", "host", "http_port", "grpc_port", "protocol",
                 "transport", "prometheus_path", "full_health_checks", "class_map", "threads",
                 "graceful_timeout", "log_level"):
        setattr(s, name, getattr(args, name))
    if s.protocol != "seldon":
        raise ConfigError(f"--protocol {s.protocol!r} is not supported (only 'seldon')")
    for name in ("http_port", "grpc_port"):
        if not 0 < getattr(s, name) < 65536:
            raise ConfigError(f"--{name}: {getattr(s, name)} is not a port number")
    if s.http_port == s.grpc_port:
        raise ConfigError(f"--http_port and --grpc_port are both {s.http_port}")
    if s.threads < 1 or s.graceful_timeout < 0:
        raise ConfigError("--threads must be at least 1 and --graceful_timeout not negative")
    if not s.prometheus_path.startswith("/"):
        raise ConfigError(f"--prometheus_path {s.prometheus_path!r} must start with /")
    s.engine_predictor = env.get("ENGINE_PREDICTOR") or None
    if not s.file and not s.engine_predictor:
        raise ConfigError("no graph: give --file DEPLOYMENT.yaml or set ENGINE_PREDICTOR")
    s.logger_default_endpoint = env.get("REQUEST_LOGGER_DEFAULT_ENDPOINT") or None
    routing = env.get("SELDON_ENABLE_ROUTING_INJECTION")
    s.inject_routing = bool(routing) and parse_bool(routing or "", "SELDON_ENABLE_ROUTING_INJECTION")
    s.annotations = read_annotations(annotations_text)
    return s


def apply_annotations(s: ExecutorSettings, extra: Mapping[str, str]) -> None:
    """Fold the deployment's own annotations under the pod's (the pod file wins) and read the
    executor's settings from them."""
    s.annotations = {**extra, **s.annotations}
    a = s.annotations
    s.rest_timeout_ms = _annotation_int(a, "seldon.io/rest-timeout", DEFAULT_REST_TIMEOUT_MS)
    s.grpc_timeout_ms = _annotation_int(a, "seldon.io/grpc-timeout", DEFAULT_GRPC_TIMEOUT_MS)
    s.max_payload_bytes = _annotation_int(a, "seldon.io/grpc-max-message-size", DEFAULT_MAX_PAYLOAD_BYTES)
    s.logger_queue_size = _annotation_int(a, "seldon.io/executor-logger-queue-size", DEFAULT_LOGGER_QUEUE)
    s.logger_write_timeout_ms = _annotation_int(a, "seldon.io/executor-logger-write-timeout-ms",
                                                DEFAULT_LOGGER_WRITE_TIMEOUT_MS)
    for key, value in a.items():
        if key.startswith(("seldon.io/rest-timeout.", "seldon.io/grpc-timeout.")):
            _ms(value, f"annotation {key}")
