"""TorchServe custom handlers and model archives served by seldon_py.

``TORCHSERVE`` (a :class:`TorchServeConvention`) detects a handler or a ``.mar`` and adapts it
into a :class:`TorchServeModel`, a Seldon-style user object. See ``docs/drafts/torchserve.md``.
"""

from .adapter import TorchServeModel
from .convention import TORCHSERVE, TorchServeConvention

__all__ = ["TORCHSERVE", "TorchServeConvention", "TorchServeModel"]
