"""The Seldon ``meta`` merge, one function for both sides of a call.

A node answering a request (server side, :class:`~seldon_py.protocol.seldon.handler.SeldonHandler`)
and a client combining what other nodes answered (the graph executor) build a message's ``meta``
the same way (spec §5.5):

* ``puid``: the first incoming meta's, when it has one;
* ``tags``: the union of the incoming metas' tags (when ``echo``), then each of ``extra_tags`` in
  order, later ones winning;
* ``metrics``: the incoming metas' metrics lists concatenated (when ``echo``; a ``metrics`` value
  that is not a list is echoed as it came, as the reference does), then ``metrics``;
* ``requestPath``: ``own_path`` updated with the incoming metas' request paths (when ``echo``);
* ``routing`` is never carried over.

Keys appear in the order puid, tags, metrics, requestPath; empty ones are left out. Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ...errors import BadRequest


def merge_meta(
    incoming: Sequence[dict[str, Any] | None],
    *,
    echo: bool = True,
    extra_tags: Iterable[dict[str, Any] | None] = (),
    metrics: Sequence[dict[str, Any]] = (),
    own_path: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The meta of a message built from the ``incoming`` metas (see the module docstring)."""
    out: dict[str, Any] = {}
    first = incoming[0] if incoming else None
    if first:
        puid = first.get("puid")
        if puid:
            out["puid"] = puid
    tags: dict[str, Any] = {}
    echoed: list[Any] = []
    verbatim: Any = None
    path = dict(own_path or {})
    if echo:
        for m in incoming:
            if not m:
                continue
            t = m.get("tags")
            if isinstance(t, dict):
                tags.update(t)
            em = m.get("metrics")
            if isinstance(em, list):
                echoed.extend(em)
            elif em is not None:
                verbatim = em
            rp = m.get("requestPath")
            if isinstance(rp, dict):
                path.update(rp)
    for extra in extra_tags:
        if extra:
            if not isinstance(extra, dict):
                raise BadRequest("SeldonResponse tags must be a dict")
            tags.update(extra)
    if tags:
        out["tags"] = tags
    echoed.extend(metrics)
    if echoed:
        out["metrics"] = echoed
    elif verbatim is not None:
        out["metrics"] = verbatim
    if path:
        out["requestPath"] = path
    return out
