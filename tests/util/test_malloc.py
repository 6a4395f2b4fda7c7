"""Malloc arena cap of the serving processes (seldon_py.util.malloc)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from seldon_py.util import malloc

CHECK = """
import os, sys, threading
from seldon_py.util import malloc
applied = malloc.limit_arenas()
print(applied)
"""


@pytest.mark.skipif(platform.system() != "Linux" or not platform.libc_ver()[0] == "glibc", reason="glibc only")
def test_limit_arenas_applies_unless_the_user_tuned_malloc():
    run = lambda env: subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,  # noqa: E731
                                     env=env, check=True).stdout.strip()
    import os

    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    assert run(base) == "True"
    assert run({**base, "MALLOC_ARENA_MAX": "4"}) == "False"
    assert malloc.ARENAS == 2
