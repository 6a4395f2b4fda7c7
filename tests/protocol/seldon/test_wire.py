"""The one protobuf wire reader: bounds, varint limits, skipping unknown fields of every wire type."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from seldon_py.proto import prediction_pb2 as pb
from seldon_py.protocol.seldon import proto_codec, wire
from seldon_py.protocol.seldon.wire import WireError, read_len, read_varint, single_submessage, skip_field


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


@pytest.mark.parametrize("n", [0, 1, 127, 128, 300, 2**31, 2**35, 2**63, 2**64 - 1])
def test_varint_round_trip(n):
    buf = varint(n) + b"\xff"
    assert read_varint(buf, 0, len(buf)) == (n, len(buf) - 1)


@pytest.mark.parametrize("buf", [b"", b"\x80", b"\xff\xff", b"\x80" * 9])
def test_truncated_varint(buf):
    with pytest.raises(WireError, match="truncated"):
        read_varint(buf, 0, len(buf))


def test_a_varint_stops_at_end_not_at_the_buffer():
    buf = b"\x80\x01"  # a valid two-byte varint, but the message ends after one byte
    with pytest.raises(WireError, match="truncated"):
        read_varint(buf, 0, 1)


@pytest.mark.parametrize("buf", [b"\x80" * 10 + b"\x01", b"\xff" * 11, b"\xff" * 9 + b"\x02"])
def test_overlong_varint(buf):
    with pytest.raises(WireError, match="overlong|64 bits"):
        read_varint(buf, 0, len(buf))


def test_lengths_are_checked_before_anything_is_read():
    assert read_len(b"\x03abcd", 0, 5) == (1, 4)
    with pytest.raises(WireError):
        read_len(b"\x05abc", 0, 4)
    huge = varint(2**62) + b"x"
    with pytest.raises(WireError):
        read_len(huge, 0, len(huge))


def key(field: int, wire_type: int) -> bytes:
    return varint(field << 3 | wire_type)


UNKNOWN = {
    "varint": key(9, 0) + varint(2**40),
    "fixed64": key(9, 1) + struct.pack("<d", 1.5),
    "len": key(9, 2) + varint(3) + b"abc",
    "fixed32": key(9, 5) + struct.pack("<f", 1.5),
    "group": key(9, 3) + key(1, 0) + varint(5) + key(2, 3) + key(2, 4) + key(9, 4),
}


@pytest.mark.parametrize("name", UNKNOWN)
def test_skip_field_every_wire_type(name):
    buf = UNKNOWN[name] + b"\x08\x01"
    k, pos = read_varint(buf, 0, len(buf))
    assert skip_field(buf, pos, len(buf), k) == len(UNKNOWN[name])


@pytest.mark.parametrize("buf", [
    key(9, 6) + b"\x00",  # wire types 6 and 7 do not exist
    key(9, 7) + b"\x00",
    key(9, 1) + b"\x00" * 7,  # truncated fixed64
    key(9, 5) + b"\x00" * 3,
    key(9, 3) + key(1, 0) + varint(5),  # group never ends
    key(9, 3) + key(8, 4),  # group ends with another number
    key(9, 3) * 40,  # groups nested too deeply
])
def test_malformed_fields(buf):
    k, pos = read_varint(buf, 0, len(buf))
    with pytest.raises(WireError):
        skip_field(buf, pos, len(buf), k)


def test_single_submessage():
    body = UNKNOWN["fixed64"] + key(3, 2) + varint(2) + b"hi" + UNKNOWN["group"]
    assert single_submessage(body, 0, len(body), 3) is not None
    start, stop = single_submessage(body, 0, len(body), 3)
    assert body[start:stop] == b"hi"
    assert single_submessage(body + key(3, 2) + b"\x00", 0, len(body) + 2, 3) is None  # repeated
    assert single_submessage(key(3, 0) + b"\x01", 0, 2, 3) is None  # not length-delimited
    assert single_submessage(UNKNOWN["len"], 0, len(UNKNOWN["len"]), 3) is None  # absent
    many = UNKNOWN["varint"] * 100
    assert single_submessage(many, 0, len(many), 3) is None  # bounded work


def _tensor_with_unknown(name: str) -> bytes:
    t = pb.Tensor(shape=[2], values=[1.0, 2.0]).SerializeToString() + UNKNOWN[name]
    return t


@pytest.mark.parametrize("name", UNKNOWN)
def test_unknown_tensor_fields_of_any_wire_type_are_skipped_not_malformed(name):
    raw = _tensor_with_unknown(name)
    parsed = pb.Tensor.FromString(raw)  # protobuf keeps the unknown field and writes it back
    assert proto_codec.tensor_to_array(parsed).tolist() == [1.0, 2.0]
    msg = pb.SeldonMessage()
    msg.data.tensor.CopyFrom(parsed)
    data = msg.SerializeToString()
    assert proto_codec.tensor_from_message_wire(data).tolist() == [1.0, 2.0]
    assert proto_codec.decode_message(pb.SeldonMessage.FromString(data), data).value.tolist() == [1.0, 2.0]
    assert wire.scan_request(data) is None  # the scan leaves unknown fields to protobuf


def test_unpacked_values_fall_back_to_protobuf():
    unpacked = key(1, 2) + varint(1) + varint(2) + key(2, 1) + struct.pack("<d", 1.0) + key(2, 1) + struct.pack(
        "<d", 2.0)
    assert proto_codec.tensor_from_span(unpacked, 0, len(unpacked)) is None
    parsed = pb.Tensor.FromString(unpacked)
    assert proto_codec.tensor_to_array(parsed).tolist() == [1.0, 2.0]


def test_truncated_tensor_is_none_on_the_fast_path():
    t = pb.Tensor(shape=[2], values=[1.0, 2.0]).SerializeToString()
    assert proto_codec.tensor_from_span(t[:-3], 0, len(t) - 3) is None
    with pytest.raises(Exception, match="malformed Tensor message"):
        proto_codec._tensor_from_wire(t[:-3], 0, len(t) - 3, strict=True)


def test_tensor_values_are_read_in_place_of_the_received_bytes():
    arr = np.arange(1000, dtype=np.float64)
    msg = pb.SeldonMessage()
    msg.data.tensor.shape.append(1000)
    msg.data.tensor.values.extend(arr.tolist())
    data = msg.SerializeToString()
    assert np.array_equal(proto_codec.tensor_from_message_wire(data), arr)
