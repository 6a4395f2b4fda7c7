"""The TorchServe convention: detection and adaptation (see :mod:`seldon_py.conventions.base`).

Recognised (in this order): a ``.mar`` archive or a folder with ``MAR-INF/MANIFEST.json``; a
class with ``BaseHandler`` (TorchServe's, or ours) in its MRO, or with ``initialize`` and
``handle``; a module with a module-level ``handle(data, context)`` function, or whose single own
class is a handler; a ``.py`` file that would be one of those (read without importing it, for a
handler whose ``ts`` imports only resolve once :func:`~.loader.install_ts_equivalents` ran).
"""

from __future__ import annotations

import ast
import inspect
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

from ...errors import SeldonMicroserviceException
from ..base import Target
from . import archive
from .adapter import Options, TorchServeModel
from .loader import (
    Entry,
    HandlerError,
    entry_from_class,
    entry_from_module,
    install_ts_equivalents,
    load_handler,
    own_classes,
)

logger = logging.getLogger(__name__)

PARAMETERS = ("handler", "model_dir", "model_name", "model_version", "gpu_id", "batch_size", "max_batch_delay",
              "decode_input_request", "limit_max_image_pixels")
MAX_BATCH_SIZE = 4096
MAX_BATCH_DELAY_MS = 600_000


class TorchServeConfigError(SeldonMicroserviceException):
    """A TorchServe model cannot be served as configured (raised at start-up)."""

    status_code = 500
    reason = "MICROSERVICE_INTERNAL_ERROR"


def _is_base_handler_subclass(cls: type) -> bool:
    return any(c.__name__ == "BaseHandler" and c.__module__.startswith("ts.") for c in cls.__mro__[1:])


def _is_handler_class(cls: Any) -> bool:
    if not inspect.isclass(cls):
        return False
    return _is_base_handler_subclass(cls) or (callable(getattr(cls, "handle", None))
                                                and callable(getattr(cls, "initialize", None)))


def _is_entry_function(fn: Any) -> bool:
    if not inspect.isfunction(fn):
        return False
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(params) == 2


def _module_is_handler(module: ModuleType) -> bool:
    if _is_entry_function(getattr(module, "handle", None)):
        return True
    classes = own_classes(module)
    return len(classes) == 1 and _is_handler_class(classes[0])


def _source_is_handler(path: Path) -> bool:
    """A handler file, judged from its source (nothing is imported or run)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return False
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "handle" and len(node.args.args) == 2:
            return True
    if len(classes) != 1:
        return False
    cls = classes[0]
    def names_base_handler(base: ast.expr) -> bool:
        return (isinstance(base, ast.Name) and base.id == "BaseHandler") or (
            isinstance(base, ast.Attribute) and base.attr == "BaseHandler")

    if any(names_base_handler(b) for b in cls.bases):
        return True
    methods = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    return {"handle", "initialize"} <= methods


def _py_file(target: Target) -> Path | None:
    path = target.path
    if path is not None and path.suffix == ".py" and path.is_file():
        return path
    return None


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise TorchServeConfigError(f"TorchServe parameter {name} must be true or false, got {value!r}")


def _number(name: str, value: Any, low: float, high: float, integer: bool) -> Any:
    try:
        if isinstance(value, bool) or (integer and isinstance(value, float) and not value.is_integer()):
            raise ValueError(value)
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        kind = "an integer" if integer else "a number"
        raise TorchServeConfigError(f"TorchServe parameter {name} must be {kind}, got {value!r}") from None
    if not low <= number <= high:
        raise TorchServeConfigError(f"TorchServe parameter {name} must be between {low:g} and {high:g}, got {number}")
    return number


class TorchServeConvention:
    """Serves TorchServe custom handlers and model archives unchanged."""

    name = "torchserve"

    def detect(self, target: Target) -> bool:
        path = target.path
        if path is not None and (archive.is_model_folder(path) or archive.is_archive(path)):
            return True
        attr = target.attr
        if attr is not None:
            return _is_handler_class(attr) or (_is_entry_function(attr) and getattr(attr, "__name__", "") == "handle")
        if target.module is not None:
            return _module_is_handler(target.module)
        py = _py_file(target)
        return py is not None and _source_is_handler(py)

    def adapt(self, target: Target, parameters: dict[str, Any]) -> TorchServeModel:
        unknown = sorted(set(parameters) - set(PARAMETERS))
        if unknown:
            raise TorchServeConfigError(
                f"unknown TorchServe parameter(s) {', '.join(unknown)}; known: {', '.join(PARAMETERS)}")
        install_ts_equivalents()
        path = target.path
        folder: archive.ModelFolder | None = None
        if path is not None and (archive.is_model_folder(path) or archive.is_archive(path)):
            try:
                folder = archive.open_model(path)
            except archive.ArchiveError as exc:
                raise TorchServeConfigError(str(exc)) from None
        elif parameters.get("model_dir"):
            candidate = Path(str(parameters["model_dir"]))
            if archive.is_model_folder(candidate):
                folder = archive.open_model(candidate)
        missing = self._check_requirements(folder)
        try:
            entry, default_name, model_dir = self._entry(target, parameters, folder)
        except HandlerError as exc:
            raise TorchServeConfigError(str(exc)) from None
        except ModuleNotFoundError as exc:
            hint = f" (the archive's requirements not installed: {', '.join(missing)})" if missing else ""
            raise TorchServeConfigError(f"importing the handler failed: {exc}{hint}") from exc
        options = self._options(parameters, folder, default_name, model_dir)
        logger.info("TorchServe handler for %s: model %s, version %s, %s", target.spec, options.model_name,
                    options.model_version, entry.description)
        if options.batch_size > 1:
            logger.info("TorchServe batching: up to %d requests per handler call, waiting at most %g ms; "
                        "a serving process needs --threads (REST) and --grpc-threads (gRPC) of at least %d "
                        "to fill a batch", options.batch_size, options.max_batch_delay_ms, options.batch_size)
        return TorchServeModel(entry, options)

    @staticmethod
    def _check_requirements(folder: archive.ModelFolder | None) -> list[str]:
        if folder is None or not folder.model.get("requirementsFile"):
            return []
        req = folder.path / str(folder.model["requirementsFile"])
        if not req.is_file():
            logger.warning("the manifest names requirementsFile %s, which is not in the archive", req.name)
            return []
        try:
            missing = archive.missing_requirements(req)
        except archive.ArchiveError as exc:
            logger.warning("%s", exc)
            return []
        if missing:
            logger.warning("The model's requirements are not installed: %s (install them with: pip install -r %s)",
                           ", ".join(missing), req)
        return missing

    @staticmethod
    def _entry(target: Target, parameters: dict[str, Any],
               folder: archive.ModelFolder | None) -> tuple[Entry, str, Path | None]:
        handler = parameters.get("handler")
        if folder is not None:
            spec = str(handler or folder.model.get("handler") or "")
            if not spec:
                raise HandlerError(f"{folder.path / archive.MANIFEST} names no handler (pass handler=...)")
            return load_handler(spec, folder.path), str(folder.model.get("modelName") or Path(spec).stem), folder.path
        model_dir = Path(str(parameters["model_dir"])) if parameters.get("model_dir") else None
        if handler:
            return load_handler(str(handler), model_dir or Path.cwd()), str(handler).split(":")[0], model_dir
        attr, module = target.attr, target.module
        if attr is not None:
            name = getattr(attr, "__module__", None) or target.spec
            if inspect.isclass(attr):
                return entry_from_class(attr), name, model_dir or _module_dir(module)
            fn = attr
            return (Entry(lambda ctx: fn(None, ctx), fn, f"function {name}.{getattr(fn, '__name__', 'handle')}"),
                    name, model_dir or _module_dir(module))
        if module is not None:
            return entry_from_module(module), module.__name__, model_dir or _module_dir(module)
        py = _py_file(target)
        if py is not None:
            return load_handler(py.name, py.parent), py.stem, model_dir or py.parent
        return load_handler(target.spec, model_dir or Path.cwd()), target.spec, model_dir

    @staticmethod
    def _options(parameters: dict[str, Any], folder: archive.ModelFolder | None, default_name: str,
                 model_dir: Path | None) -> Options:
        model = folder.model if folder is not None else {}
        config = folder.config if folder is not None else {}
        name = str(parameters.get("model_name") or model.get("modelName") or default_name.split(".")[-1])
        version = str(parameters.get("model_version") or model.get("modelVersion") or "1.0")
        batch_size = _number("batch_size", parameters.get("batch_size", config.get("batchSize", 1)),
                             1, MAX_BATCH_SIZE, True)
        delay = _number("max_batch_delay", parameters.get("max_batch_delay", config.get("maxBatchDelay", 100)),
                        0, MAX_BATCH_DELAY_MS, False)
        gpu = parameters.get("gpu_id")
        return Options(
            model_name=name,
            model_version=version,
            model_dir=model_dir,
            manifest=folder.manifest if folder is not None else {"model": {"modelName": name, "modelVersion": version}},
            model_yaml_config=config,
            batch_size=batch_size,
            max_batch_delay_ms=delay,
            gpu_id=None if gpu is None or gpu == "" else _number("gpu_id", gpu, 0, 1024, True),
            decode_input_request=_bool("decode_input_request", parameters.get("decode_input_request", True)),
            limit_max_image_pixels=_bool("limit_max_image_pixels", parameters.get("limit_max_image_pixels", True)),
        )


def _module_dir(module: ModuleType | None) -> Path | None:
    file = getattr(module, "__file__", None) if module is not None else None
    return Path(file).resolve().parent if file else None


TORCHSERVE = TorchServeConvention()
