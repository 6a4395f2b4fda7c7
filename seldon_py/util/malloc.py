"""glibc malloc settings for the serving processes (no-ops elsewhere).

Two settings, each applied by the serving process itself before its threads start:

- :func:`limit_arenas`: glibc gives each thread that allocates its own arena, up to 8 per core,
  and every arena keeps the memory its thread freed. A process serving 32 requests at once
  (``--threads 32``, or gRPC's own C threads moving 32 payloads) then holds a payload's worth of
  freed buffers per arena. Measured on the benchmark's 100,000-double gRPC tensor with 32 calls
  in flight, the gRPC process's PSS was ~115-130 MB with two arenas and ~95 MB with one, at the same
  throughput (glibc's default had let the whole tree reach ~450 MB): Python code allocates
  under the GIL anyway, so more arenas buy little. :data:`ARENAS` is one.
- :func:`keep_freed_buffers` (gRPC processes): with glibc's defaults every buffer above
  ~128 KiB that a gRPC thread frees goes back to the kernel and the next call page-faults it in
  again, which for a 100,000-double tensor roughly doubles the server's CPU per call. A fixed
  mmap threshold keeps such buffers in the heap, and a trim threshold of :data:`KEEP_FREED`
  bounds what the heap keeps once they are freed. 8 MiB keeps a few payloads' worth: at 4 MiB
  the same tensor one call at a time cost ~3x the CPU per call (the heap was trimmed and
  faulted in again on every call); 16 MiB cost ~20 MB more PSS at ``--grpc-workers 2`` and
  nothing measurable in speed.

Each is skipped when the user set a ``MALLOC_*`` tuning variable (glibc's own tuning wins) or
the C library has no ``mallopt``.
"""

from __future__ import annotations

import ctypes
import os

#: glibc mallopt parameter numbers
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
#: arenas per serving process
ARENAS = 1
#: freed memory the heap keeps before returning it to the kernel (:func:`keep_freed_buffers`)
KEEP_FREED = 8 << 20
#: allocations below this come from the heap, not from their own mmap (:func:`keep_freed_buffers`)
MMAP_ABOVE = 32 << 20
#: the environment variables that mean "the user tunes malloc": then we leave it alone
USER_TUNING = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def _mallopt(*settings: tuple[int, int]) -> bool:
    if any(var in os.environ for var in USER_TUNING):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return all([bool(mallopt(param, value)) for param, value in settings])


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap this process's malloc arenas (call before its threads start). Returns whether applied."""
    return _mallopt((M_ARENA_MAX, arenas))


def keep_freed_buffers(mmap_above: int = MMAP_ABOVE, keep: int = KEEP_FREED) -> bool:
    """Serve payload-sized buffers from the heap and keep up to ``keep`` bytes of them freed.

    Returns whether applied."""
    return _mallopt((M_MMAP_THRESHOLD, mmap_above), (M_TRIM_THRESHOLD, keep))
