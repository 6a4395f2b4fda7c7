"""jsonutil.nesting_depth against a plain character-by-character reading of the same JSON."""

from __future__ import annotations

import json
import random

import pytest

from seldon_py.util import jsonutil


def depth_by_reading(text: str) -> int:
    """The nesting depth, read one character at a time (strings and escapes skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


STRINGS = ["", "]]]]", "[[[[{{", '\\"]]]', "y_Y\x7f", "é[ü]", "\\\\", '\\\\"', "}}}}}}}}}}" * 30]


def random_value(rng: random.Random, depth: int) -> object:
    roll = rng.random()
    if depth > 160 or roll < 0.45:
        return rng.choice([1, -2.5, True, None, rng.choice(STRINGS)])
    if roll < 0.65:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(STRINGS) + str(i): random_value(rng, depth + 1) for i in range(rng.randint(0, 3))}


def deep(levels: int, inner: object = 1) -> object:
    for i in range(levels):
        inner = [inner] if i % 2 else {"k]": inner}
    return inner


@pytest.mark.parametrize("seed", range(200))
def test_exact_above_the_threshold_and_bounded_below(seed):
    rng = random.Random(seed)
    value = random_value(rng, 0)
    while len(json.dumps(value)) > 200_000:  # a tree that grew too large: another draw
        value = random_value(rng, 0)
    if seed % 3 == 0:  # bury a deep branch somewhere, after strings full of closing brackets
        value = {"a": "]" * 300, "b": [value, deep(rng.randint(90, 140))]}
    for ensure_ascii in (True, False):
        text = json.dumps(value, ensure_ascii=ensure_ascii)
        want = depth_by_reading(text)
        for data in (text, text.encode("utf-8")):
            got = jsonutil.nesting_depth(data, at_least=10)
            if want > 10:
                assert got == want
            else:
                assert got <= 10


def test_a_wide_shallow_body_is_not_deep():
    body = json.dumps({"data": {"ndarray": [[1.5, 2] for _ in range(5000)]}, "meta": {"tags": {"x": "[["}}})
    assert jsonutil.nesting_depth(body.encode()) == 4
    assert jsonutil.nesting_depth(body.encode()) <= jsonutil.MAX_DEPTH


def test_closing_brackets_in_strings_do_not_hide_depth():
    text = json.dumps({"s": "]" * 500, "deep": deep(jsonutil.MAX_DEPTH + 5)})
    assert jsonutil.nesting_depth(text.encode()) == jsonutil.MAX_DEPTH + 6
    with pytest.raises(ValueError, match="nested deeper"):
        jsonutil.loads(text)
