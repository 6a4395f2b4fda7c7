"""Typed settings, parsed in one place from argv, the environment and the pod annotations file.

Nothing here runs at import time: :func:`parse_settings` takes argv, an environ mapping and the
annotations text explicitly, so tests pass in what they like. Every flag has the environment
variable Seldon Core 1.x reads for it (flag wins over env, env over default), see ``--help``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SERVICE_TYPES = ("MODEL", "ROUTER", "TRANSFORMER", "OUTPUT_TRANSFORMER", "COMBINER", "OUTLIER_DETECTOR")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
PARAMETER_TYPES = ("INT", "FLOAT", "DOUBLE", "STRING", "BOOL", "JSON")
LEGACY_API_TYPES = ("REST", "GRPC", "FBS")

DEFAULT_TIMEOUT_S = 60
DEFAULT_GRACEFUL_TIMEOUT_S = 30
#: 16 MiB: a JSON request of this size can take a REST worker to ~1 GB at worst (measured: the
#: worst body shapes need ~60x their size while parsed and answered; docs/drafts/hardening.md)
DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
ANNOTATIONS_PATH = "/etc/podinfo/annotations"

_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off", ""}


class ConfigError(Exception):
    """A setting is wrong; the message is one line that names it."""


def parse_bool(value: str, what: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ConfigError(f"{what}: {value!r} is not a boolean (use true/false, 1/0, yes/no)")


def parse_int(value: str, what: str, minimum: int | None = None) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{what}: {value!r} is not an integer") from None
    if minimum is not None and n < minimum:
        raise ConfigError(f"{what}: {n} is below the minimum {minimum}")
    return n


def _parse_float(value: str, what: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{what}: {value!r} is not a number") from None


def parse_parameters(text: str) -> dict[str, Any]:
    """``--parameters`` / PREDICTIVE_UNIT_PARAMETERS → constructor kwargs (spec §2.2, plus JSON)."""
    try:
        params = json.loads(text) if text.strip() else []
    except ValueError as exc:
        raise ConfigError(f"--parameters is not valid JSON: {exc}") from None
    if not isinstance(params, list):
        raise ConfigError("--parameters must be a JSON list of {name, value, type} objects")
    kwargs: dict[str, Any] = {}
    for p in params:
        if not isinstance(p, dict) or "name" not in p or "value" not in p:
            raise ConfigError(f"Bad model parameter {p!r}: needs name, value and type")
        name, value, ptype = p["name"], p["value"], p.get("type")
        if ptype not in PARAMETER_TYPES:
            raise ConfigError(
                f"Bad model parameter type: {ptype} for {name}; valid are {', '.join(PARAMETER_TYPES)}"
            )
        try:
            if ptype == "INT":
                kwargs[name] = int(value)
            elif ptype in ("FLOAT", "DOUBLE"):
                kwargs[name] = float(value)
            elif ptype == "STRING":
                kwargs[name] = str(value)
            elif ptype == "BOOL":
                kwargs[name] = value if isinstance(value, bool) else parse_bool(str(value), name)
            else:
                kwargs[name] = json.loads(value) if isinstance(value, str) else value
        except (ValueError, TypeError, ConfigError):
            raise ConfigError(
                f"Bad model parameter: {name} with value {value} can't be parsed as a {ptype}"
            ) from None
    return kwargs


def read_annotations(text: str) -> dict[str, str]:
    """The downward-API annotations file: ``key="value"`` lines."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        out[key.strip()] = value
    return out


@dataclass
class Settings:
    """Everything the microservice needs to start, fully parsed and validated."""

    interface_name: str
    service_type: str = "MODEL"
    parameters: dict[str, Any] = field(default_factory=dict)
    host: str = "0.0.0.0"
    http_port: int = 9000
    grpc_port: int = 5000
    metrics_port: int = 6000
    metrics_path: str = "/metrics"
    workers: int = 1
    threads: int = 1
    max_requests: int = 0
    max_requests_jitter: int = 0
    keepalive: int = 2
    timeout: int = DEFAULT_TIMEOUT_S
    graceful_timeout: int = DEFAULT_GRACEFUL_TIMEOUT_S
    single_threaded: bool = False
    debug: bool = False
    log_level: str = "INFO"
    access_log: bool = False
    pidfile: str | None = None
    grpc_workers: int = 1
    grpc_threads: int = 1
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    tracing: bool = False
    max_batch_size: int = 0
    max_batch_latency_ms: float = 10.0
    preload: bool = False
    # Seldon environment contract
    unit_id: str | None = None
    unit_image: str | None = None
    deployment_id: str = "NOT_IMPLEMENTED"
    predictor_id: str = "NOT_IMPLEMENTED"
    predictor_labels: dict[str, Any] = field(default_factory=dict)
    model_metadata: str | None = None
    payload_passthrough: bool = False
    include_metrics_in_response: bool = True
    filter_metrics_access_logs: bool = True
    executor_enabled: bool = True
    annotations: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, no usage wall
        raise ConfigError(message)


def _bool_flag(value: str) -> bool:
    try:
        return parse_bool(value, "flag")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="seldon-core-microservice",
        description=(
            "Serve a Python class as a Seldon Core microservice: REST (Flask under gunicorn), "
            "gRPC and Prometheus metrics. Each option falls back to the environment variable in "
            "brackets, then to the default."
        ),
    )
    a = p.add_argument
    a("interface_name", help="class to serve: Module (file Module.py with class Module) or pkg.module.Class")
    a("legacy_api_type", nargs="?", help=argparse.SUPPRESS)
    a("--service-type", type=str.upper, choices=SERVICE_TYPES, default="MODEL",
      help="node type in the graph; all endpoints are served whatever the type (default MODEL)")
    a("--parameters", default=None,
      help="JSON list of {name,value,type} constructor parameters, type INT|FLOAT|DOUBLE|STRING|BOOL|JSON [PREDICTIVE_UNIT_PARAMETERS] (default [])")
    a("--http-port", type=int, default=None, help="REST port [PREDICTIVE_UNIT_HTTP_SERVICE_PORT] (default 9000)")
    a("--grpc-port", type=int, default=None, help="gRPC port [PREDICTIVE_UNIT_GRPC_SERVICE_PORT] (default 5000)")
    a("--metrics-port", type=int, default=None, help="Prometheus port [PREDICTIVE_UNIT_METRICS_SERVICE_PORT] (default 6000)")
    a("--host", default=None, help="address to bind every server to [SELDON_HOST] (default 0.0.0.0)")
    a("--workers", type=int, default=None, help="REST worker processes [GUNICORN_WORKERS] (default 1)")
    a("--threads", type=int, default=None, help="threads per REST worker [GUNICORN_THREADS] (default 1)")
    a("--max-requests", type=int, default=None, help="recycle a REST worker after this many requests, 0 = never [GUNICORN_MAX_REQUESTS] (default 0)")
    a("--max-requests-jitter", type=int, default=None, help="random jitter added to --max-requests [GUNICORN_MAX_REQUESTS_JITTER] (default 0)")
    a("--keepalive", type=int, default=None, help="seconds to keep an idle HTTP connection open [GUNICORN_KEEPALIVE] (default 2)")
    a("--timeout", type=int, default=None,
      help=f"seconds a REST worker may stay silent before it is restarted [GUNICORN_TIMEOUT; else the seldon.io/rest-timeout annotation; default {DEFAULT_TIMEOUT_S}]")
    a("--graceful-timeout", type=int, default=None,
      help=f"seconds in-flight requests get to finish after SIGTERM [GUNICORN_GRACEFUL_TIMEOUT] (default {DEFAULT_GRACEFUL_TIMEOUT_S})")
    a("--single-threaded", type=int, default=None, help="non-zero forces one thread per worker [FLASK_SINGLE_THREADED] (default 0)")
    a("--debug", nargs="?", const=True, type=_bool_flag, default=None,
      help="serve REST with Flask's development server instead of gunicorn [SELDON_DEBUG] (default false)")
    a("--log-level", type=str.upper, choices=LOG_LEVELS, default=None, help="log level [SELDON_LOG_LEVEL] (default INFO)")
    a("--access-log", nargs="?", const=True, type=_bool_flag, default=None, help="log every REST request to stdout [GUNICORN_ACCESS_LOG] (default false)")
    a("--pidfile", default=None, help="write the main process id to this file")
    a("--grpc-workers", type=int, default=None, help="gRPC server processes, 0 disables gRPC [GRPC_WORKERS] (default 1)")
    a("--grpc-threads", type=int, default=None, help="threads per gRPC process [GRPC_THREADS] (default 1)")
    a("--max-payload-size", type=int, default=None,
      help=f"largest request or response in bytes, REST and gRPC [SELDON_MAX_PAYLOAD_SIZE; else the seldon.io/grpc-max-message-size annotation; default {DEFAULT_MAX_PAYLOAD_BYTES}]")
    a("--max-batch-size", type=int, default=None,
      help="adaptive batching: gather up to this many rows of concurrent predict requests into one predict call; 0/1 = off; needs --threads/--grpc-threads > 1 [SELDON_MAX_BATCH_SIZE] (default 0)")
    a("--max-batch-latency-ms", type=float, default=None,
      help="adaptive batching: longest wait for a batch to fill, ms [SELDON_MAX_BATCH_LATENCY_MS] (default 10)")
    a("--preload", nargs="?", const=True, type=_bool_flag, default=None,
      help="run load() once in the main process before forking, so workers share the model's memory [SELDON_PRELOAD] (default false)")
    a("--tracing", nargs="?", const=1, type=int, default=None, help="accepted for compatibility; tracing is not supported [TRACING] (default 0)")
    a("--persistence", nargs="?", const=1, type=int, default=0, help="accepted for compatibility; persistence was removed in Seldon Core 1.x")
    return p


def parse_settings(
    argv: Sequence[str],
    environ: Mapping[str, str] | None = None,
    annotations_text: str | None = None,
) -> Settings:
    """argv (without the program name) + environment + annotations → Settings, or ConfigError."""
    env = dict(os.environ if environ is None else environ)
    args = build_parser().parse_args(list(argv))
    s = Settings(interface_name=args.interface_name, service_type=args.service_type)
    if args.legacy_api_type is not None:
        if args.legacy_api_type.upper() not in LEGACY_API_TYPES:
            raise ConfigError(f"unrecognized arguments: {args.legacy_api_type}")
        s.warnings.append(
            f"API type {args.legacy_api_type} is ignored: REST and gRPC are always both served"
        )

    def pick(flag: Any, var: str, default: Any, conv: Any) -> Any:
        if flag is not None:
            return flag
        if env.get(var, "") != "":
            return conv(env[var], var)
        return default

    s.parameters = parse_parameters(
        args.parameters if args.parameters is not None else env.get("PREDICTIVE_UNIT_PARAMETERS", "[]")
    )
    s.http_port = pick(args.http_port, "PREDICTIVE_UNIT_HTTP_SERVICE_PORT", 9000, parse_int)
    s.grpc_port = pick(args.grpc_port, "PREDICTIVE_UNIT_GRPC_SERVICE_PORT", 5000, parse_int)
    s.metrics_port = pick(args.metrics_port, "PREDICTIVE_UNIT_METRICS_SERVICE_PORT", 6000, parse_int)
    s.host = pick(args.host, "SELDON_HOST", "0.0.0.0", lambda v, _: v)
    s.metrics_path = env.get("PREDICTIVE_UNIT_METRICS_ENDPOINT") or "/metrics"
    if not s.metrics_path.startswith("/"):
        s.metrics_path = "/" + s.metrics_path
    s.workers = pick(args.workers, "GUNICORN_WORKERS", 1, parse_int)
    s.threads = pick(args.threads, "GUNICORN_THREADS", 1, parse_int)
    s.max_requests = pick(args.max_requests, "GUNICORN_MAX_REQUESTS", 0, parse_int)
    s.max_requests_jitter = pick(args.max_requests_jitter, "GUNICORN_MAX_REQUESTS_JITTER", 0, parse_int)
    s.keepalive = pick(args.keepalive, "GUNICORN_KEEPALIVE", 2, parse_int)
    s.graceful_timeout = pick(
        args.graceful_timeout, "GUNICORN_GRACEFUL_TIMEOUT", DEFAULT_GRACEFUL_TIMEOUT_S, parse_int
    )
    s.single_threaded = bool(pick(args.single_threaded, "FLASK_SINGLE_THREADED", False, parse_bool))
    s.debug = pick(args.debug, "SELDON_DEBUG", False, parse_bool)
    s.log_level = (env.get("SELDON_LOG_LEVEL") or args.log_level or "INFO").upper()
    if s.log_level not in LOG_LEVELS:
        raise ConfigError(f"SELDON_LOG_LEVEL: {s.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    s.access_log = pick(args.access_log, "GUNICORN_ACCESS_LOG", False, parse_bool)
    s.pidfile = args.pidfile
    s.grpc_workers = pick(args.grpc_workers, "GRPC_WORKERS", 1, parse_int)
    s.grpc_threads = pick(args.grpc_threads, "GRPC_THREADS", 1, parse_int)
    s.max_batch_size = pick(args.max_batch_size, "SELDON_MAX_BATCH_SIZE", 0, parse_int)
    s.max_batch_latency_ms = pick(args.max_batch_latency_ms, "SELDON_MAX_BATCH_LATENCY_MS", 10.0, _parse_float)
    s.preload = pick(args.preload, "SELDON_PRELOAD", False, parse_bool)
    s.tracing = bool(pick(args.tracing, "TRACING", 0, parse_int))
    if s.tracing:
        s.warnings.append("--tracing/TRACING is accepted but ignored: tracing is not supported")
    if args.persistence:
        s.warnings.append("--persistence is ignored: persistence was removed from Seldon Core")

    s.annotations = read_annotations(annotations_text or "")
    timeout = pick(args.timeout, "GUNICORN_TIMEOUT", None, parse_int)
    if timeout is None and "seldon.io/rest-timeout" in s.annotations:
        ms = parse_int(s.annotations["seldon.io/rest-timeout"], "annotation seldon.io/rest-timeout")
        timeout = max(1, ms // 1000)
    s.timeout = timeout if timeout is not None else DEFAULT_TIMEOUT_S
    size = pick(args.max_payload_size, "SELDON_MAX_PAYLOAD_SIZE", None, parse_int)
    if size is None and "seldon.io/grpc-max-message-size" in s.annotations:
        size = parse_int(
            s.annotations["seldon.io/grpc-max-message-size"], "annotation seldon.io/grpc-max-message-size"
        )
    s.max_payload_bytes = size if size is not None else DEFAULT_MAX_PAYLOAD_BYTES

    s.unit_id = env.get("PREDICTIVE_UNIT_ID") or None
    s.unit_image = env.get("PREDICTIVE_UNIT_IMAGE") or None
    s.deployment_id = env.get("SELDON_DEPLOYMENT_ID") or "NOT_IMPLEMENTED"
    s.predictor_id = env.get("PREDICTOR_ID") or "NOT_IMPLEMENTED"
    try:
        labels = json.loads(env.get("PREDICTOR_LABELS") or "{}")
    except ValueError:
        raise ConfigError("PREDICTOR_LABELS is not valid JSON") from None
    s.predictor_labels = labels if isinstance(labels, dict) else {}
    s.model_metadata = env.get("MODEL_METADATA")
    s.payload_passthrough = parse_bool(env.get("PAYLOAD_PASSTHROUGH", "false"), "PAYLOAD_PASSTHROUGH")
    s.include_metrics_in_response = (
        env.get("INCLUDE_METRICS_IN_CLIENT_RESPONSE", "true").strip().lower() == "true"
    )
    s.filter_metrics_access_logs = parse_bool(
        env.get("FILTER_METRICS_ACCESS_LOGS", "false" if s.debug else "true"), "FILTER_METRICS_ACCESS_LOGS"
    )
    s.executor_enabled = env.get("SELDON_EXECUTOR_ENABLED", "true").strip().lower() != "false"

    _validate(s)
    return s


def _validate(s: Settings) -> None:
    for name in ("http_port", "grpc_port", "metrics_port"):
        port = getattr(s, name)
        if not 0 <= port <= 65535:
            raise ConfigError(f"--{name.replace('_', '-')}: {port} is not a TCP port")
    for name, minimum in (("workers", 1), ("threads", 1), ("grpc_workers", 0), ("grpc_threads", 1),
                          ("max_requests", 0), ("max_requests_jitter", 0), ("keepalive", 0),
                          ("timeout", 1), ("graceful_timeout", 0), ("max_payload_bytes", 1024)):
        if getattr(s, name) < minimum:
            raise ConfigError(f"--{name.replace('_', '-')}: {getattr(s, name)} is below the minimum {minimum}")
    if s.max_batch_size < 0 or s.max_batch_latency_ms < 0:
        raise ConfigError("--max-batch-size and --max-batch-latency-ms must not be negative")
    if s.single_threaded:
        s.threads = 1
