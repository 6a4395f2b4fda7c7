"""Encoded default names are cached per width, within a size bound."""

from __future__ import annotations

import numpy as np

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
