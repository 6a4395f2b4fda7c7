"""Model conventions of other servers (TorchServe, VESSL, Rafiki/SINGA-auto, Starwhale).

A convention recognises a model written for another server and adapts it into an object with the
Seldon user-class hooks (``load``, ``predict``/``predict_raw``, ``health_status``, ``tags``,
``metrics``, ...), which the runtime then serves like any Seldon class. Detection runs before the
plain Seldon path (see :mod:`seldon_py.conventions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol


@dataclass
class Target:
    """What ``seldon-core-microservice INTERFACE_NAME`` points at."""

    spec: str  # INTERFACE_NAME as given on the command line
    path: Path | None = None  # the file or folder it names (a .mar, a folder with MAR-INF/MANIFEST.json)
    module: ModuleType | None = None  # the imported module, when it names a Python module
    attr: Any | None = None  # the module attribute it names (class or function), when there is one


class Convention(Protocol):
    """One foreign model convention."""

    name: str  # "torchserve", "vessl", "rafiki", "starwhale"

    def detect(self, target: Target) -> bool:
        """True when ``target`` is written for this convention (by base classes, signatures, files)."""
        ...

    def adapt(self, target: Target, parameters: dict[str, Any]) -> Any:
        """A Seldon-style user object serving ``target``; ``parameters`` from --parameters."""
        ...
