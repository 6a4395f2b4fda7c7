"""Names-only stand-ins for the packages foreign model files import, used only when those are absent.

A model file written for Rafiki starts with ``from rafiki.model import BaseModel, IntegerKnob``; one
written for VESSL with ``import vessl``; for Starwhale ``from starwhale import evaluation``. The real
packages are heavy (or, for ``rafiki``, not on PyPI: the PyPI project of that name is unrelated), and
serving needs only the few names a model file uses at import. So:

* the real package always wins: :class:`ShimFinder` sits at the **end** of ``sys.meta_path`` and
  only answers imports the normal machinery could not;
* it is installed only when importing the served module failed with ``ModuleNotFoundError`` for one
  of :data:`SHIMMED` (see :func:`seldon_py.conventions.import_target`), only for that top-level
  name, and logged;
* it serves exactly the files in this folder (``rafiki``, ``rafiki.model``, ``rafiki.model.knob``,
  ``rafiki.constants``, ``singa_auto``..., ``vessl``, ``starwhale``); any other submodule name
  still fails as it would have;
* the modules it creates are ordinary modules in ``sys.modules`` under those names, for the life of
  the process (a model file imported twice must see the same classes).

What each stand-in provides is listed in its module docstring; anything else raises
``ImportError``/``AttributeError`` like a missing name in the real package would.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: top-level package names this folder has stand-ins for
SHIMMED = frozenset({"rafiki", "singa_auto", "vessl", "starwhale"})

HERE = Path(__file__).resolve().parent


class ShimFinder(importlib.abc.MetaPathFinder):
    """Finds ``root`` and its submodules among the files of this folder."""

    def __init__(self, root: str) -> None:
        if root not in SHIMMED:
            raise ValueError(f"no stand-in for {root!r}")
        self.root = root

    def __repr__(self) -> str:
        return f"ShimFinder({self.root!r})"

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        parts = fullname.split(".")
        if parts[0] != self.root:
            return None
        base = HERE.joinpath(*parts)
        if (base / "__init__.py").is_file():
            # an empty search path: submodules are found by this finder only, never elsewhere
            return importlib.util.spec_from_file_location(fullname, base / "__init__.py",
                                                          submodule_search_locations=[])
        if base.with_suffix(".py").is_file():
            return importlib.util.spec_from_file_location(fullname, base.with_suffix(".py"))
        return None


def install(root: str) -> bool:
    """Let ``import root`` find its stand-in from now on (if nothing else provides it); False if
    it already could."""
    if any(isinstance(f, ShimFinder) and f.root == root for f in sys.meta_path):
        return False
    sys.meta_path.append(ShimFinder(root))
    return True


def installed(root: str) -> bool:
    """True when ``root`` resolves to the stand-in here (after an import of it)."""
    module = sys.modules.get(root)
    return module is not None and str(getattr(module, "__file__", "")).startswith(str(HERE))
