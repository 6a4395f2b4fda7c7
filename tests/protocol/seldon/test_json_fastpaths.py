"""The REST codec's fast paths give exactly what its general paths give.

Decoding a tensor's ``values`` skips ``np.array``'s type discovery for lists of numbers
(``json_codec._flat_numbers``); ``jsonutil.dumps`` skips scanning large outputs for non-ASCII when
the object shows it cannot hold any (``jsonutil._ascii_only``). Each test runs many generated
inputs through both the fast and the general path and compares results, errors and wire bytes.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

import numpy as np
import pytest

from seldon_py.errors import BadRequest
from seldon_py.protocol.seldon import json_codec
from seldon_py.protocol.seldon.payload import build_response
from seldon_py.util import jsonutil

SPECIAL_FLOATS = [0.0, -0.0, 1e300, -1e300, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                  0.1, 1 / 3, 9007199254740993.0, 2.0**63, -(2.0**63), 2.0**64, 123456.789012]
SPECIAL_INTS = [0, 1, -1, 2**53 + 1, -(2**53) - 1, 2**62, 2**63 - 1, -(2**63) + 1, -(2**63), 2**63,
                2**64 - 1, 2**64, -(2**63) - 1, 2**70, -(2**70), 10**300]
ODD = ["1.5", "", "é", None, [], [1.0], {}, {"a": 1}, True, False, float("nan"), float("inf"), float("-inf")]


def _number(rng: random.Random) -> Any:
    pick = rng.random()
    if pick < 0.35:
        return rng.uniform(-1e3, 1e3)
    if pick < 0.5:
        return rng.choice(SPECIAL_FLOATS)
    if pick < 0.65:
        return rng.randint(-1000, 1000)
    if pick < 0.75:
        return rng.choice(SPECIAL_INTS)
    if pick < 0.8:
        return rng.choice([True, False])
    return struct_float(rng)


def struct_float(rng: random.Random) -> float:
    """Any finite double, sign and exponent included (from random bits)."""
    while True:
        value = np.frombuffer(rng.getrandbits(64).to_bytes(8, "little"), dtype="<f8")[0].item()
        if math.isfinite(value):
            return value


def generated_value_lists(count: int = 600) -> list[list[Any]]:
    rng = random.Random(5)
    lists: list[list[Any]] = [[], [1.5], [1], [True], [True, 2], [1.5, True], [2, 1.5], [1.5, 2]]
    for special in SPECIAL_FLOATS + SPECIAL_INTS:
        lists += [[special], [1.5, special], [special, 1.5], [1, special], [special, 1]]
    for odd in ODD:
        lists += [[odd], [1.5, odd], [1, odd], [odd, 1.5]]
    for _ in range(count):
        n = rng.choice([1, 2, 3, 7, 64, 1000])
        lead = rng.choice(["float", "int", "mixed"])
        if lead == "float":
            values = [struct_float(rng) if rng.random() < 0.5 else rng.uniform(-1, 1) for _ in range(n)]
        elif lead == "int":
            values = [rng.randint(-(2**40), 2**40) for _ in range(n)]
        else:
            values = [_number(rng) for _ in range(n)]
        if rng.random() < 0.3:  # one element of another kind somewhere
            values[rng.randrange(n)] = rng.choice(SPECIAL_FLOATS + SPECIAL_INTS + ODD + [True])
        lists.append(values)
    return lists


def _general(values: list[Any]) -> np.ndarray:
    return np.array(values)


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype != b.dtype or a.dtype.str != b.dtype.str or a.shape != b.shape:
        return False
    if a.dtype.kind == "f":
        return a.tobytes() == b.tobytes() or (
            np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b))
        )
    return bool(np.all(a == b))


def test_flat_numbers_is_np_array_or_declines():
    taken = declined = 0
    for values in generated_value_lists():
        fast = json_codec._flat_numbers(values)
        if fast is None:
            declined += 1
            continue
        taken += 1
        try:
            general = _general(values)
        except ValueError:
            pytest.fail(f"fast path took a list np.array rejects: {values[:5]}")
        assert _same_array(fast, general), (values[:8], fast[:8], general[:8])
    assert taken > 300 and declined > 50  # both paths really exercised


def test_flat_numbers_takes_the_common_lists():
    assert json_codec._flat_numbers([0.5] * 10).dtype == np.float64
    assert json_codec._flat_numbers([1.5, 2, True]).tolist() == [1.5, 2.0, 1.0]
    assert json_codec._flat_numbers([3, True, -4]).dtype == np.array([3]).dtype
    for declined in ([], [True, 1.5], [1.5, "2"], [1.5, None], [1, 1.5], [1.5, 2**63], [2**63, 1],
                     [1.5, float("nan")], [float("inf")], ["a"]):
        assert json_codec._flat_numbers(declined) is None, declined


def _decode(tensor: Any, fast: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as m:
        m.setattr(json_codec, "_FLAT_NUMBERS_FROM", 0)  # short lists too, to see them all
        if not fast:
            m.setattr(json_codec, "_flat_numbers", lambda values: None)
        try:
            return json_codec.decode_tensor(tensor)
        except BadRequest as exc:
            return ("error", exc.status_code, str(exc))


def test_decode_tensor_fast_equals_general(monkeypatch: pytest.MonkeyPatch):
    rng = random.Random(7)
    for values in generated_value_lists(300):
        n = len(values)
        shapes = [[n], [-1], [1, n], [n, 1], [1, -1], [n + 1], [2, -1], [0], [], [-1, -1]]
        for shape in rng.sample(shapes, 4):
            tensor = {"shape": shape, "values": values}
            fast, general = _decode(tensor, True, monkeypatch), _decode(tensor, False, monkeypatch)
            if isinstance(general, tuple):
                assert fast == general
            else:
                assert isinstance(fast, np.ndarray) and _same_array(fast, general), (shape, values[:5])
                assert fast.flags.writeable and fast.flags.c_contiguous


def test_decode_tensor_takes_the_fast_path_for_long_lists(monkeypatch: pytest.MonkeyPatch):
    seen = []

    def spy(values: list[Any]) -> Any:
        seen.append(len(values))
        return flat_numbers(values)

    flat_numbers = json_codec._flat_numbers
    monkeypatch.setattr(json_codec, "_flat_numbers", spy)
    n = json_codec._FLAT_NUMBERS_FROM
    short = json_codec.decode_tensor({"shape": [-1], "values": [0.5] * (n - 1)})
    long = json_codec.decode_tensor({"shape": [1, -1], "values": [0.5, 2] * n})
    assert seen == [2 * n]
    assert short.dtype == long.dtype == np.float64 and long.shape == (1, 2 * n)
    assert long.ravel().tolist() == [0.5, 2.0] * n


def test_decode_tensor_through_loads_matches_general(monkeypatch: pytest.MonkeyPatch):
    """From wire bytes, as the REST app decodes (NaN/Infinity and >64-bit ints via the fallback)."""
    bodies = [
        b'{"data":{"tensor":{"shape":[1,3],"values":[1.0,-0.0,5e-324]}}}',
        b'{"data":{"tensor":{"shape":[3],"values":[1,2,3]}}}',
        b'{"data":{"tensor":{"shape":[2],"values":[1.5,NaN]}}}',
        b'{"data":{"tensor":{"shape":[2],"values":[Infinity,1]}}}',
        b'{"data":{"tensor":{"shape":[2],"values":[1.5,1180591620717411303424]}}}',
        b'{"data":{"tensor":{"shape":[2],"values":[1,1180591620717411303424]}}}',
        b'{"data":{"tensor":{"shape":[2],"values":[1.5,"x"]}}}',
        b'{"data":{"tensor":{"shape":[2],"values":[1.5,[2]]}}}',
        b'{"data":{"tensor":{"shape":[2],"values":[1.5,null]}}}',
        b'{"data":{"tensor":{"shape":[3],"values":[1.5,2]}}}',
    ]
    for body in bodies:
        tensor = jsonutil.loads(body)["data"]["tensor"]
        fast, general = _decode(tensor, True, monkeypatch), _decode(tensor, False, monkeypatch)
        if isinstance(general, tuple):
            assert fast == general, body
        else:
            assert _same_array(fast, general), body


def test_tensor_wire_output_same_from_either_decode(monkeypatch: pytest.MonkeyPatch):
    rng = random.Random(11)
    for values in generated_value_lists(200):
        if not values or json_codec._flat_numbers(values) is None:
            continue
        tensor = {"shape": [1, -1], "values": values}
        meta = {"puid": "p", "tags": {"k": rng.choice(["v", "é", "\x7f"])}}
        outs = []
        for fast in (True, False):
            arr = _decode(tensor, fast, monkeypatch)
            resp = build_response(arr, "tensor", None, meta)
            outs.append(jsonutil.dumps(json_codec.encode_response(resp)))
        assert outs[0] == outs[1]
        assert outs[0].isascii()


def _generated_objects() -> list[Any]:
    rng = random.Random(3)
    known_ascii = [jsonutil.ascii_fragment(["t:0", "é"]), jsonutil.ascii_fragment(list(range(3_000)))]
    strings = ["", "a", "é", "\x7f", "ok\u2028", "\U0001F600", "t:1", "x" * 300, "é" * 30]

    def leaf() -> Any:
        return rng.choice([
            rng.choice(strings), rng.randint(-5, 5), rng.random(), None, True, float("nan"),
            (np.arange(rng.randint(0, 2_000)) % 7).astype(rng.choice(["f8", "f4", "i8", "u1", "?"])),
            np.array(["é", "b"]), np.array([1, "é"], dtype=object), np.float32(1.5), np.int64(3),
            jsonutil.Fragment(b'"\xc3\xa9"'), jsonutil.Fragment(b"[1,2]"),
            *known_ascii,
            (1, "é"), {"é": 1}, {"\x7f": [1]}, [rng.choice(strings) for _ in range(70)],
        ])

    def tree(depth: int) -> Any:
        if depth == 0 or rng.random() < 0.3:
            return leaf()
        if rng.random() < 0.5:
            return [tree(depth - 1) for _ in range(rng.randint(0, 4))]
        return {rng.choice(["a", "b", "é", "meta", "\x7f", "data"]) + str(i): tree(depth - 1)
                for i in range(rng.randint(0, 4))}

    return [tree(4) for _ in range(400)]


def test_dumps_ascii_proof_matches_scanning(monkeypatch: pytest.MonkeyPatch):
    # this test's fragments, not the codec's
    monkeypatch.setattr(jsonutil, "_ASCII_FRAGMENTS", type(jsonutil._ASCII_FRAGMENTS)())
    proved = 0
    for obj in _generated_objects():
        with monkeypatch.context() as m:
            m.setattr(jsonutil, "_PROVE_ASCII_FROM", 0)
            fast = jsonutil.dumps(obj)
            proved += jsonutil._ascii_only(obj)
        with monkeypatch.context() as m:
            m.setattr(jsonutil, "_ascii_only", lambda obj: False)
            general = jsonutil.dumps(obj)
        assert fast == general
        assert fast.isascii() and b"\x7f" not in fast
        assert json.loads(fast, parse_constant=str) == json.loads(general, parse_constant=str)  # NaN != NaN
    assert 50 < proved < 400  # both outcomes exercised


def test_ascii_only_says_no_to_what_it_cannot_see():
    assert jsonutil._ascii_only({"a": [1, 2.5, None, True], "b": np.zeros(3), "c": "x"})
    for obj in ("é", "\x7f", {"é": 1}, {1: 2}, [jsonutil.Fragment(b"1")], np.array(["a"]),
                np.float64(1.0), [0] * 100, {"k": list(range(100))}, type("S", (str,), {})("a")):
        assert not jsonutil._ascii_only(obj), obj


def test_large_tensor_response_keeps_non_ascii_meta_escaped():
    arr = np.random.default_rng(1).random((1, 20_000))
    resp = build_response(arr, "tensor", None, {"tags": {"name": "café \x7f \U0001F600"}})
    out = jsonutil.dumps(json_codec.encode_response(resp))
    assert len(out) > jsonutil._PROVE_ASCII_FROM
    assert out.isascii() and b"\x7f" not in out
    assert b'"caf\\u00e9 \\u007f \\ud83d\\ude00"' in out
    assert json.loads(out)["meta"]["tags"]["name"] == "café \x7f \U0001F600"
