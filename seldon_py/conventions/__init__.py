"""Models written for other servers, served unchanged: the registry, detection and the loader hook.

``seldon-core-microservice X`` names a Python module, ``module.Class``, ``module.function``, a
``.mar`` archive or a model folder. :func:`load_target` turns that into a
:class:`~.base.Target`; :func:`select` asks every known convention whether the target is written
for it (TorchServe, VESSL, Rafiki/SINGA-auto, Starwhale), before the plain Seldon path, and
:func:`resolve` adapts the target into a Seldon-style user object. Exactly one convention may match;
``--model-convention NAME`` (``SELDON_MODEL_CONVENTION``) forces one, ``seldon`` forces the Seldon
path, ``auto`` (the default) detects.

The TorchServe convention lives in :mod:`.torchserve` and is optional here: when that subpackage is
absent it is simply not offered.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import shims
from ._common import ConventionError
from .base import Convention, Target

__all__ = [
    "CONVENTION_NAMES", "Convention", "ConventionError", "Resolved", "Target", "available", "detect",
    "load_target", "resolve", "select",
]

logger = logging.getLogger(__name__)

#: accepted values of --model-convention / SELDON_MODEL_CONVENTION
CONVENTION_NAMES = ("auto", "seldon", "torchserve", "vessl", "rafiki", "starwhale")
#: the foreign conventions, in the order they are tried
FOREIGN = ("torchserve", "vessl", "rafiki", "starwhale")


def available() -> list[Convention]:
    """One instance of every convention installed here, in :data:`FOREIGN` order."""
    out: list[Convention] = []
    try:  # imported by name: the subpackage is optional here
        torchserve = importlib.import_module(f"{__name__}.torchserve")
    except ModuleNotFoundError as exc:  # the subpackage itself is absent: not offered
        if exc.name != f"{__name__}.torchserve":
            raise
    else:
        out.append(torchserve.TorchServeConvention())
    from .rafiki import RafikiConvention
    from .starwhale import StarwhaleConvention
    from .vessl import VesslConvention

    out.extend([VesslConvention(), RafikiConvention(), StarwhaleConvention()])
    return out


def _detects(convention: Convention, target: Target) -> bool:
    try:
        return bool(convention.detect(target))
    except Exception as exc:  # noqa: BLE001 - a detector must not stop the others
        logger.warning("detecting %s as a %s model failed: %s: %s", target.spec, convention.name,
                       type(exc).__name__, exc)
        return False


def detect(target: Target, conventions: list[Convention] | None = None) -> Convention | None:
    """The one convention ``target`` is written for, None for none; ConventionError for several."""
    found = [c for c in (available() if conventions is None else conventions) if _detects(c, target)]
    if len(found) > 1:
        names = ", ".join(c.name for c in found)
        raise ConventionError(
            f"{target.spec} matches more than one model convention ({names}): choose one with "
            f"--model-convention NAME (or SELDON_MODEL_CONVENTION)"
        )
    return found[0] if found else None


def select(target: Target, forced: str = "auto", conventions: list[Convention] | None = None) -> Convention | None:
    """The convention to serve ``target`` with (None: the Seldon path), honouring ``forced``."""
    forced = (forced or "auto").strip().lower()
    if forced not in CONVENTION_NAMES:
        raise ConventionError(f"--model-convention: {forced!r} is not one of {', '.join(CONVENTION_NAMES)}")
    if forced == "seldon":
        return None
    if forced == "auto":
        return detect(target, conventions)
    for convention in available() if conventions is None else conventions:
        if convention.name == forced:
            if not _detects(convention, target):
                raise ConventionError(f"--model-convention {forced}: {target.spec} is not a {forced} model")
            return convention
    raise ConventionError(f"--model-convention {forced}: that convention is not installed here")


# ----------------------------------------------------------------------------- the target
def _import(name: str) -> Any:
    """``importlib.import_module(name)``; when it fails for want of a package that has a stand-in
    (``rafiki``, ``singa_auto``, ``vessl``, ``starwhale``), install that stand-in and try again."""
    while True:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            top = (exc.name or "").partition(".")[0]
            if top in ("ts", "torch") and _torchserve_equivalents():
                continue  # a TorchServe handler: ts.* (or ts's base_handler without torch) now import
            if top not in shims.SHIMMED or not shims.install(top):
                raise
            logger.info("%s is not installed: %s imports %s, served by seldon_py's stand-in for it "
                        "(see seldon_py.conventions.shims)", top, name, exc.name)


def _torchserve_equivalents() -> bool:
    """Serve seldon_py's equivalents of TorchServe's ``ts`` modules where the real ones do not import
    (see :mod:`.torchserve.loader`); False if that was done already or changes nothing."""
    try:
        from .torchserve.loader import equivalents_installed, install_ts_equivalents
    except ModuleNotFoundError:
        return False
    return not equivalents_installed() and bool(install_ts_equivalents())


def _missing(exc: ModuleNotFoundError, module_name: str) -> bool:
    """True when ``exc`` says ``module_name`` itself (or a parent package of it) does not exist."""
    return bool(exc.name) and (module_name == exc.name or module_name.startswith(f"{exc.name}."))


def load_target(spec: str, search_path: str | None = None) -> Target:
    """What ``seldon-core-microservice spec`` points at: a file or folder, else a Python module and
    the attribute it names (``Module`` → module ``Module``, attribute ``Module`` if any;
    ``pkg.mod.Name`` → module ``pkg.mod``, attribute ``Name``, or module ``pkg.mod.Name``)."""
    base = search_path or os.getcwd()
    if base not in sys.path:
        sys.path.append(base)
    candidate = Path(spec) if os.path.isabs(spec) else Path(base) / spec
    if spec.endswith((".mar", ".py")) or "/" in spec or os.sep in spec:
        if not candidate.exists():
            raise ConventionError(f"{spec}: no such file or folder")
        if candidate.suffix == ".py" and candidate.is_file():  # a model file: import it as a module
            folder = str(candidate.resolve().parent)
            if folder not in sys.path:
                sys.path.insert(0, folder)
            return Target(spec=spec, module=_checked_import(candidate.stem, spec, folder))
        return Target(spec=spec, path=candidate.resolve())
    if candidate.is_dir() and not (candidate / "__init__.py").exists():
        return Target(spec=spec, path=candidate.resolve())  # a model folder, not a package
    module_name, _, attr_name = spec.rpartition(".")
    if not module_name:
        module = _checked_import(spec, spec, base)
        return Target(spec=spec, module=module, attr=getattr(module, spec, None))
    module = _checked_import(module_name, spec, base)
    attr = getattr(module, attr_name, None)
    if attr is None and getattr(module, "__path__", None) is not None:
        try:
            return Target(spec=spec, module=_import(spec))  # a submodule of a package
        except ModuleNotFoundError as exc:
            if not _missing(exc, spec):
                raise ConventionError(f"importing {spec!r} failed: {exc}") from exc
    return Target(spec=spec, module=module, attr=attr)


def _checked_import(module_name: str, spec: str, base: str) -> Any:
    try:
        return _import(module_name)
    except ModuleNotFoundError as exc:
        if _missing(exc, module_name):
            raise ConventionError(
                f"cannot import module {module_name!r} for {spec!r}: no such module in {base} or on sys.path"
            ) from None
        raise ConventionError(f"importing {module_name!r} failed: {exc}") from exc
    except Exception as exc:
        raise ConventionError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc


@dataclass
class Resolved:
    """What the loader serves: ``user`` set when a convention adapted the target."""

    target: Target
    convention: Convention | None = None
    user: Any = None


def resolve(spec: str, parameters: dict[str, Any], forced: str = "auto",
            search_path: str | None = None) -> Resolved:
    """Load ``spec``, pick its convention and adapt it; ``Resolved.convention`` None means "serve it
    as a Seldon class" (then ``target.attr`` is the class). Raises ConventionError, one line."""
    target = load_target(spec, search_path)
    convention = select(target, forced)
    if convention is None:
        if target.attr is None:
            if target.path is not None:
                raise ConventionError(
                    f"{spec}: no model convention recognises this {'folder' if target.path.is_dir() else 'file'} "
                    f"(a TorchServe .mar or MAR-INF/MANIFEST.json folder, or a VESSL folder with vessl.manifest.yaml)"
                )
            name = spec.rpartition(".")[2]
            module = getattr(target.module, "__name__", spec)
            raise ConventionError(
                f"module {module!r} has no class {name!r}, and no model convention recognises it "
                f"(TorchServe, VESSL, Rafiki/SINGA-auto, Starwhale)"
            )
        return Resolved(target)
    try:
        user = convention.adapt(target, dict(parameters))
    except ConventionError:
        raise
    except Exception as exc:
        raise ConventionError(f"serving {spec} as a {convention.name} model failed: "
                              f"{type(exc).__name__}: {exc}") from exc
    logger.info("serving %s as a %s model", spec, convention.name)
    return Resolved(target, convention, user)
