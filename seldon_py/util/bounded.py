"""A small most-recently-kept mapping, shared by the codecs' caches."""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def put_bounded(mapping: OrderedDict[K, V], key: K, value: V, most: int) -> V:
    """``mapping[key] = value`` as its most recent entry, then forget the oldest entries beyond
    ``most``; returns ``value``. Safe to call from several threads at once (another may have
    emptied it meanwhile)."""
    mapping[key] = value
    try:
        mapping.move_to_end(key)
    except KeyError:  # forgotten meanwhile by another thread's put
        return value
    while len(mapping) > most:
        try:
            mapping.popitem(last=False)
        except KeyError:
            break
    return value
