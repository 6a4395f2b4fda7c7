"""The gRPC codec handed to :class:`~seldon_py.protocol.seldon.handler.SeldonHandler`:
:mod:`seldon_py.protocol.seldon.proto_codec` plus the request's wire bytes, so large tensors are read
from the bytes grpcio received rather than re-serialised out of the parsed message, and requests that were only scanned
(:class:`~seldon_py.protocol.seldon.wire.ScannedRequest`) are decoded from their bytes."""

from __future__ import annotations

from typing import Any

from ...protocol.seldon import proto_codec
from ...protocol.seldon.payload import Payload
from ...protocol.seldon.wire import ScannedRequest


class WireCodec:
    """The codec for one SeldonMessage request (cheap: built per call)."""

    __slots__ = ("msg", "wire")

    decode_message_list = staticmethod(proto_codec.decode_message_list)
    raw_metrics = staticmethod(proto_codec.raw_metrics)
    strip_raw_metrics = staticmethod(proto_codec.strip_raw_metrics)

    def __init__(self, msg: Any, wire: bytes) -> None:
        self.msg = msg
        self.wire = wire

    def decode_message(self, raw: Any) -> Payload:
        if type(raw) is ScannedRequest:
            return proto_codec.decode_scanned(raw)
        return proto_codec.decode_message(raw, self.wire if raw is self.msg else None)
