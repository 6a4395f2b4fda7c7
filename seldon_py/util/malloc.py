"""glibc malloc settings for the serving processes (no-ops elsewhere).

Why: glibc gives each thread that allocates its own arena, up to 8 per core, and every arena keeps
the memory its thread freed. A process serving 32 requests at once (``--threads 32``,
``--grpc-threads 32``) then holds dozens of arenas, each with a payload's worth of freed buffers:
measured on the benchmark's loads, the process tree's PSS rose from ~65 MB idle to ~450 MB, and to
~200 MB with two arenas per process. Python code allocates under the GIL anyway, so more arenas buy
little: :func:`limit_arenas` caps them at :data:`ARENAS`.

Each is skipped when the user set the corresponding ``MALLOC_*`` environment variable (glibc's own
tuning wins) or the C library has no ``mallopt``.
"""

from __future__ import annotations

import ctypes
import os

#: glibc mallopt parameter numbers
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
#: arenas per serving process
ARENAS = 2


def _mallopt(param: int, value: int) -> bool:
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(param, value))


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap this process's malloc arenas (call before its threads start). Returns whether applied."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    return _mallopt(M_ARENA_MAX, arenas)
