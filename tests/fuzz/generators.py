"""Seeded generators of hostile requests for the fuzz suite (pure: no I/O).

Every case is a function of ``random.Random(seed)`` only, so a failing case is reproduced from
its seed and index. Classes covered (issue 11): declared shapes and counts beyond the data,
deep nesting in every JSON position, wrong types, NaN/huge numbers, unknown fields, oversized
bodies (both framings), malformed HTTP (request line, headers, chunking, Expect, paths),
multipart file parts, and random byte mutations of valid messages.
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from seldon_py.proto import prediction_pb2 as pb

#: the server's --max-payload-size in the fuzz suite (small, so oversize cases are cheap)
LIMIT = 256 << 10

REST_PATHS = ["/predict", "/api/v1.0/predictions", "/api/v0.1/predictions", "/transform-input",
              "/transform-output", "/route", "/aggregate", "/send-feedback", "/api/v1.0/feedback",
              "/health/ping", "/health/status", "/metadata", "/seldon.json"]
JUNK_PATHS = ["/", "//", "/../etc/passwd", "/predict/", "/%00", "/%ff%fe", "/a" * 300, "/predict;x",
              "/predict?json", "/predict#frag", "*", "/health/ping?x=%zz"]


def _seed_messages() -> list[dict[str, Any]]:
    return [
        {"data": {"ndarray": [[1, 2], [3, 4]]}},
        {"data": {"names": ["a", "b"], "tensor": {"shape": [1, 2], "values": [1.5, 2]}}},
        {"data": {"tftensor": {"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "2"}]}, "floatVal": [1, 2]}}},
        {"data": {"tftensor": {"dtype": "DT_STRING", "tensorShape": {"dim": [{"size": "1"}]},
                               "stringVal": [base64.b64encode(b"x").decode()]}}},
        {"jsonData": {"a": [1, {"b": None}], "c": "d"}},
        {"strData": "hello"},
        {"binData": base64.b64encode(b"\x00\x01binary").decode()},
        {"meta": {"puid": "p1", "tags": {"a": 1, "b": [1, 2]}}, "data": {"ndarray": [1, 2, 3]}},
        {"data": {"names": ["x"], "ndarray": [["s"], ["t"]]}},
    ]


def _feedback_seed() -> dict[str, Any]:
    return {"request": {"data": {"ndarray": [[1, 2]]}}, "response": {"data": {"ndarray": [[0.5]]}},
            "reward": 1.0, "truth": {"data": {"ndarray": [[1]]}}}


def _deep(rng: random.Random, depth: int) -> Any:
    leaf: Any = rng.choice([1, "x", None, 1.5])
    for _ in range(depth):
        leaf = [leaf] if rng.random() < 0.7 else {"k": leaf}
    return leaf


def hostile_value(rng: random.Random) -> Any:
    """A value chosen to break a codec that trusts what it is told."""
    kind = rng.randrange(22)
    if kind == 0:
        return _deep(rng, rng.choice([50, 99, 101, 150, 1000, 3000]))
    if kind == 1:
        return [0, rng.choice([10**8, 10**12, 2**31, 2**63, 10**30])]
    if kind == 2:
        return [rng.choice([10**8, 2**31 - 1, 65537]), 0]
    if kind == 3:
        return [1] * rng.choice([33, 64, 65, 200])
    if kind == 4:
        return [-1, -1] if rng.random() < 0.5 else [-2, 3]
    if kind == 5:
        return float("nan") if rng.random() < 0.5 else float("inf")
    if kind == 6:
        return rng.choice([2**70, -(2**63) - 1, 10**400 // 10**300, 1e308, -0.0])
    if kind == 7:
        return "x" * rng.choice([0, 1, 1000, 100_000])
    if kind == 8:
        return [[]] * rng.randrange(1, 2000)
    if kind == 9:
        return [[1, 2], [3]]  # ragged
    if kind == 10:
        return [0] * rng.randrange(1, 20_000)
    if kind == 11:
        return {"shape": [0, 10**8], "values": []}
    if kind == 12:
        return {"dtype": rng.choice(["DT_FLOAT", "DT_STRING", "DT_INT64", "DT_HALF", "DT_BOOL", "DT_COMPLEX64",
                                     "DT_RESOURCE", "BOGUS", 7, -1]),
                "tensorShape": {"dim": [{"size": str(rng.choice([0, 1, 10**8, -1, 2**40]))}
                                        for _ in range(rng.randrange(0, 4))]},
                rng.choice(["floatVal", "stringVal", "int64Val", "halfVal", "tensorContent"]):
                    rng.choice([[1], [], ["eA=="], "AAAA", "!!notbase64", [10**30]])}
        # tftensor
    if kind == 13:
        return rng.choice([True, False, None, 0, -1, "", [], {}])
    if kind == 14:
        return {"\u0000": 1, "\ud800x"[1:]: 2, "é": [1]}
    if kind == 15:
        return rng.choice(["=", "@@@", "AAAA====", "A" * 5, base64.b64encode(b"z" * 1000).decode()])
    if kind == 16:
        return {"seldonMessages": [rng.choice(_seed_messages()) for _ in range(rng.randrange(0, 5))]}
    if kind == 17:
        return [{"data": {"ndarray": [1]}}] * rng.randrange(0, 50)
    if kind == 18:
        return {"tags": _deep(rng, rng.choice([10, 120]))}
    if kind == 19:
        return [f"t:{i}" for i in range(rng.randrange(0, 5000))]
    if kind == 20:
        return {"values": list(range(rng.randrange(0, 100))), "shape": [rng.randrange(0, 200)]}
    return rng.random()


def _containers(obj: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(obj, dict) and len(path) < 8:
        for k, v in obj.items():
            out += _containers(v, path + (k,))
    elif isinstance(obj, list) and len(path) < 8:
        for i, v in enumerate(obj[:4]):
            out += _containers(v, path + (i,))
    return out


def mutate_structure(rng: random.Random, msg: Any) -> Any:
    """Replace, delete or add at a random position of a JSON message."""
    msg = json.loads(json.dumps(msg))
    for _ in range(rng.randrange(1, 4)):
        paths = _containers(msg)
        path = rng.choice(paths)
        if not path:
            if rng.random() < 0.2:
                return hostile_value(rng)
            if isinstance(msg, dict):
                msg[rng.choice(["data", "jsonData", "strData", "binData", "meta", "customData", "unknown"])] = \
                    hostile_value(rng)
            continue
        parent = msg
        for key in path[:-1]:
            parent = parent[key]
        op = rng.random()
        if op < 0.7:
            parent[path[-1]] = hostile_value(rng)
        elif op < 0.85 and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[rng.choice(["names", "shape", "values", "ndarray", "tensor", "tftensor", "zzz", "tags"])] = \
                hostile_value(rng)
    return msg


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """Random byte-level damage: flips, insertions, deletions, duplications, truncation."""
    b = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        if not b:
            b += bytes([rng.randrange(256)])
            continue
        i = rng.randrange(len(b))
        op = rng.randrange(6)
        if op == 0:
            b[i] = rng.randrange(256)
        elif op == 1:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        elif op == 2:
            del b[i:i + rng.randrange(1, 16)]
        elif op == 3:
            j = rng.randrange(i, len(b) + 1)
            b[j:j] = b[i:j][:4096]
        elif op == 4:
            del b[i:]
        else:
            b[i:i] = rng.choice([b"[", b"{", b"]", b"}", b'"', b"\\", b"NaN", b"-", b"1e99999", b"\x00", b"\xff"])
    return bytes(b)


def _dumps(obj: Any) -> bytes:
    try:
        return json.dumps(obj, allow_nan=True).encode()
    except (ValueError, RecursionError):  # too deep for the stdlib encoder: write it by hand
        return b"[" * 3000 + b"1" + b"]" * 3000


@dataclass
class RestCase:
    raw: bytes
    #: the request may be incomplete (the client half-closes): closing without an answer is fine
    may_be_incomplete: bool = False
    #: a JSON endpoint whose 2xx body must be JSON
    json_answer: bool = True
    #: a HEAD request: answers carry no body
    head: bool = False


def _http(method: str, target: str, headers: list[tuple[str, str]], body: bytes, framing: str,
          rng: random.Random) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: fuzz"] + [f"{k}: {v}" for k, v in headers]
    if framing == "length":
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    elif framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
        parts, i = [], 0
        while i < len(body):
            n = rng.randrange(1, 70_000)
            parts.append(b"%x\r\n%s\r\n" % (len(body[i:i + n]), body[i:i + n]))
            i += n
        payload = b"".join(parts) + b"0\r\n\r\n"
    else:
        payload = b""
    return "\r\n".join(lines).encode("latin-1", "replace") + b"\r\n\r\n" + payload


def rest_case(rng: random.Random) -> RestCase:
    """One hostile REST request."""
    roll = rng.random()
    if roll < 0.12:  # malformed HTTP
        return RestCase(_malformed_http(rng), may_be_incomplete=True)
    path = rng.choice(REST_PATHS) if rng.random() < 0.9 else rng.choice(JUNK_PATHS)
    if path in ("/send-feedback", "/api/v1.0/feedback"):
        msg: Any = _feedback_seed()
    elif path == "/aggregate":
        msg = {"seldonMessages": rng.sample(_seed_messages(), 2)}
    else:
        msg = rng.choice(_seed_messages())
    if rng.random() < 0.8:
        msg = mutate_structure(rng, msg)
    body = _dumps(msg)
    if rng.random() < 0.3:
        body = mutate_bytes(rng, body)
    if rng.random() < 0.04:  # oversize
        body = b'{"strData":"' + b"a" * rng.choice([LIMIT, 2 * LIMIT, 8 * LIMIT]) + b'"}'
    method = rng.choices(["POST", "GET", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH"], [80, 8, 3, 2, 4, 2, 1])[0]
    headers: list[tuple[str, str]] = []
    place = rng.choices(["body", "query", "form", "multipart", "none"], [70, 10, 8, 8, 4])[0]
    target = path
    framing = rng.choices(["length", "chunked"], [85, 15])[0]
    if place == "body":
        headers.append(("Content-Type", rng.choices(
            ["application/json", "text/plain", "application/vnd.x+json", "application/json; charset=latin-1", ""],
            [85, 4, 4, 4, 3])[0]))
    elif place == "query":
        target = path + "?json=" + quote(body[:20_000].decode("utf-8", "replace"))
        body, framing = b"", rng.choice(["length", "none"])
    elif place == "form":
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        body = b"json=" + quote(body.decode("utf-8", "replace")).encode()
    elif place == "multipart":
        headers.append(("Content-Type", "multipart/form-data; boundary=FUZZ"))
        parts = []
        for name in rng.sample(["data", "jsonData", "strData", "binData", "meta", "x"], rng.randrange(1, 3)):
            disposition = f'form-data; name="{name}"'
            if rng.random() < 0.5:
                disposition += '; filename="f.bin"'
            parts.append(b"--FUZZ\r\nContent-Disposition: " + disposition.encode() + b"\r\n\r\n" + body + b"\r\n")
        body = b"".join(parts) + b"--FUZZ--\r\n"
        if rng.random() < 0.2:
            body = mutate_bytes(rng, body)
    else:
        body, framing = b"", rng.choice(["length", "none"])
    if rng.random() < 0.08:
        headers.append(("Expect", rng.choice(["100-continue", "foo", "100-continue, x", ""])))
    if rng.random() < 0.05:
        headers += [(f"X-{i}", "y" * rng.randrange(1, 200)) for i in range(rng.randrange(1, 150))]
    if rng.random() < 0.05:
        headers.append(("X-Big", "z" * rng.choice([100, 9000, 70_000])))
    if rng.random() < 0.05:
        headers.append(("Origin", "http://fuzz.example"))
    return RestCase(_http(method, target, headers, body, framing, rng),
                    json_answer=method not in ("HEAD", "OPTIONS") and path not in ("/health/ping",),
                    head=method == "HEAD")


def _malformed_http(rng: random.Random) -> bytes:
    good = _http("POST", "/predict", [("Content-Type", "application/json")], b'{"strData":"x"}', "length", rng)
    kind = rng.randrange(10)
    if kind == 0:
        return mutate_bytes(rng, good)
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    if kind == 2:
        return rng.choice([b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/1.1", b"\r\n\r\n",
                           b"GET / HTTP/2.0\r\n\r\n", b"G\x00T / HTTP/1.1\r\n\r\n",
                           b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n"])
    if kind == 3:
        return good.replace(b"Content-Length",
                            rng.choice([b"Content-Length: 5\r\nContent-Length", b"Content-Length: -"]))
    if kind == 4:
        return good.replace(b"Host: fuzz", b"Host: fuzz\r\nTransfer-Encoding: " +
                            rng.choice([b"gzip", b"chunked, gzip", b"identity", b"chunked"]))
    if kind == 5:
        return (b"POST /predict HTTP/1.1\r\nHost: f\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked"
                b"\r\n\r\n" + rng.choice([b"zz\r\n", b"5\r\n{}\r\n0\r\n\r\n", b"2;ext=\x01\r\n{}\r\n0\r\n\r\n",
                                          b"ffffffffffffffffff\r\n", b"-1\r\n"]))
    if kind == 6:
        return good.replace(b"Host: fuzz", b"Host: fuzz\r\n" + rng.choice([b" folded", b"Bad Name: x", b"X: \x00",
                                                                          b"nocolon", b":empty"]))
    if kind == 7:
        return b"GET /health/ping HTTP/1.1\nHost: x\n\n"
    if kind == 8:
        return b"GET /" + b"a" * rng.choice([5000, 100_000, 1_200_000]) + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    return good[: rng.randrange(len(good))]


# ------------------------------------------------------------------------------------ gRPC
GRPC_METHODS = [
    ("/seldon.protos.Model/Predict", pb.SeldonMessage),
    ("/seldon.protos.Generic/TransformInput", pb.SeldonMessage),
    ("/seldon.protos.Generic/TransformOutput", pb.SeldonMessage),
    ("/seldon.protos.Router/Route", pb.SeldonMessage),
    ("/seldon.protos.Generic/Aggregate", pb.SeldonMessageList),
    ("/seldon.protos.Model/SendFeedback", pb.Feedback),
]


def _grpc_seeds() -> list[pb.SeldonMessage]:
    from google.protobuf import json_format

    out = []
    for msg in _seed_messages():
        try:
            out.append(json_format.ParseDict(msg, pb.SeldonMessage()))
        except json_format.ParseError:
            pass
    out.append(pb.SeldonMessage(data=pb.DefaultData(tensor=pb.Tensor(shape=[2, 2], values=[1, 2, 3, 4]))))
    return out


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _unknown_field(rng: random.Random) -> bytes:
    field = rng.choice([15, 16, 100, 2**20, 536870911])
    wire = rng.choice([0, 1, 2, 5])
    key = _varint(field << 3 | wire)
    if wire == 0:
        return key + _varint(rng.randrange(2**64))
    if wire == 1:
        return key + bytes(rng.randrange(256) for _ in range(8))
    if wire == 5:
        return key + bytes(rng.randrange(256) for _ in range(4))
    payload = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 20)))
    return key + _varint(len(payload)) + payload


def _deep_list_value(depth: int) -> bytes:
    """A ListValue nested ``depth`` deep, written by hand (protobuf would refuse to build it)."""
    inner = b""
    for _ in range(depth):
        value = b"\x32" + _varint(len(inner)) + inner  # Value.list_value
        inner = b"\x0a" + _varint(len(value)) + value  # ListValue.values
    return inner


def grpc_case(rng: random.Random) -> tuple[str, bytes]:
    """One hostile gRPC call: (method path, request bytes)."""
    method, cls = rng.choice(GRPC_METHODS)
    if cls is pb.SeldonMessageList:
        msg: Any = pb.SeldonMessageList(seldonMessages=rng.sample(_grpc_seeds(), 2))
    elif cls is pb.Feedback:
        seeds = _grpc_seeds()
        msg = pb.Feedback(request=rng.choice(seeds), response=rng.choice(seeds), reward=rng.uniform(-5, 5))
    else:
        msg = rng.choice(_grpc_seeds())
        roll = rng.randrange(8)
        if roll == 0:
            msg = pb.SeldonMessage(data=pb.DefaultData(tensor=pb.Tensor(
                shape=rng.choice([[0, 10**8], [10**8, 0], [2**31 - 1], [1] * 40, [0], [3, 3]]),
                values=[1.0] * rng.choice([0, 1, 9]))))
        elif roll == 1:
            data = _deep_list_value(rng.choice([5, 60, 99, 101, 500]))
            wire = b"\x1a" + _varint(len(data) + 2 + len(_varint(len(data)))) + b"\x1a" + _varint(len(data)) + data
            return method, wire
        elif roll == 2:
            msg = pb.SeldonMessage(data=pb.DefaultData(names=["n"] * rng.randrange(0, 3000),
                                                       ndarray=msg.data.ndarray if msg.HasField("data") else None))
    wire = msg.SerializeToString()
    roll = rng.random()
    if roll < 0.25:
        wire = mutate_bytes(rng, wire)
    elif roll < 0.45:
        i = rng.randrange(len(wire) + 1)
        wire = wire[:i] + _unknown_field(rng) + wire[i:]
    elif roll < 0.5:
        wire = wire + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    elif roll < 0.53:
        wire = b"\x22" + _varint(LIMIT + 10) + b"a" * (LIMIT + 10)  # oversize strData
    return method, wire
