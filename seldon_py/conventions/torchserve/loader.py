"""Importing a TorchServe handler, and the ``ts`` modules it imports.

TorchServe resolves a handler ``module[:function]`` like this (and so do we): the module is the
handler file in the model folder (``.py`` dropped) or an importable module, else one of
``ts.torch_handler``'s built-in handlers; ``function`` defaults to ``handle``. If the module has
that function, it is the entry point (called once with ``data=None`` at load); otherwise the module
must define exactly one class of its own, which is instantiated and whose ``initialize(context)``
and ``handle(data, context)`` are used.

Handlers import ``ts.*`` (``BaseHandler``, ``PredictionException``, ``Context``...). Where the
real module cannot be imported (``torchserve`` not installed, or ``base_handler`` without
``torch``), :func:`install_ts_equivalents` serves seldon_py's equivalents under the same names.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)

_EQUIVALENTS_DIR = Path(__file__).resolve().parent / "_ts"
#: the ``ts`` modules we have equivalents of, parents before children
TS_MODULES = (
    "ts",
    "ts.context",
    "ts.utils",
    "ts.utils.util",
    "ts.metrics",
    "ts.metrics.dimension",
    "ts.metrics.metric_type_enum",
    "ts.torch_handler",
    "ts.torch_handler.base_handler",
)


_BASE_HANDLER = "ts.torch_handler.base_handler"


class HandlerError(Exception):
    """The handler cannot be loaded; the message says why."""


class _Equivalents(importlib.abc.MetaPathFinder):
    """Serves our files for the ``ts`` module names in ``names`` (and only those)."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in self.names:
            return None
        rel = Path(*fullname.split("."))
        package = _EQUIVALENTS_DIR / rel / "__init__.py"
        if package.is_file():
            return importlib.util.spec_from_file_location(
                fullname, package, submodule_search_locations=[str(package.parent)])
        return importlib.util.spec_from_file_location(fullname, _EQUIVALENTS_DIR / rel.with_suffix(".py"))


def _real_importable(name: str) -> bool:
    if name in sys.modules:
        return getattr(sys.modules[name], "__file__", "") is not None and not _is_ours(sys.modules[name])
    try:
        importlib.import_module(name)
        return True
    except ImportError:
        return False
    except Exception as exc:  # noqa: BLE001 - a broken install: use ours, and say so
        logger.warning("importing %s failed (%s: %s): using seldon_py's equivalent", name, type(exc).__name__, exc)
        return False


def _is_ours(module: ModuleType) -> bool:
    file = getattr(module, "__file__", None)
    return isinstance(file, str) and Path(file).resolve().is_relative_to(_EQUIVALENTS_DIR)


def equivalents_installed() -> bool:
    """True once :func:`install_ts_equivalents` has put seldon_py's ``ts`` modules in place."""
    return any(isinstance(finder, _Equivalents) for finder in sys.meta_path)


def install_ts_equivalents() -> set[str]:
    """Make ``ts.*`` importable: the real modules where they import, ours where not.

    Idempotent. Returns the names served by our equivalents (empty when ``torchserve`` and
    ``torch`` are both installed).
    """
    for finder in sys.meta_path:
        if isinstance(finder, _Equivalents):
            return finder.names
    names: set[str] = set()
    if not _real_importable("ts.context") or not _is_torchserve(sys.modules.get("ts")):
        for name in list(sys.modules):  # a failed or foreign import of the real package
            if name == "ts" or name.startswith("ts."):
                del sys.modules[name]
        names = set(TS_MODULES)
    else:
        for name in TS_MODULES:
            if name == _BASE_HANDLER:  # importing it imports torch: only ask whether torch is there
                if importlib.util.find_spec("torch") is None:
                    names.add(name)
            elif not _real_importable(name):
                names.add(name)
    if names:
        sys.meta_path.insert(0, _Equivalents(names))
        logger.info("TorchServe modules served by seldon_py's equivalents: %s", ", ".join(sorted(names)))
    return names


def _is_torchserve(module: ModuleType | None) -> bool:
    return module is not None and hasattr(module, "__version__") and importlib.util.find_spec("ts.context") is not None


@dataclass
class Entry:
    """How to call a loaded handler."""

    initialize: Callable[[Any], Any]
    handle: Callable[[Any, Any], Any]
    description: str  # for the start-up log


def _import_handler_module(module_name: str, model_dir: Path | None) -> ModuleType:
    if model_dir is not None:
        file = model_dir / f"{module_name}.py"
        if file.is_file():
            if str(model_dir) not in sys.path:
                sys.path.insert(0, str(model_dir))  # as TorchServe does: extra files import each other
            existing = sys.modules.get(module_name)
            if existing is not None and getattr(existing, "__file__", None) == str(file):
                return existing
            spec = importlib.util.spec_from_file_location(module_name, file)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(module_name, None)
                raise
            return module
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name.split(".")[0] and exc.name != module_name:
            raise
        try:
            return importlib.import_module(f"ts.torch_handler.{module_name}")
        except ModuleNotFoundError:
            where = f" in {model_dir} or" if model_dir is not None else ""
            raise HandlerError(f"handler module {module_name!r} not found{where} on sys.path") from None


def own_classes(module: ModuleType) -> list[type]:
    """The classes ``module`` defines itself (imported ones excluded), as TorchServe lists them."""
    return [m for _, m in inspect.getmembers(module, inspect.isclass) if m.__module__ == module.__name__]


def entry_from_module(module: ModuleType, function_name: str | None = None) -> Entry:
    """The entry point of a handler module, by TorchServe's rules (module docstring)."""
    fn_name = function_name or "handle"
    fn = getattr(module, fn_name, None)
    if fn is not None and not inspect.isclass(fn):
        if not callable(fn):
            raise HandlerError(f"{module.__name__}.{fn_name} is not callable")
        return Entry(lambda ctx: fn(None, ctx), fn, f"function {module.__name__}.{fn_name}")
    if function_name:
        raise HandlerError(f"handler module {module.__name__!r} has no function {function_name!r}")
    classes = own_classes(module)
    if len(classes) != 1:
        raise HandlerError(
            f"handler module {module.__name__!r} must define a function handle(data, context) or exactly one "
            f"class; it defines {len(classes)} classes: {', '.join(c.__name__ for c in classes) or 'none'}"
        )
    return entry_from_class(classes[0])


def entry_from_class(cls: type) -> Entry:
    try:
        service = cls()
    except Exception as exc:
        raise HandlerError(f"{cls.__name__}() failed: {type(exc).__name__}: {exc}") from exc
    handle = getattr(service, "handle", None)
    if not callable(handle):
        raise HandlerError(f"handler class {cls.__name__} has no handle(data, context) method")
    initialize = getattr(service, "initialize", None)
    if not callable(initialize):
        def initialize(ctx: Any) -> None:
            return None
    return Entry(initialize, handle, f"class {cls.__module__}.{cls.__name__}")


def load_handler(handler: str, model_dir: Path | None) -> Entry:
    """The entry point for a handler spec ``module[.py][:function]`` (TorchServe's ``--handler``)."""
    module_part, _, function_name = handler.partition(":")
    module_name = module_part.removesuffix(".py")
    module_name = module_name.replace("\\", "/").split("/")[-1]
    if not module_name:
        raise HandlerError(f"invalid handler {handler!r}")
    return entry_from_module(_import_handler_module(module_name, model_dir), function_name or None)
