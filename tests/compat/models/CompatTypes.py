"""Returns one Python/numpy type per request, chosen by ``meta.tags.kind`` or else by strData."""

import numpy as np

try:
    from seldon_core.user_model import SeldonResponse
except ImportError:
    from seldon_py import SeldonResponse

KINDS = {
    "dict": lambda: {"zeta": [1, 2.5], "alpha": {"y": None, "x": True, "u": "h\u00e9llo \u2713"}},
    "str": lambda: "h\u00e9llo \u2713",
    "bytes": lambda: b"\x00\x01hi\xff",
    "list_str": lambda: ["a", "b"],
    "list_str_2d": lambda: [["a", "b"], ["c", "d"]],
    "list_num": lambda: [1, 2.5, 3],
    "list_int_2d": lambda: [[1, 2], [3, 4]],
    "list_empty": lambda: [],
    "float32": lambda: np.array([[0.1, 0.25, 3.0]], dtype=np.float32),
    "float64": lambda: np.array([[0.1, 0.25, -3.0]]),
    "float_big": lambda: np.array([[1e20, 1.5e-7, 1e16, 12345.678]]),
    "int": lambda: np.array([[1, 2, 3]], dtype=np.int64),
    "int32": lambda: np.array([[4, 5]], dtype=np.int32),
    "uint8": lambda: np.array([[0, 255]], dtype=np.uint8),
    "bool": lambda: np.array([[True, False]]),
    "zero_d": lambda: np.array(3.5),
    "zero_d_int": lambda: np.array(7),
    "three_d": lambda: np.arange(8).reshape(2, 2, 2),
    "empty_2d": lambda: np.zeros((0, 3)),
    "str_array": lambda: np.array([["a", "b"]]),
    "nan": lambda: np.array([[np.nan, np.inf, -np.inf]]),
    "float16": lambda: np.array([[0.1, 2.0]], dtype=np.float16),
    "int8": lambda: np.array([[-3, 4]], dtype=np.int8),
    "uint64": lambda: np.array([[2**63 + 1]], dtype=np.uint64),
    "list_bool": lambda: [True, False],
    "list_mixed": lambda: [1, "a", 2.5],
    "list_float_2d": lambda: [[1.0, 2.0], [0.5, -0.0]],
    "object_array": lambda: np.array([[1, "a"]], dtype=object),
    "response_dict": lambda: SeldonResponse({"b": 1, "a": [2]}, tags={"rt": 1}),
    "response_list": lambda: SeldonResponse([[1, 2]], tags={"rt": "l"},
                                            metrics=[{"type": "GAUGE", "key": "g", "value": 1.5}]),
    "none": lambda: None,
}


class CompatTypes:
    def predict(self, X, names, meta=None):
        kind = None
        if isinstance(meta, dict):
            kind = (meta.get("tags") or {}).get("kind")
        if kind is None and isinstance(X, str):
            kind = X
        if kind == "raise":
            raise ValueError("model failed on purpose")
        return KINDS[kind]()
