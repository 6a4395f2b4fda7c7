"""Import the user's class and construct it; :class:`StartupError` says in one line why not.

:func:`load_user_object` first asks :mod:`seldon_py.conventions` whether the target is a model
written for another server (TorchServe, VESSL, Rafiki/SINGA-auto, Starwhale) and serves the adapted
object if so; otherwise it builds the Seldon class as before.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from ..errors import InvalidParameters


class StartupError(Exception):
    """The service cannot start; the message is one line that says why."""


def load_user_class(interface_name: str, search_path: str | None = None) -> type:
    """Import ``Module`` (class ``Module``) or ``pkg.module.Class``; cwd is on the path."""
    path = search_path or os.getcwd()
    if path not in sys.path:
        sys.path.append(path)
    module_name, _, class_name = interface_name.rpartition(".")
    if not module_name:
        module_name = class_name = interface_name
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise StartupError(
                f"cannot import module {module_name!r} for {interface_name!r}: no such module "
                f"in {path} or on sys.path"
            ) from None
        raise StartupError(f"importing {module_name!r} failed: {exc}") from exc
    except Exception as exc:
        raise StartupError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
    try:
        cls = getattr(module, class_name)
    except AttributeError:
        raise StartupError(f"module {module_name!r} has no class {class_name!r}") from None
    if not callable(cls):
        raise StartupError(f"{interface_name!r} is not a class")
    return cls


def instantiate(cls: type, parameters: dict[str, Any]) -> Any:
    try:
        return cls(**parameters)
    except TypeError as exc:
        if parameters and "argument" in str(exc):
            raise StartupError(
                f"cannot construct {cls.__name__} with parameters {sorted(parameters)}: {exc}"
            ) from None
        raise StartupError(f"{cls.__name__}() failed: TypeError: {exc}") from exc
    except InvalidParameters as exc:
        raise StartupError(f"{cls.__name__}: {exc}") from None
    except Exception as exc:
        raise StartupError(f"{cls.__name__}() failed: {type(exc).__name__}: {exc}") from exc


def load_user_object(interface_name: str, parameters: dict[str, Any], convention: str = "auto",
                     search_path: str | None = None) -> Any:
    """The object to serve for ``seldon-core-microservice INTERFACE_NAME``: a foreign model adapted by
    its convention (``convention``: ``auto`` detects, ``seldon`` skips detection, else that one), or
    the Seldon class constructed with ``parameters``."""
    from ..conventions import ConventionError, resolve

    try:
        resolved = resolve(interface_name, parameters, convention, search_path)
    except ConventionError as exc:
        raise StartupError(str(exc)) from exc.__cause__
    if resolved.convention is not None:
        return resolved.user
    cls = resolved.target.attr
    if not callable(cls):
        raise StartupError(f"{interface_name!r} is not a class")
    return instantiate(cls, parameters)
