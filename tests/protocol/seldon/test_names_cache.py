"""Encoded default names are cached per width, within a size bound."""

from __future__ import annotations

import numpy as np
import pytest

from seldon_py.protocol.seldon import payload
from seldon_py.util import jsonutil


def test_cached_names_are_the_names_and_the_cache_stays_bounded(monkeypatch) -> None:
    monkeypatch.setattr(payload, "ENCODED_NAMES_CACHE_BYTES", 64 * 1024)
    monkeypatch.setattr(payload, "_encoded_names", type(payload._encoded_names)())
    monkeypatch.setattr(payload, "_encoded_names_size", 0)
    for width in (3, 1000, 1000, 2000, 3000, 70_000, 3):
        expected = b",".join(b'"t:%d"' % i for i in range(width))
        assert payload.default_names_encoded(width, b'"t:%d"', b",") == expected
        assert payload.default_names_encoded(width, b'"t:%d"', b",", start=1) == expected[len(b'"t:0",'):]
        assert payload.default_names_encoded(width, b'"t:%d"', b",", enclose=b"[]") == b"[" + expected + b"]"
        assert payload._encoded_names_size <= payload.ENCODED_NAMES_CACHE_BYTES
        assert payload._encoded_names_size == sum(len(v) for v in payload._encoded_names.values())
    # a width too large to keep (> a quarter of the bound) is built but not cached
    assert not any(k[0] == 70_000 for k in payload._encoded_names)
    assert (3, b'"t:%d"', b",", 0, b"[]") in payload._encoded_names  # the most recent one is kept


def test_non_finite_values_are_still_written_as_tokens_when_shown_cheaply() -> None:
    assert jsonutil.dumps({"a": np.array([1.0, np.nan])}) == b'{"a":[1.0,NaN]}\n'
    assert jsonutil.dumps({"a": [float("inf")]}) == b'{"a":[Infinity]}\n'
    assert jsonutil.dumps({"a": np.zeros(3), "b": None}) == b'{"a":[0.0,0.0,0.0],"b":null}\n'


def test_wide_names_are_encoded_once_per_width_for_both_wires():
    from seldon_py.protocol.seldon import json_codec, proto_codec

    width = payload.CACHED_NAMES_WIDTH * 2 + 3
    wire = proto_codec._default_names_bytes(width)
    assert proto_codec._default_names_bytes(width) is wire  # kept, not rebuilt per answer
    frag = json_codec._names_json(width)
    assert json_codec._names_json(width) is frag
    # listed as ASCII: an answer holding it is shown ASCII without scanning its bytes
    assert jsonutil._ascii_only({"data": {"names": frag, "tensor": {"shape": [1, width]}}})


def test_ascii_fragments_are_checked_once_and_the_recent_list_is_bounded(monkeypatch):
    monkeypatch.setattr(jsonutil, "_ASCII_FRAGMENTS", {})
    monkeypatch.setattr(jsonutil, "_RECENT_ASCII_FRAGMENTS", type(jsonutil._RECENT_ASCII_FRAGMENTS)())
    for bad in (b'["\xc3\xa9"]', b'["\x7f"]'):
        with pytest.raises(ValueError):
            jsonutil.ascii_fragment_of(bad)
    lasting = jsonutil.ascii_fragment(["t:0", "t:1"])  # a codec's cached names Fragment
    made = [jsonutil.ascii_fragment_of(b'["t:%d"]' % i)
            for i in range(jsonutil.RECENT_ASCII_FRAGMENTS_LISTED + 5)]
    assert len(jsonutil._RECENT_ASCII_FRAGMENTS) == jsonutil.RECENT_ASCII_FRAGMENTS_LISTED
    assert not jsonutil._ascii_only([made[0]])  # forgotten: no longer shown (scanned instead)
    assert jsonutil._ascii_only([made[-1]])
    assert jsonutil._ascii_only([lasting])  # not crowded out by the ones made per request
    assert jsonutil.dumps([made[0], made[-1]]) == b'[["t:0"],["t:%d"]]\n' % (len(made) - 1)
