"""glibc malloc settings of the serving processes (seldon_py.util.malloc), checked on glibc itself."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="glibc only")

# Eight threads each allocate a buffer big enough for malloc (not pymalloc) while all are alive;
# glibc's malloc_info then lists one <heap> per arena in use.
ARENAS_IN_USE = """
import ctypes, sys, tempfile, threading
from seldon_py.util import malloc
applied = malloc.limit_arenas() if sys.argv[1] == "limit" else None
barrier = threading.Barrier(8)
keep = []
def work():
    keep.append(bytearray(1 << 16))
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile() as f:
    fp = libc.fopen(f.name.encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(fp))
    libc.fclose(ctypes.c_void_p(fp))
    heaps = open(f.name).read().count("<heap nr=")
print(applied, heaps)
"""


def arenas_in_use(mode: str, **env: str) -> tuple[str, int]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", ARENAS_IN_USE, mode], capture_output=True, text=True,
                         env={**base, **env}, check=True).stdout.split()
    return out[0], int(out[1])


def test_one_arena_for_all_threads_once_limited():
    applied, heaps = arenas_in_use("limit")
    assert applied == "True"
    assert heaps == 1


def test_without_the_limit_threads_take_their_own_arenas():
    # The control: the same program shows more arenas when nothing limits them, so the check
    # above measures the limit, not a machine that never makes more than one.
    _, heaps = arenas_in_use("none")
    assert heaps > 1


def test_the_users_own_malloc_tuning_wins():
    applied, heaps = arenas_in_use("limit", MALLOC_ARENA_MAX="3")
    assert applied == "False"
    assert 1 < heaps <= 3


KEEP_FREED = """
import sys
from seldon_py.util import malloc
print(malloc.keep_freed_buffers())
"""


def test_keep_freed_buffers_applies_unless_the_user_tuned_malloc():
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    run = lambda env: subprocess.run([sys.executable, "-c", KEEP_FREED], capture_output=True,  # noqa: E731
                                     text=True, env=env, check=True).stdout.strip()
    assert run(base) == "True"
    assert run({**base, "MALLOC_TRIM_THRESHOLD_": "1000000"}) == "False"
    assert run({**base, "MALLOC_TOP_PAD_": "0"}) == "False"
