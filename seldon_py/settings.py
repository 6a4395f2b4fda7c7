"""Typed settings, each declared once, parsed in one place from argv, the environment and annotations.

Every setting is one field of :class:`Settings` declared with :func:`setting`: its name (the
attribute), default, command-line flag(s), environment variable(s), pod annotation, parser, bounds,
choices and help text. The argparse options, ``--help`` (each default stated once), the
environment fallback and the validation are all generated from that table (:data:`SETTINGS`).

Precedence, per setting: the flag, else the first environment variable that is set and not empty,
else the annotation, else the default (``SELDON_LOG_LEVEL`` is the one variable that beats its flag,
as in Seldon Core). A flag given on the command line is always parsed and checked, even when its
environment variable wins; an environment variable or annotation only when it is used.

Nothing here runs at import time: :func:`parse_settings` takes argv, an environ mapping and the
annotations text explicitly, so tests pass in what they like.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

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

TRUE_WORDS = ("1", "true", "t", "yes", "y", "on")
FALSE_WORDS = ("0", "false", "f", "no", "n", "off")


class ConfigError(Exception):
    """A setting is wrong; the message is one line that names it (flag, variable or annotation)."""


# --- parsers: (text, where) -> value; ``where`` names the flag, variable or annotation ---------

Parser = Callable[[str, str], Any]


def _shown(value: str) -> str:
    """A user's value for an error message: quoted, one line, not too long."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_bool(value: str, what: str) -> bool:
    """The one boolean parser for flags, environment variables and BOOL parameters."""
    v = str(value).strip().lower()
    if v in TRUE_WORDS:
        return True
    if v in FALSE_WORDS:
        return False
    raise ConfigError(f"{what}: {_shown(value)} is not a boolean (use true/false, 1/0, yes/no or on/off)")


def parse_int(value: str, what: str, minimum: int | None = None) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{what}: {_shown(value)} is not an integer") from None
    if minimum is not None and n < minimum:
        raise ConfigError(f"{what}: {n} is below the minimum {minimum}")
    return n


def parse_float(value: str, what: str) -> float:
    try:
        x = float(str(value).strip())
    except ValueError:
        raise ConfigError(f"{what}: {_shown(value)} is not a number") from None
    if not math.isfinite(x):
        raise ConfigError(f"{what}: {_shown(value)} is not a finite number")
    return x


def parse_port(value: str, what: str) -> int:
    n = parse_int(value, what)
    if not 0 <= n <= 65535:
        raise ConfigError(f"{what}: {n} is not a TCP port (0-65535)")
    return n


def parse_str(value: str, what: str) -> str:
    return value


def parse_lower(value: str, what: str) -> str:
    return str(value).strip().lower()


def parse_upper(value: str, what: str) -> str:
    return value.strip().upper()


def parse_path(value: str, what: str) -> str:
    """A URL path; a missing leading ``/`` is added (``prometheus`` → ``/prometheus``)."""
    value = value.strip()
    if not value:
        raise ConfigError(f"{what}: an empty path")
    return value if value.startswith("/") else "/" + value


def parse_json_object(value: str, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(value)
    except ValueError:
        raise ConfigError(f"{what} is not valid JSON") from None
    if not isinstance(obj, dict):
        raise ConfigError(f"{what} must be a JSON object, got {type(obj).__name__}")
    return obj


def parse_ms_as_seconds(value: str, what: str) -> int:
    """Milliseconds (the ``seldon.io/rest-timeout`` annotation) → whole seconds, at least 1."""
    return max(1, parse_int(value, what) // 1000)


def parse_parameters(text: str, what: str = "--parameters") -> dict[str, Any]:
    """``--parameters`` / PREDICTIVE_UNIT_PARAMETERS → constructor kwargs (spec §2.2, plus JSON)."""
    try:
        params = json.loads(text) if text.strip() else []
    except ValueError as exc:
        raise ConfigError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(params, list):
        raise ConfigError(f"{what} must be a JSON list of {{name, value, type}} objects")
    kwargs: dict[str, Any] = {}
    for p in params:
        if not isinstance(p, dict) or "name" not in p or "value" not in p:
            raise ConfigError(f"Bad model parameter {_shown(str(p))}: needs name, value and type")
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


# --- the declaration --------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One setting: where its value comes from, how it is parsed and checked, how it is explained."""

    name: str  # the Settings attribute
    help: str
    parse: Parser
    default: Any = None
    flags: tuple[str, ...] = ()
    env: tuple[str, ...] = ()  # first set (non-empty) one wins
    annotation: str | None = None
    parse_annotation: Parser | None = None  # when the annotation's text means something else
    env_wins: bool = False  # the environment beats the flag (SELDON_LOG_LEVEL)
    bare: str | None = None  # value of the flag given alone (``--debug``); None: a value is required
    minimum: float | None = None
    choices: tuple[str, ...] = ()
    default_text: str | None = None  # how --help states the default, when not just the value
    default_from: Callable[[Mapping[str, Any]], Any] | None = None  # default from earlier settings
    metavar: str | None = None

    def shown_default(self) -> str:
        if self.default_text is not None:
            return self.default_text
        return format_value(self.default)

    def sources(self) -> str:
        """``[VAR; else annotation A]`` for --help, or ``""``."""
        parts = list(self.env)
        if self.annotation:
            parts.append(f"else annotation {self.annotation}")
        if self.env_wins and self.env:
            parts[0] += ", which wins over the flag"
        return f" [{'; '.join(parts)}]" if parts else ""

    def option_help(self) -> str:
        text = self.help
        if self.choices:
            text += f"; one of {', '.join(self.choices)}"
        return f"{text}{self.sources()} (default: {self.shown_default()})"

    def check(self, value: Any, where: str) -> Any:
        if self.choices and value not in self.choices:
            raise ConfigError(f"{where}: invalid choice {_shown(str(value))} (choose from {', '.join(self.choices)})")
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(f"{where}: {value} is below the minimum {format_value(self.minimum)}")
        return value

    def read(self, text: str, where: str) -> Any:
        return self.check(self.parse(text, where), where)


def format_value(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


T = TypeVar("T")


def setting(
    default: T,
    help: str,
    parse: Parser,
    *,
    flags: tuple[str, ...] = (),
    env: tuple[str, ...] = (),
    mutable: bool = False,
    **more: Any,
) -> T:
    """A :class:`Settings` field that is also a row of the settings table (see :data:`SETTINGS`)."""
    row = {"default": default, "help": help, "parse": parse, "flags": flags, "env": env, **more}
    if mutable:
        return field(default_factory=lambda: json.loads(json.dumps(default)), metadata={"setting": row})
    return field(default=default, metadata={"setting": row})


def _bool(default: bool, help: str, flags: tuple[str, ...] = (), env: tuple[str, ...] = (),
          **more: Any) -> bool:
    """A boolean setting: ``--flag`` alone means true."""
    return setting(default, help, parse_bool, flags=flags, env=env, bare="true" if flags else None,
                   metavar="BOOL", **more)


@dataclass
class Settings:
    """Everything the microservice needs to start, fully parsed and validated.

    Each field declared with :func:`setting` is a row of the settings table; the others are
    filled in by :func:`parse_settings` from argv's positionals and the annotations file.
    """

    interface_name: str
    service_type: str = setting(
        "MODEL", "node type in the graph; all endpoints are served whatever the type", parse_upper,
        flags=("--service-type",), choices=SERVICE_TYPES, metavar="TYPE")
    parameters: dict[str, Any] = setting(
        {}, "JSON list of {name,value,type} constructor parameters, type INT|FLOAT|DOUBLE|STRING|BOOL|JSON",
        parse_parameters, flags=("--parameters",), env=("PREDICTIVE_UNIT_PARAMETERS",), mutable=True,
        default_text="[]", metavar="JSON")
    host: str = setting("0.0.0.0", "address to bind every server to", parse_str,
                        flags=("--host",), env=("SELDON_HOST",))
    http_port: int = setting(9000, "REST port", parse_port,
                             flags=("--http-port",), env=("PREDICTIVE_UNIT_HTTP_SERVICE_PORT",), metavar="PORT")
    grpc_port: int = setting(5000, "gRPC port", parse_port,
                             flags=("--grpc-port",), env=("PREDICTIVE_UNIT_GRPC_SERVICE_PORT",), metavar="PORT")
    metrics_port: int = setting(6000, "Prometheus port", parse_port,
                                flags=("--metrics-port",), env=("PREDICTIVE_UNIT_METRICS_SERVICE_PORT",),
                                metavar="PORT")
    metrics_path: str = setting("/metrics", "path of the Prometheus endpoint", parse_path,
                                env=("PREDICTIVE_UNIT_METRICS_ENDPOINT",))
    workers: int = setting(1, "REST worker processes", parse_int,
                           flags=("--workers",), env=("GUNICORN_WORKERS",), minimum=1, metavar="N")
    threads: int = setting(1, "threads per REST worker", parse_int,
                           flags=("--threads",), env=("GUNICORN_THREADS",), minimum=1, metavar="N")
    max_requests: int = setting(0, "recycle a REST worker after this many requests, 0 = never", parse_int,
                                flags=("--max-requests",), env=("GUNICORN_MAX_REQUESTS",), minimum=0, metavar="N")
    max_requests_jitter: int = setting(0, "random jitter added to --max-requests", parse_int,
                                       flags=("--max-requests-jitter",), env=("GUNICORN_MAX_REQUESTS_JITTER",),
                                       minimum=0, metavar="N")
    keepalive: int = setting(2, "seconds to keep an idle HTTP connection open", parse_int,
                             flags=("--keepalive",), env=("GUNICORN_KEEPALIVE",), minimum=0, metavar="S")
    timeout: int = setting(
        DEFAULT_TIMEOUT_S, "seconds a REST worker may stay silent before it is restarted", parse_int,
        flags=("--timeout",), env=("GUNICORN_TIMEOUT",), annotation="seldon.io/rest-timeout",
        parse_annotation=parse_ms_as_seconds, minimum=1, metavar="S")
    graceful_timeout: int = setting(
        DEFAULT_GRACEFUL_TIMEOUT_S, "seconds in-flight requests get to finish after SIGTERM", parse_int,
        flags=("--graceful-timeout",), env=("GUNICORN_GRACEFUL_TIMEOUT",), minimum=0, metavar="S")
    single_threaded: bool = _bool(False, "force one thread per REST worker",
                                  flags=("--single-threaded",), env=("FLASK_SINGLE_THREADED",))
    debug: bool = _bool(False, "serve REST with Flask's development server instead of gunicorn",
                        flags=("--debug",), env=("SELDON_DEBUG",))
    log_level: str = setting("INFO", "log level", parse_upper, flags=("--log-level",), env=("SELDON_LOG_LEVEL",),
                             env_wins=True, choices=LOG_LEVELS, metavar="LEVEL")
    access_log: bool = _bool(False, "log every REST request to stdout",
                             flags=("--access-log",), env=("GUNICORN_ACCESS_LOG",))
    pidfile: str | None = setting(None, "write the main process id to this file", parse_str,
                                  flags=("--pidfile",), metavar="PATH")
    grpc_workers: int = setting(1, "gRPC server processes, 0 disables gRPC", parse_int,
                                flags=("--grpc-workers",), env=("GRPC_WORKERS",), minimum=0, metavar="N")
    grpc_threads: int = setting(1, "threads per gRPC process", parse_int,
                                flags=("--grpc-threads",), env=("GRPC_THREADS",), minimum=1, metavar="N")
    max_payload_bytes: int = setting(
        DEFAULT_MAX_PAYLOAD_BYTES,
        "largest request or response in bytes, REST and gRPC (larger: 413 / RESOURCE_EXHAUSTED before "
        "the body is read); a worker needs up to ~60x this while it parses and answers a JSON request "
        "of this size (the default keeps that near 1 GB)", parse_int,
        flags=("--max-payload-size",), env=("SELDON_MAX_PAYLOAD_SIZE",),
        annotation="seldon.io/grpc-max-message-size", minimum=1024,
        default_text=f"{DEFAULT_MAX_PAYLOAD_BYTES} = 16 MiB", metavar="BYTES")
    max_batch_size: int = setting(
        0, "adaptive batching: gather up to this many rows of concurrent predict requests into one predict "
           "call; 0/1 = off; needs --threads/--grpc-threads > 1", parse_int,
        flags=("--max-batch-size",), env=("SELDON_MAX_BATCH_SIZE",), minimum=0, metavar="ROWS")
    max_batch_latency_ms: float = setting(
        10.0, "adaptive batching: longest wait for a batch to fill, ms", parse_float,
        flags=("--max-batch-latency-ms",), env=("SELDON_MAX_BATCH_LATENCY_MS",), minimum=0, metavar="MS")
    preload: bool = _bool(
        False, "run load() once in the main process before forking, so workers share the model's memory",
        flags=("--preload",), env=("SELDON_PRELOAD",))
    model_convention: str = setting(
        "auto", "serve INTERFACE_NAME as a model written for this server; auto detects TorchServe, VESSL, "
                "Rafiki and Starwhale models before the Seldon path, seldon skips detection",
        parse_lower, flags=("--model-convention",), env=("SELDON_MODEL_CONVENTION",),
        choices=("auto", "seldon", "torchserve", "vessl", "rafiki", "starwhale"), metavar="NAME")
    tracing: bool = _bool(False, "accepted for compatibility; tracing is not supported",
                          flags=("--tracing",), env=("TRACING",))
    persistence: bool = _bool(False, "accepted for compatibility; persistence was removed in Seldon Core 1.x",
                              flags=("--persistence",))
    # Seldon environment contract (set by the operator; no flags)
    unit_id: str | None = setting(None, "node name: meta.requestPath key, feedback routing key, model_name label",
                                  parse_str, env=("PREDICTIVE_UNIT_ID",))
    unit_image: str | None = setting(None, "image: requestPath value, image labels, metadata defaults",
                                     parse_str, env=("PREDICTIVE_UNIT_IMAGE",))
    deployment_id: str = setting("NOT_IMPLEMENTED", "deployment_name metric label", parse_str,
                                 env=("SELDON_DEPLOYMENT_ID",))
    predictor_id: str = setting("NOT_IMPLEMENTED", "predictor_name metric label", parse_str,
                                env=("PREDICTOR_ID",))
    predictor_labels: dict[str, Any] = setting(
        {}, "JSON object; its version is the predictor_version metric label", parse_json_object,
        env=("PREDICTOR_LABELS",), mutable=True)
    model_metadata: str | None = setting(None, "YAML or JSON model metadata merged over init_metadata()",
                                         parse_str, env=("MODEL_METADATA",))
    payload_passthrough: bool = _bool(False, "predict gets the raw request body", env=("PAYLOAD_PASSTHROUGH",))
    include_metrics_in_response: bool = _bool(True, "keep custom metrics in the response's meta.metrics",
                                              env=("INCLUDE_METRICS_IN_CLIENT_RESPONSE",))
    filter_metrics_access_logs: bool = _bool(
        True, "leave scrapes of the metrics path out of the access logs", env=("FILTER_METRICS_ACCESS_LOGS",),
        default_from=lambda done: not done["debug"], default_text="false with --debug, else true")
    executor_enabled: bool = _bool(True, "false: feedback rewards are not counted (legacy mode)",
                                   env=("SELDON_EXECUTOR_ENABLED",))
    annotations: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _table() -> tuple[Setting, ...]:
    return tuple(Setting(name=f.name, **f.metadata["setting"]) for f in fields(Settings) if "setting" in f.metadata)


SETTINGS: tuple[Setting, ...] = _table()
"""The settings table, in declaration order (a setting's ``default_from`` sees those above it)."""


# --- argparse and --help, generated -----------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, no usage wall
        raise ConfigError(message)


def _env_only_epilog() -> str:
    rows = [s for s in SETTINGS if not s.flags and s.env]
    width = max(len(" / ".join(s.env)) for s in rows)
    lines = ["environment variables without a flag:"]
    for s in rows:
        lines.append(f"  {' / '.join(s.env):<{width}}  {s.help} (default: {s.shown_default()})")
    lines.append(f"annotations are read from {ANNOTATIONS_PATH} (Kubernetes downward API).")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="seldon-core-microservice",
        description=textwrap.fill(
            "Serve a Python class as a Seldon Core microservice: REST (Flask under gunicorn), "
            "gRPC and Prometheus metrics. Each option falls back to the environment variable in "
            "brackets, then to the default. Booleans take true/false, 1/0, yes/no or on/off; "
            "a boolean flag given alone means true.",
            width=100,
        ),
        epilog=_env_only_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("interface_name",
                   help="what to serve: Module (file Module.py with class Module) or pkg.module.Class; for models "
                        "written for other servers also module, module.function, model.mar or a model folder "
                        "(see --model-convention)")
    p.add_argument("legacy_api_type", nargs="?", help=argparse.SUPPRESS)
    for s in SETTINGS:
        if not s.flags:
            continue
        kwargs: dict[str, Any] = {"dest": s.name, "default": None,
                                  "help": s.option_help().replace("%", "%%"), "metavar": s.metavar}
        if s.bare is not None:
            kwargs.update(nargs="?", const=s.bare)
        p.add_argument(*s.flags, **kwargs)
    return p


# --- parsing ----------------------------------------------------------------------------------


def _resolve(s: Setting, flag: str | None, env: Mapping[str, str], annotations: Mapping[str, str],
             done: Mapping[str, Any]) -> Any:
    """The value of one setting by its precedence (see the module docstring)."""
    from_flag = s.read(flag, s.flags[0]) if flag is not None else None  # a given flag is always checked
    for var in s.env:
        if env.get(var, "") != "" and (s.env_wins or flag is None):
            return s.read(env[var], var)
    if flag is not None:
        return from_flag
    if s.annotation and s.annotation in annotations:
        where = f"annotation {s.annotation}"
        return s.check((s.parse_annotation or s.parse)(annotations[s.annotation], where), where)
    if s.default_from is not None:
        return s.default_from(done)
    return json.loads(json.dumps(s.default)) if isinstance(s.default, (dict, list)) else s.default


def parse_settings(
    argv: Sequence[str],
    environ: Mapping[str, str] | None = None,
    annotations_text: str | None = None,
) -> Settings:
    """argv (without the program name) + environment + annotations → Settings, or ConfigError."""
    env = dict(os.environ if environ is None else environ)
    args = vars(build_parser().parse_args(list(argv)))
    annotations = read_annotations(annotations_text or "")
    values: dict[str, Any] = {}
    for s in SETTINGS:
        values[s.name] = _resolve(s, args.get(s.name), env, annotations, values)
    st = Settings(interface_name=args["interface_name"], annotations=annotations, **values)

    legacy = args["legacy_api_type"]
    if legacy is not None:
        if legacy.upper() not in LEGACY_API_TYPES:
            raise ConfigError(f"unrecognized arguments: {legacy}")
        st.warnings.append(f"API type {legacy} is ignored: REST and gRPC are always both served")
    if st.tracing:
        st.warnings.append("--tracing/TRACING is accepted but ignored: tracing is not supported")
    if st.persistence:
        st.warnings.append("--persistence is ignored: persistence was removed from Seldon Core")
    if st.single_threaded:
        st.threads = 1
    ports = [("--http-port", st.http_port), ("--grpc-port", st.grpc_port if st.grpc_workers else 0),
             ("--metrics-port", st.metrics_port)]
    for i, (flag, port) in enumerate(ports):
        for other, other_port in ports[i + 1:]:
            if port and port == other_port:
                raise ConfigError(f"{flag} and {other} are both {port}: each server needs its own port")
    return st
