"""A lean writer of prometheus_client's multiprocess value files, for the per-request metrics.

prometheus_client's own multiprocess values cost about 1 µs per update (a lock and a ``getpid``
system call each); a request updates nine of them. :class:`ValueFile` writes the same file
format (so :class:`prometheus_client.multiprocess.MultiProcessCollector` merges it with everything
else) but leaves locking to its caller, who takes one lock per request, and updates a value in
place through a ``memoryview`` of doubles: no system call, no packing.

File format (prometheus_client ``mmap_dict``): a 4-byte used-length, 4 bytes of padding, then
entries of a 4-byte key length, the UTF-8 JSON key padded to 8-byte alignment, a double value and
a double timestamp. The used-length is written last, so readers never see half an entry.
"""

from __future__ import annotations

import json
import mmap
import os
import struct

_INITIAL = 1 << 16
_INT = struct.Struct("i")


def value_key(metric: str, sample: str, labels: dict[str, str], help_text: str) -> str:
    """The key prometheus_client's collector expects (same JSON as ``mmap_dict.mmap_key``)."""
    return json.dumps([metric, sample, labels, help_text], sort_keys=True)


class ValueFile:
    """Append-only slots of doubles in a memory-mapped file. Not thread-safe: lock around it.

    ``view`` is a ``memoryview`` of the file as doubles; a slot number indexes it, so an update
    is ``view[slot] += amount`` (an aligned 8-byte store). ``view`` is replaced when the file
    grows: read it again after :meth:`add_slot`.
    """

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self._fd = os.open(filename, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o600)
        self._capacity = _INITIAL
        os.ftruncate(self._fd, self._capacity)
        self._map = mmap.mmap(self._fd, self._capacity)
        self.view = memoryview(self._map).cast("d")
        self._used = 8
        _INT.pack_into(self._map, 0, self._used)

    def add_slot(self, key: str) -> int:
        """A new value (0.0) under ``key``; returns its slot number (index into ``view``)."""
        encoded = key.encode("utf-8")
        padded = encoded + b" " * (8 - (len(encoded) + 4) % 8)
        entry = _INT.pack(len(encoded)) + padded + b"\0" * 16
        if self._used + len(entry) > self._capacity:
            while self._used + len(entry) > self._capacity:
                self._capacity *= 2
            os.ftruncate(self._fd, self._capacity)
            self._map = mmap.mmap(self._fd, self._capacity)
            self.view = memoryview(self._map).cast("d")  # the old map stays valid until unused
        self._map[self._used:self._used + len(entry)] = entry
        self._used += len(entry)
        _INT.pack_into(self._map, 0, self._used)  # publish the entry to readers
        return (self._used - 16) // 8

    def close(self) -> None:
        self.view.release()
        self._map.close()
        os.close(self._fd)
