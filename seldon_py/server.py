"""The composition root: settings → user object → dispatch table → data plane → servers.

Process model::

    seldon-core-microservice (supervisor: forwards SIGTERM/SIGINT, reaps, exits when all are done;
    │                         its one thread serves the metrics port, see seldon_py.metrics)
    ├── REST: gunicorn arbiter ── N workers (each: Flask app, load() in the background)
    └── gRPC server × --grpc-workers (each: own grpc.server on the shared port, load() in the background)

The user class is imported and instantiated once, in the supervisor, before any fork (as Seldon
Core does); ``load()`` runs in every serving process. On SIGTERM every child is asked to drain
(gunicorn finishes in-flight requests within ``--graceful-timeout``), stragglers are killed after
that, and the supervisor exits 0. If a child dies on its own, the others are stopped and the
supervisor exits 1, so Kubernetes restarts the pod instead of leaving it half-alive.

Memory: every module the children need is imported in the supervisor before the first fork, and
the garbage collector's objects are frozen (``gc.freeze()``), so the children share those pages
copy-on-write instead of each loading its own copy (see :mod:`seldon_py.process.supervisor`).
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import SeldonNotImplementedError
from .metrics.mpdir import MultiprocessDir
from .model.loader import StartupError, load_user_object
from .model.reflection import Dispatch, reflect
from .process.supervisor import Child, InProcessService, Supervisor, freeze_before_worker_fork, share_before_fork
from .protocol.seldon import metadata as metadata_mod
from .protocol.seldon.handler import SeldonHandler, UnitInfo
from .runtime.runtime import MetricsRecorder, ModelRuntime, NullObserver, RequestObserver, start_loading
from .settings import Settings

if TYPE_CHECKING:
    from .metrics.recorder import ServiceMetrics

logger = logging.getLogger("seldon_py")


def compute_metadata(dispatch: Dispatch, settings: Settings) -> tuple[dict[str, Any] | None, str | None]:
    """init_metadata() ⊕ MODEL_METADATA, validated; (None, why) when invalid."""
    user: Any = {}
    if dispatch.init_metadata is not None:
        try:
            user = dispatch.init_metadata()
        except SeldonNotImplementedError:
            user = {}
        except Exception as exc:  # noqa: BLE001 - user code; metadata is optional
            logger.error("init_metadata() failed: %s: %s", type(exc).__name__, exc)
            user = {}
    env_md, warning = metadata_mod.parse_model_metadata_env(settings.model_metadata)
    if warning:
        logger.warning("%s", warning)
    md, error = metadata_mod.build_metadata(user, env_md, settings.unit_image)
    if md is None:
        logger.error("Metadata validation error: %s (/metadata answers 500; predictions still work)", error)
        return None, error
    if error:
        logger.warning("%s", error)
    return md, None


#: what the REST server process imports, beyond what the supervisor has already (gunicorn loads
#: its arbiter and its worker class lazily, the worker its thread pool; the app module is imported
#: in each worker); the worker class's module is added from the gunicorn options
REST_IMPORTS = ("seldon_py.transports.rest.app", "gunicorn.arbiter", "gunicorn.glogging", "concurrent.futures.thread")
DEBUG_REST_IMPORTS = ("seldon_py.transports.rest.app", "werkzeug.serving")
#: grpc.server() imports its implementation lazily
GRPC_IMPORTS = ("seldon_py.transports.grpc.server", "grpc._server", "grpc._interceptor")
#: what every serving process uses to record metrics
METRICS_IMPORTS = ("seldon_py.metrics.recorder", "prometheus_client")


def _gunicorn_worker_module(settings: Settings) -> str:
    """The module of the gunicorn worker class the REST server will use."""
    from gunicorn.workers import SUPPORTED_WORKERS

    from .transports.rest.server import gunicorn_options

    worker = str(gunicorn_options(settings)["worker_class"])
    return str(SUPPORTED_WORKERS.get(worker, worker)).rpartition(".")[0]


def _takes_argument(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` accepts one positional argument."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


class Microservice:
    """Builds everything from Settings and runs the process tree.

    ``recorder_factory`` replaces Prometheus metrics (e.g. ``NullRecorder`` in tests: then no
    request metrics and no metrics server either); ``None`` means Prometheus.
    """

    def __init__(self, settings: Settings, recorder_factory: Callable[[], MetricsRecorder] | None = None) -> None:
        self.settings = settings
        self.recorder_factory = recorder_factory
        self.metrics_enabled = recorder_factory is None
        self.user: Any = None
        self.dispatch: Dispatch | None = None
        self.metadata: dict[str, Any] | None = None
        self.metadata_error: str | None = None
        #: the multiprocess metrics directory (set by :meth:`run`), and (pid, its ServiceMetrics)
        self.metrics_dir: str | None = None
        self._metrics: tuple[int, ServiceMetrics] | None = None

    # ------------------------------------------------------------- building
    def prepare(self) -> None:
        """Import and construct the user object, reflect on it, compute metadata (in the parent)."""
        s = self.settings
        # before anything registers our protos: TensorFlow / seldon_core, if the model uses them,
        # must register theirs first (see seldon_py.proto._compat)
        from .proto import preload_foreign_protos

        preload_foreign_protos()
        self.user = load_user_object(s.interface_name, s.parameters, s.model_convention)
        self.dispatch = reflect(self.user)
        logger.info("Serving %s (%s): %s", s.interface_name, s.service_type, self.dispatch.describe())
        self.metadata, self.metadata_error = compute_metadata(self.dispatch, s)
        for warning in self.batching_warnings():
            logger.warning("%s", warning)

    def unit_info(self) -> UnitInfo:
        s = self.settings
        return UnitInfo(
            unit_id=s.unit_id,
            image=s.unit_image,
            include_metrics=s.include_metrics_in_response,
            executor_enabled=s.executor_enabled,
        )

    def process_metrics(self) -> ServiceMetrics:
        """This serving process's :class:`~seldon_py.metrics.recorder.ServiceMetrics`, made on
        first use in the process (after fork) and kept on this object, not in a module global."""
        pid = os.getpid()
        if self._metrics is None or self._metrics[0] != pid:
            if self.metrics_dir is None:
                raise RuntimeError("the metrics directory has not been created (Microservice.run does)")
            from .metrics import service_metrics

            self._metrics = (pid, service_metrics(self.settings, self.metrics_dir))
        return self._metrics[1]

    def make_recorder(self) -> MetricsRecorder:
        """This process's recorder of custom metrics and feedback."""
        if self.recorder_factory is not None:
            return self.recorder_factory()
        return self.process_metrics()

    def make_observer(self) -> RequestObserver:
        """This process's request metrics (for the REST app and the gRPC servicer)."""
        if not self.metrics_enabled:
            return NullObserver()
        return self.process_metrics()

    def batching(self, threads: int) -> tuple[int, float] | None:
        """(max batch size, max latency in s) for a serving process with ``threads`` threads, or
        None: batching is off unless asked for, and useless with one thread (the only request in
        flight would wait the whole window alone)."""
        s = self.settings
        if s.max_batch_size <= 1 or threads <= 1:
            return None
        return s.max_batch_size, s.max_batch_latency_ms / 1000

    def batching_warnings(self) -> list[str]:
        """Why asked-for batching will not happen in some processes (logged at start-up)."""
        s = self.settings
        if s.max_batch_size <= 1:
            return []
        out = []
        for transport, flag, threads, serves in (
            ("REST", "--threads", s.threads, True),
            ("gRPC", "--grpc-threads", s.grpc_threads, s.grpc_workers > 0),
        ):
            if serves and threads <= 1:
                out.append(f"--max-batch-size {s.max_batch_size} has no effect on {transport}: "
                           f"its processes run one request at a time (set {flag} to the batch size)")
            elif serves and threads < s.max_batch_size:
                out.append(f"--max-batch-size {s.max_batch_size} is larger than {flag} {threads}: "
                           f"{transport} batches hold at most {threads} requests and wait "
                           f"{s.max_batch_latency_ms:g} ms for rows that cannot arrive")
        return out

    def make_runtime(self, threads: int) -> ModelRuntime:
        """The runtime of one serving process with ``threads`` threads."""
        assert self.dispatch is not None
        return ModelRuntime(
            self.dispatch,
            recorder=self.make_recorder(),
            batching=self.batching(threads),
            preloaded=self.settings.preload,
        )

    def make_dataplane(self, threads: int | None = None, transport: str = "rest") -> SeldonHandler:
        """The Seldon handler (on a fresh runtime) of one serving process of ``transport`` with
        ``threads`` threads (default: REST's)."""
        return SeldonHandler(
            self.make_runtime(self.settings.threads if threads is None else threads),
            self.unit_info(),
            metadata=self.metadata,
            metadata_error=self.metadata_error,
            transport=transport,
        )

    def rest_app_factory(self) -> Any:
        """Called in each REST worker: a fresh handler, load() started, the Flask app."""
        from .transports.rest.app import create_app

        handler = self.make_dataplane()
        self.rest_handler = handler  # this worker's, for the worker_exit hook
        start_loading(handler.runtime, "REST worker")
        return create_app(
            handler,
            max_payload_bytes=self.settings.max_payload_bytes,
            payload_passthrough=self.settings.payload_passthrough,
            error_blueprint=self.dispatch.model_error_handler if self.dispatch else None,
            observer=self.make_observer(),
            blueprints=self.extension_blueprints(handler),
        )

    def _rest_worker_exit(self, server: Any, worker: Any) -> None:
        """gunicorn ``worker_exit`` hook (in the worker, after it drained): the user's unload()."""
        handler = getattr(self, "rest_handler", None)
        if handler is not None:
            handler.close()

    def _serve_rest(self, run_rest: Callable[..., None], hooks: dict[str, Any]) -> None:
        """Body of the REST child; under --debug the app ran in this very process: unload() here."""
        run_rest(self.settings, self.rest_app_factory, hooks)
        self._rest_worker_exit(None, None)

    def extension_blueprints(self, handler: Any = None) -> list[Any]:
        """The user object's ``rest_blueprint()``, if it has one (called in each REST worker); a
        ``rest_blueprint(runtime)`` that takes an argument gets this worker's model runtime (its
        readiness and metrics recorder, e.g. for TorchServe's inference API)."""
        fn = self.dispatch.rest_blueprint if self.dispatch else None
        if fn is None:
            return []
        runtime = getattr(handler, "runtime", None)
        blueprint = fn(runtime) if runtime is not None and _takes_argument(fn) else fn()
        return [] if blueprint is None else [blueprint]

    def extension_grpc_handlers(self) -> list[Any]:
        """The user object's ``grpc_handlers()``, if it has one (called in each gRPC process)."""
        fn = self.dispatch.grpc_handlers if self.dispatch else None
        return list(fn() or ()) if fn is not None else []

    def children(self) -> list[Child]:
        from .transports.rest.server import run_rest

        s = self.settings
        hooks: dict[str, Any] = {"pre_fork": freeze_before_worker_fork, "worker_exit": self._rest_worker_exit}
        if self.metrics_enabled:
            from .metrics import gunicorn_hooks

            assert self.metrics_dir is not None
            hooks.update(gunicorn_hooks(self.metrics_dir))
        kids = [Child("REST server", lambda: self._serve_rest(run_rest, hooks))]
        for i in range(s.grpc_workers):  # 0 disables gRPC
            kids.append(Child(f"gRPC server {i + 1}", self._run_grpc))
        if self.dispatch is not None and self.dispatch.custom_service is not None:
            kids.append(Child("custom service", self.dispatch.custom_service))
        return kids

    def child_imports(self) -> tuple[str, ...]:
        """The modules the children will import (see :func:`share_before_fork`)."""
        s = self.settings
        modules: tuple[str, ...] = DEBUG_REST_IMPORTS if s.debug else REST_IMPORTS + (_gunicorn_worker_module(s),)
        if s.grpc_workers:
            modules += GRPC_IMPORTS
        if self.metrics_enabled:
            modules += METRICS_IMPORTS
        return modules

    def in_process_services(self) -> list[InProcessService]:
        """Servers run by threads of the supervisor: the metrics endpoint, unless metrics are off."""
        if not self.metrics_enabled:
            return []
        from .metrics.server import MetricsService

        assert self.metrics_dir is not None
        return [MetricsService(self.settings, os.getpid(), self.metrics_dir)]

    def _run_grpc(self) -> None:
        """Body of a gRPC worker process (its modules were imported before the fork)."""
        from .transports.grpc.server import run_grpc

        run_grpc(self.settings, lambda: self.make_dataplane(self.settings.grpc_threads, "grpc"), self.make_observer,
                 self.extension_grpc_handlers)

    # ------------------------------------------------------------- running
    def preload(self) -> None:
        """``--preload``: run load() here, before any fork, so every worker shares the model."""
        assert self.dispatch is not None
        if self.dispatch.load is None:
            return
        started = time.monotonic()
        try:
            self.dispatch.load()
        except (NotImplementedError, SeldonNotImplementedError):
            pass
        except Exception as exc:
            raise StartupError(f"load() failed: {type(exc).__name__}: {exc}") from exc
        logger.info("load() finished in the main process in %.2fs (--preload)", time.monotonic() - started)

    def run(self) -> int:
        # before any fork: every serving process writes its metric files there
        try:
            metrics_dir = MultiprocessDir.create() if self.metrics_enabled else None
        except OSError as exc:
            raise StartupError(
                f"cannot create the metrics directory (check PROMETHEUS_MULTIPROC_DIR or TMPDIR): {exc}"
            ) from None
        self.metrics_dir = metrics_dir.path if metrics_dir is not None else None
        try:
            return self._run()
        finally:
            if metrics_dir is not None:
                metrics_dir.remove()
            self.metrics_dir = None

    def _run(self) -> int:
        self.prepare()
        s = self.settings
        if s.preload:
            self.preload()
        if s.pidfile:
            with open(s.pidfile, "w") as fh:
                fh.write(f"{os.getpid()}\n")
        children, services = self.children(), self.in_process_services()
        share_before_fork(self.child_imports())
        try:
            return Supervisor(children, s.graceful_timeout, services).run()
        finally:
            if s.pidfile:
                try:
                    os.unlink(s.pidfile)
                except OSError:
                    pass


