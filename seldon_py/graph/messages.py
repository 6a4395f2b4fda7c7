"""The messages a graph walk passes between nodes, and the few things the walker reads or
writes in them. No I/O.

A message is whatever the last node produced, in its cheapest form:

* a JSON dict (REST ingress, or a REST hop's reply),
* a ``seldon.protos.SeldonMessage`` (gRPC ingress, or a gRPC hop's reply),
* a :class:`~seldon_py.payload.Response` (an in-process or built-in node's result: no encoding),
* :class:`JsonBytes` (a REST node's reply, or the REST request, as the bytes that came: passed on
  to the next REST hop or the client as they are, parsed only if something must look inside).

It is converted only when a hop needs another form (:func:`to_json`, :func:`to_proto`,
:func:`to_payload`), so an all-in-process graph never serialises, and an all-REST graph passes
dicts. Feedback messages are a JSON dict or a ``seldon.protos.Feedback``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from google.protobuf import json_format

from ..errors import BadRequest
from ..proto import prediction_pb2 as pb
from ..protocol.seldon import json_codec, proto_codec
from ..protocol.seldon.payload import DATA_KINDS, Payload, Response, default_names
from ..util import jsonutil
from .errors import BadNodeResponse, BadRoute

REST = "rest"
GRPC = "grpc"


class JsonBytes:
    """A JSON message as the bytes a client or a REST node sent; parsed at most once, on demand.

    ``origin`` is the node that sent it (``None``: the client), for the error if it is not JSON.
    """

    __slots__ = ("_value", "origin", "raw")
    _UNPARSED = object()

    def __init__(self, raw: bytes, origin: str | None = None, value: Any = _UNPARSED) -> None:
        self.raw = raw
        self.origin = origin
        self._value = value

    def value(self) -> Any:
        if self._value is JsonBytes._UNPARSED:
            try:
                self._value = jsonutil.loads(self.raw)
            except ValueError as exc:
                if self.origin is None:
                    raise BadRequest(f"Invalid JSON: {exc}") from None
                raise BadNodeResponse(
                    f"node {self.origin!r} answered 200 with a body that is not JSON: {exc}"
                ) from None
        return self._value

    def __repr__(self) -> str:
        return f"JsonBytes({self.raw[:80]!r})"


def to_json_bytes(msg: Any) -> bytes:
    """The message as JSON bytes for the wire (the bytes it came as, when it came as JSON)."""
    if isinstance(msg, JsonBytes):
        return msg.raw
    return jsonutil.dumps(to_json(msg))


def to_json(msg: Any) -> Any:
    """The message as a JSON-ready value (numpy arrays allowed inside: ``jsonutil.dumps`` takes them)."""
    if isinstance(msg, Response):
        return json_codec.encode_response(msg)
    if isinstance(msg, JsonBytes):
        return msg.value()
    if isinstance(msg, pb.SeldonMessage | pb.Feedback | pb.SeldonMessageList):
        return json_format.MessageToDict(msg)
    return msg


def to_proto(msg: Any, cls: type = pb.SeldonMessage) -> Any:
    if isinstance(msg, Response):
        return proto_codec.encode_response(msg)
    if isinstance(msg, cls):
        return msg
    if isinstance(msg, JsonBytes):
        msg = msg.value()
    out = cls()
    try:
        json_format.ParseDict(msg, out, ignore_unknown_fields=False)
    except (json_format.ParseError, TypeError, ValueError, AttributeError) as exc:
        raise BadRequest(f"cannot pass this message on as a {cls.__name__}: {exc}") from None
    return out


def to_payload(msg: Any, transport: str) -> Payload:
    """What a user method (in-process node) or a built-in gets, as it would after a remote hop on
    ``transport`` (so in-process and remote answers agree: REST widens float32 to float64, gRPC
    makes every tensor/ndarray number a float64)."""
    if isinstance(msg, Response):
        kind = msg.kind
        value = msg.value
        names = list(default_names(msg.names)) if isinstance(msg.names, int) else list(msg.names)
        if kind in DATA_KINDS:
            if not isinstance(value, np.ndarray):
                value = np.array(value)
            if kind != "tftensor" and value.dtype.kind in "biuf":
                widen = transport == GRPC and value.dtype.kind in "iuf"
                if widen or (value.dtype.kind == "f" and value.dtype.itemsize < 8):
                    value = value.astype(np.float64)
        return Payload(kind, value, names, dict(msg.meta) if msg.meta is not None else None)
    if isinstance(msg, pb.SeldonMessage):
        return proto_codec.decode_message(msg)
    if isinstance(msg, JsonBytes):
        msg = msg.value()
    return json_codec.decode_message(msg)


# ------------------------------------------------------------------------------- routing
def _first_number(value: Any, depth: int = 0) -> Any:
    while isinstance(value, list) and value and depth < 8:
        value = value[0]
        depth += 1
    return value


def route_index(msg: Any, router: str) -> int:
    """The child index a router's reply names (spec §16.2): first number of ``data`` (ndarray
    ``[[1]]`` or ``[1]``, tensor values, tftensor int_val) or of a bare JSON array."""
    value: Any = None
    if isinstance(msg, JsonBytes):
        msg = msg.value()
    if isinstance(msg, Response):
        v = msg.value
        if isinstance(v, np.ndarray):
            value = v.reshape(-1)[0].item() if v.size else None
        else:
            value = _first_number(v)
    elif isinstance(msg, pb.SeldonMessage):
        d = msg.data
        which = d.WhichOneof("data_oneof")
        if which == "tensor" and len(d.tensor.values):
            value = d.tensor.values[0]
        elif which == "ndarray":
            value = _first_number(json_format.MessageToDict(d.ndarray))
        elif which == "tftensor":
            t = d.tftensor
            value = t.int_val[0] if len(t.int_val) else (t.int64_val[0] if len(t.int64_val) else None)
    elif isinstance(msg, list):
        value = _first_number(msg)
    elif isinstance(msg, dict):
        data = msg.get("data")
        if isinstance(data, dict):
            if "ndarray" in data:
                value = _first_number(data["ndarray"])
            elif isinstance(data.get("tensor"), dict):
                value = _first_number(data["tensor"].get("values"))
            elif isinstance(data.get("tftensor"), dict):
                tf = data["tftensor"]
                value = _first_number(tf.get("intVal") or tf.get("int64Val"))
                if isinstance(value, str):
                    value = int(value) if value.lstrip("-").isdigit() else value
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise BadRoute(f"router {router!r} answered no child index (want a number in data, got {_short(msg)})")
    return int(value)


def _short(msg: Any) -> str:
    text = repr(to_json(msg) if not isinstance(msg, Response) else msg.value)
    return text if len(text) <= 200 else text[:200] + "..."


def with_routing(msg: Any, routing: dict[str, int]) -> Any:
    """The message with ``meta.routing`` set (only when it has a meta, as the reference)."""
    if isinstance(msg, Response):
        msg.meta = {**(msg.meta or {}), "routing": dict(routing)}
        return msg
    if isinstance(msg, pb.SeldonMessage):
        msg.meta.routing.clear()
        msg.meta.routing.update(routing)
        return msg
    if isinstance(msg, JsonBytes):
        msg = msg.value()
    if isinstance(msg, dict) and isinstance(msg.get("meta"), dict):
        return {**msg, "meta": {**msg["meta"], "routing": dict(routing)}}
    return msg


def feedback_routing(fb: Any) -> dict[str, int]:
    """``response.meta.routing`` of a Feedback (node name → route taken)."""
    if isinstance(fb, pb.Feedback):
        return dict(fb.response.meta.routing)
    if isinstance(fb, JsonBytes):
        fb = fb.value()
    if not isinstance(fb, dict):
        raise BadRequest("feedback must be a JSON object")
    resp = fb.get("response")
    meta = resp.get("meta") if isinstance(resp, dict) else None
    routing = meta.get("routing") if isinstance(meta, dict) else None
    if routing is None:
        return {}
    if not isinstance(routing, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in routing.values()
    ):
        raise BadRequest("feedback response.meta.routing must map node names to integers")
    return {str(k): int(v) for k, v in routing.items()}


def check_reply(raw: bytes, node: str) -> JsonBytes:
    """A REST node's 200 reply must look like a JSON object (or, for a router, a bare list); it is
    parsed only if something must look inside."""
    if raw.lstrip()[:1] in (b"{", b"["):
        return JsonBytes(raw, node)
    raise BadNodeResponse(f"node {node!r} answered 200 with a body that is not a SeldonMessage: {raw[:80]!r}")


def feedback_reply(fb: Any) -> Any:
    """What the executor answers when the root node takes no feedback: the feedback itself (REST),
    an empty SeldonMessage (gRPC, whose SendFeedback must return a SeldonMessage)."""
    if isinstance(fb, pb.Feedback):
        return pb.SeldonMessage()
    return fb


def feedback_to_proto(fb: Any) -> pb.Feedback:
    return to_proto(fb, pb.Feedback)


def feedback_to_json(fb: Any) -> Any:
    return to_json(fb)
