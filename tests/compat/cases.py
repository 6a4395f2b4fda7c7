"""Requests sent to both servers by test_rest_differential.py.

A request is built into exact bytes once and the same bytes go to both servers (multipart uses a
fixed boundary), so any difference in the answers comes from the servers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

_NO_BODY = object()
BOUNDARY = "compatBoundary7MA4YWxkTrZu0gW"

I, T, X, R, C, Y, H, W = ("CompatIdentity", "CompatTagged", "CompatTransformer", "CompatRouter",
                          "CompatCombiner", "CompatTypes", "CompatHealthMeta", "CompatRaw")


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


@dataclass(frozen=True)
class Req:
    id: str
    model: str
    path: str
    json: Any = _NO_BODY          # body sent as application/json
    method: str = "POST"
    raw: bytes | None = None      # literal body (with ctype)
    ctype: str | None = None
    form: Any = _NO_BODY          # urlencoded body json=<dumps(form)>
    query: Any = _NO_BODY         # ?json=<dumps(query)>
    multipart: tuple = ()         # (name, value, filename or None, content type or None)
    client_fault: bool = True     # error cases only: should ours answer 4xx?

    def build(self) -> tuple[str, str, bytes | None, dict[str, str]]:
        path = self.path
        if self.query is not _NO_BODY:
            q = self.query if isinstance(self.query, str) else dumps(self.query)
            path += "?" + urlencode({"json": q})
        headers: dict[str, str] = {}
        body: bytes | None = None
        if self.json is not _NO_BODY:
            body = dumps(self.json).encode()
            headers["Content-Type"] = "application/json"
        elif self.raw is not None:
            body = self.raw
            if self.ctype:
                headers["Content-Type"] = self.ctype
        elif self.form is not _NO_BODY:
            f = self.form if isinstance(self.form, str) else dumps(self.form)
            body = urlencode({"json": f}).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif self.multipart:
            body = _multipart(self.multipart)
            headers["Content-Type"] = f"multipart/form-data; boundary={BOUNDARY}"
        elif self.method == "POST":
            body = b""
        if body is not None:
            headers["Content-Length"] = str(len(body))
        return self.method, path, body, headers


def _multipart(parts: tuple) -> bytes:
    out = b""
    for name, value, filename, ctype in parts:
        disp = f'form-data; name="{name}"'
        if filename:
            disp += f'; filename="{filename}"'
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disp}\r\n".encode()
        if ctype:
            out += f"Content-Type: {ctype}\r\n".encode()
        out += b"\r\n" + (value if isinstance(value, bytes) else value.encode()) + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


ND = {"data": {"ndarray": [[1, 2]]}}
ND2 = {"data": {"ndarray": [[1, 2], [3, 4]]}}
TENSOR = {"data": {"tensor": {"shape": [1, 2], "values": [1, 2]}}}
META_FULL = {"puid": "p1", "routing": {"a": 1}, "requestPath": {"x": "img:1"},
             "metrics": [{"key": "k", "type": "COUNTER", "value": 1}]}
FEEDBACK = {"request": {"data": {"names": ["a", "b"], "ndarray": [[1, 2]]}},
            "response": {"data": {"ndarray": [[3, 4]]}, "meta": {"routing": {"mymodel": 1}}},
            "reward": 1.0, "truth": {"data": {"ndarray": [[5, 6]]}}}
SPEC_55_REQ = {"data": {"ndarray": [[1, 2]]},
               "meta": {"puid": "P", "tags": {"req": "t", "shared": "req"},
                        "requestPath": {"upstream": "u:1"},
                        "metrics": [{"key": "reqm", "type": "GAUGE", "value": 3}]}}
AGG_MSGS = [
    {"data": {"ndarray": [[1, 2]]},
     "meta": {"puid": "c1", "tags": {"a": 1}, "requestPath": {"m1": "i:1"},
              "metrics": [{"key": "m", "type": "GAUGE", "value": 1}]}},
    {"data": {"ndarray": [[3, 4]]},
     "meta": {"puid": "c2", "tags": {"b": 2}, "requestPath": {"m2": "i:2"}}},
]


def _types(kind: str, via: str) -> Req:
    """CompatTypes returning `kind`, chosen through strData or meta.tags on a data request."""
    if via == "str":
        return Req(f"types-{kind}-via-strData", Y, "/predict", {"strData": kind})
    if via == "ndarray":
        return Req(f"types-{kind}-via-ndarray", Y, "/predict",
                   {"data": {"ndarray": [[0]]}, "meta": {"tags": {"kind": kind}}})
    if via == "tensor":
        return Req(f"types-{kind}-via-tensor", Y, "/api/v1.0/predictions",
                   {"data": {"tensor": {"shape": [1], "values": [0]}}, "meta": {"tags": {"kind": kind}}})
    if via == "jsonData":
        return Req(f"types-{kind}-via-jsonData", Y, "/predict",
                   {"jsonData": {"q": 1}, "meta": {"tags": {"kind": kind}}})
    if via == "nodata":
        return Req(f"types-{kind}-via-data-without-kind", Y, "/predict",
                   {"data": {"names": ["a"]}, "meta": {"tags": {"kind": kind}}})
    raise ValueError(via)


TYPE_KINDS = ["dict", "str", "bytes", "list_str", "list_str_2d", "list_num", "list_int_2d",
              "list_empty", "float32", "float64", "float_big", "int", "int32", "uint8", "bool",
              "zero_d", "zero_d_int", "three_d", "empty_2d", "str_array", "nan", "float16", "int8",
              "uint64", "list_bool", "list_mixed", "list_float_2d", "object_array",
              "response_dict", "response_list"]

SUCCESS: list[Req] = [
    # ---- identity: payload kinds on /predict and the prediction aliases
    Req("id-ndarray-2d", I, "/predict", ND2),
    Req("id-v1-names-meta", I, "/api/v1.0/predictions",
        {"data": {"names": ["a", "b"], "ndarray": [[1.0, 2.0]]}, "meta": {"puid": "abc", "tags": {"x": 1}}}),
    Req("id-v01-tensor", I, "/api/v0.1/predictions", TENSOR),
    Req("id-tensor-1d-floats", I, "/predict", {"data": {"tensor": {"shape": [3], "values": [0.5, -1.25, 3.0]}}}),
    Req("id-tensor-3d", I, "/predict", {"data": {"tensor": {"shape": [1, 2, 2], "values": [1, 2, 3, 4]}}}),
    Req("id-tensor-names", I, "/predict", {"data": {"names": ["a", "b"], "tensor": {"shape": [2, 1], "values": [1.5, 2]}}}),
    Req("id-strData", I, "/predict", {"strData": "hello"}),
    Req("id-strData-unicode", I, "/predict", {"strData": "h\u00e9llo \u2713 \U0001f600"}),
    Req("id-binData", I, "/predict", {"binData": "AAFoaQ=="}),
    Req("id-jsonData-dict", I, "/predict", {"jsonData": {"b": {"d": None, "c": [1, 2.5, "x"]}, "a": True}}),
    Req("id-jsonData-list", I, "/predict", {"jsonData": [1, "x", 2.5, None]}),
    Req("id-jsonData-string", I, "/predict", {"jsonData": "s"}),
    Req("id-data-empty", I, "/predict", {"data": {}}),
    Req("id-data-names-only", I, "/predict", {"data": {"names": ["a"]}}),
    Req("id-ndarray-1d-strings", I, "/predict", {"data": {"ndarray": ["a", "b"]}}),
    Req("id-ndarray-mixed", I, "/predict", {"data": {"ndarray": [1, "b", 2.5]}}),
    Req("id-ndarray-scalar", I, "/predict", {"data": {"ndarray": 5}}),
    Req("id-ndarray-bools", I, "/predict", {"data": {"ndarray": [[True, False]]}}),
    Req("id-ndarray-3d", I, "/predict", {"data": {"ndarray": [[[1, 2], [3, 4]]]}}),
    Req("id-ndarray-empty", I, "/predict", {"data": {"ndarray": []}}),
    Req("id-ndarray-empty-row", I, "/predict", {"data": {"ndarray": [[]]}}),
    Req("id-ndarray-objects", I, "/predict", {"data": {"ndarray": [{"a": 1}, {"b": 2}]}}),
    Req("id-ndarray-mixed-int-float", I, "/predict", {"data": {"ndarray": [[1, 2.5], [3, 4]]}}),
    Req("id-ndarray-big-ints", I, "/predict", {"data": {"ndarray": [[9007199254740993, -5]]}}),
    Req("id-ndarray-exp-floats", I, "/predict", {"data": {"ndarray": [[1e20, 1.5e-07, 1e16, 0.1]]}}),
    Req("id-meta-full-strData", I, "/predict", {"strData": "x", "meta": META_FULL}),
    Req("id-meta-unknown-keys", I, "/predict", {"strData": "x", "extra": 1, "meta": {"foo": "bar", "puid": ""}}),
    Req("id-meta-tags-nested", I, "/predict", {**TENSOR, "meta": {"tags": {"z": [1, {"b": 2, "a": None}], "a": "s"}}}),
    Req("id-jsonData-meta", I, "/predict", {"jsonData": {"k": 1}, "meta": {"puid": "j1", "metrics": [{"key": "g", "type": "GAUGE", "value": 2.5, "tags": {"t": "v"}}]}}),
    Req("id-precedence-data-wins", I, "/predict", {"data": {"ndarray": [[1]]}, "strData": "s", "jsonData": {"a": 1}}),
    Req("id-precedence-tensor-wins", I, "/predict", {"data": {"ndarray": [[9]], "tensor": {"shape": [1], "values": [1]}}}),
    Req("id-charset-ctype", I, "/predict", raw=dumps(ND).encode(), ctype="application/json; charset=utf-8"),
    Req("id-nan-literal-jsonData", I, "/predict", raw=b'{"jsonData":{"a":NaN,"b":[1,Infinity]}}', ctype="application/json"),
    Req("id-meta-metrics-not-list", I, "/predict", {"strData": "x", "meta": {"metrics": "nope"}}),
    Req("id-meta-metrics-int-items", I, "/predict", {"strData": "x", "meta": {"metrics": [1, "a"]}}),
    Req("id-meta-metrics-bad-type", I, "/predict", {"strData": "x", "meta": {"metrics": [{"key": "k", "type": "FOO", "value": "v"}]}}),
    Req("id-meta-puid-null", I, "/predict", {"strData": "x", "meta": {"puid": None, "tags": {}}}),
    Req("id-meta-puid-int", I, "/predict", {"strData": "x", "meta": {"puid": 5}}),
    Req("id-meta-requestPath-nonstr", I, "/predict", {"strData": "x", "meta": {"requestPath": {"a": 1}}}),
    Req("id-meta-tags-float-exp", I, "/predict", {"strData": "x", "meta": {"tags": {"f": 1e-07, "g": 1.0, "h": -0.0}}}),
    Req("id-jsonData-floats", I, "/predict", raw=b'{"jsonData":{"a":1E5,"b":1.0,"c":-0.0,"d":5e-324,"e":0.30000000000000004,"f":1.7976931348623157e308}}', ctype="application/json"),
    Req("id-strData-escapes", I, "/predict", {"strData": "q\"b\\s/\n\t\u0000\u001f\u007f\u2028"}),
    Req("id-strData-lone-surrogate", I, "/predict", raw=b'{"strData":"a\\ud800b"}', ctype="application/json"),
    Req("id-duplicate-keys", I, "/predict", raw=b'{"strData":"a","strData":"b"}', ctype="application/json"),
    Req("id-unicode-keys", I, "/predict", {"jsonData": {"\u00e9": 1, "z": 2, "A": 3}}),
    Req("id-ndarray-huge-int", I, "/predict", {"data": {"ndarray": [[18446744073709551616]]}}),
    Req("id-ndarray-uint64-range", I, "/predict", {"data": {"ndarray": [[9223372036854775808]]}}),
    Req("id-ndarray-null", I, "/predict", {"data": {"ndarray": [[1, None]]}}),
    Req("id-ndarray-negzero", I, "/predict", {"data": {"ndarray": [[-0.0, 1.0]]}}),
    Req("id-tensor-minus-one-shape", I, "/predict", {"data": {"tensor": {"shape": [-1, 2], "values": [1, 2, 3, 4]}}}),
    Req("id-tensor-empty", I, "/predict", {"data": {"tensor": {"shape": [0], "values": []}}}),
    Req("id-tensor-mixed-values", I, "/predict", {"data": {"tensor": {"shape": [2], "values": [1.0, 2]}}}),
    Req("id-ctype-uppercase", I, "/predict", raw=dumps(ND).encode(), ctype="APPLICATION/JSON"),
    Req("id-ctype-plus-json", I, "/predict", raw=dumps(ND).encode(), ctype="application/vnd.api+json"),
    Req("id-get-json-body", I, "/predict", method="GET", raw=dumps(ND).encode(), ctype="application/json"),
    Req("id-options-predict", I, "/predict", method="OPTIONS"),
    # ---- form / query / multipart transports
    Req("id-form-json", I, "/predict", form=ND),
    Req("id-form-json-strData", I, "/api/v1.0/predictions", form={"strData": "f"}),
    Req("id-get-query-json", I, "/predict", method="GET", query=ND),
    Req("id-post-query-wins-over-body", I, "/predict", {"strData": "body"}, query={"strData": "query"}),
    Req("id-multipart-strData", I, "/predict", multipart=(("strData", "multi part", None, None),)),
    Req("id-multipart-binData-file", I, "/predict", multipart=(("binData", b"\x00\x01\xffbin", "b.bin", "application/octet-stream"),)),
    Req("id-multipart-data-meta", I, "/predict", multipart=(("data", dumps({"ndarray": [[1, 2]]}), None, None), ("meta", dumps({"puid": "mp"}), None, None))),
    Req("id-form-and-query", I, "/predict", form={"strData": "form"}, query={"strData": "query"}),
    Req("id-form-extra-fields", I, "/predict", raw=b"a=1&json=%7B%22strData%22%3A%22f%22%7D&b=2", ctype="application/x-www-form-urlencoded"),
    Req("id-multipart-jsonData-meta", I, "/predict", multipart=(("jsonData", dumps({"b": 1, "a": [1.5]}), None, None), ("meta", dumps({"tags": {"t": 1}}), None, None))),
    Req("id-multipart-strData-meta", I, "/predict", multipart=(("strData", "s", None, None), ("meta", dumps({"puid": "m"}), None, None))),
    Req("id-multipart-strData-file", I, "/predict", multipart=(("strData", "from a file\n", "s.txt", "text/plain"),)),
    # ---- identity: fallbacks on the other endpoints
    Req("id-transform-input-fallback", I, "/transform-input", ND2),
    Req("id-transform-output-fallback", I, "/transform-output", {**TENSOR, "meta": {"puid": "to"}}),
    Req("id-get-transform-input-query", I, "/transform-input", method="GET", query={"strData": "q"}),
    Req("id-send-feedback", I, "/send-feedback", FEEDBACK),
    Req("id-feedback-v1-no-data", I, "/api/v1.0/feedback", {"request": {"strData": "x"}, "reward": 0.5}),
    Req("id-feedback-v01", I, "/api/v0.1/feedback", {"request": TENSOR, "reward": 0}),
    Req("id-feedback-form", I, "/send-feedback", form=FEEDBACK),
    Req("id-feedback-empty", I, "/send-feedback", {}),
    Req("id-feedback-truth-only", I, "/send-feedback", {"truth": {"data": {"tensor": {"shape": [1], "values": [1]}}}, "reward": 1}),
    Req("id-feedback-jsonData-request", I, "/send-feedback", {"request": {"jsonData": {"a": 1}}, "reward": 1}),
    Req("id-feedback-reward-string", I, "/send-feedback", {"request": ND, "reward": "1.5"}),
    Req("id-feedback-reward-null", I, "/send-feedback", {"request": ND, "reward": None}),
    Req("id-get-feedback-query", I, "/send-feedback", method="GET", query={"request": ND, "reward": 1}),
    Req("id-health-status", I, "/health/status", method="GET"),
    Req("id-health-status-v1", I, "/api/v1.0/health/status", method="GET"),
    Req("id-metadata", I, "/metadata", method="GET"),
    Req("id-metadata-v1", I, "/api/v1.0/metadata", method="GET"),
    Req("id-health-ping", I, "/health/ping", method="GET"),
    # ---- tags / metrics / class_names / SeldonResponse (spec 5.5), with PREDICTIVE_UNIT_* env
    Req("tagged-spec-5.5", T, "/predict", SPEC_55_REQ),
    Req("tagged-v1-strData", T, "/api/v1.0/predictions", {"strData": "x", "meta": {"puid": "s"}}),
    Req("tagged-tensor", T, "/predict", {**TENSOR, "meta": {"tags": {"shared": "req"}}}),
    Req("tagged-transform-input", T, "/transform-input", {**ND2, "meta": {"tags": {"req": 1}, "requestPath": {"mymodel": "override:1"}}}),
    Req("tagged-transform-input-jsonData", T, "/transform-input", {"jsonData": {"a": 1}}),
    Req("tagged-route", T, "/route", {**ND, "meta": {"puid": "r1", "tags": {"dropped": 1}}}),
    Req("tagged-send-feedback", T, "/send-feedback", FEEDBACK),
    Req("tagged-feedback-v1-no-routing", T, "/api/v1.0/feedback", {"request": {"strData": "x"}, "reward": 2}),
    Req("tagged-health-status", T, "/health/status", method="GET"),
    Req("tagged-transform-output-fallback", T, "/transform-output", {**TENSOR, "meta": {"puid": "o"}}),
    Req("tagged-route-tensor", T, "/route", TENSOR),
    Req("tagged-metadata", T, "/metadata", method="GET"),
    Req("tagged-form", T, "/predict", form=SPEC_55_REQ),
    # ---- transformer x2 (input) / x3 (output), no predict
    Req("xf-input-ndarray", X, "/transform-input", ND),
    Req("xf-input-tensor-1d", X, "/transform-input", {"data": {"tensor": {"shape": [2], "values": [1, 2]}}}),
    Req("xf-input-float-tensor", X, "/transform-input", {"data": {"tensor": {"shape": [1, 2], "values": [0.5, 1.5]}}}),
    Req("xf-input-strData", X, "/transform-input", {"strData": "ab"}),
    Req("xf-input-form", X, "/transform-input", form=ND2),
    Req("xf-output-ndarray", X, "/transform-output", {**ND2, "meta": {"puid": "o"}}),
    Req("xf-output-bools", X, "/transform-output", {"data": {"ndarray": [[True, False]]}}),
    Req("xf-predict-fallback", X, "/predict", ND),
    Req("xf-predict-fallback-tensor", X, "/predict", TENSOR),
    # ---- router (returns 1), no predict
    Req("router-ndarray", R, "/route", {"data": {"ndarray": [[1]]}}),
    Req("router-tensor", R, "/route", TENSOR),
    Req("router-strData", R, "/route", {"strData": "x"}),
    Req("router-meta-dropped", R, "/route", {**ND, "meta": {"puid": "r1", "tags": {"x": 1}, "requestPath": {"u": "v:1"}}}),
    Req("router-get-query", R, "/route", method="GET", query=ND),
    Req("router-predict-fallback", R, "/predict", ND),
    Req("router-send-feedback", R, "/send-feedback", {"request": ND, "reward": 1}),
    # ---- mean combiner (list and {"seldonMessages": [...]} forms)
    Req("comb-list", C, "/aggregate", AGG_MSGS),
    Req("comb-seldonMessages", C, "/aggregate", {"seldonMessages": AGG_MSGS}),
    Req("comb-tensor-first", C, "/aggregate", [TENSOR, {"data": {"ndarray": [[3, 5]]}}]),
    Req("comb-single", C, "/aggregate", [{"data": {"ndarray": [[1.5, 2.5]]}}]),
    Req("comb-form-list", C, "/aggregate", form=AGG_MSGS),
    Req("comb-get-query", C, "/aggregate", method="GET", query={"seldonMessages": AGG_MSGS}),
    Req("comb-three-mixed", C, "/aggregate", [{"data": {"tensor": {"shape": [2], "values": [1, 2]}}}, {"data": {"ndarray": [3, 4]}}, {"data": {"names": ["x", "y"], "ndarray": [5, 6.5]}}]),
    Req("comb-health-status-array", C, "/health/status", method="GET"),
    # ---- health_status dict / init_metadata
    Req("hm-health-status", H, "/health/status", method="GET"),
    Req("hm-health-status-v1", H, "/api/v1.0/health/status", method="GET"),
    Req("hm-metadata", H, "/metadata", method="GET"),
    Req("hm-metadata-v1", H, "/api/v1.0/metadata", method="GET"),
    Req("hm-predict-tensor", H, "/predict", TENSOR),
    # ---- *_raw methods
    Req("raw-predict-ndarray", W, "/predict", {**ND, "meta": {"puid": "r", "tags": {"b": 1, "a": 2}}, "extra": [1.5, None]}),
    Req("raw-predict-status-201", W, "/api/v1.0/predictions", {"jsonData": {"code": 201}}),
    Req("raw-predict-list-body", W, "/predict", [1, 2]),
    Req("raw-predict-form", W, "/predict", form={"strData": "f"}),
    Req("raw-transform-input", W, "/transform-input", TENSOR),
    Req("raw-transform-output", W, "/transform-output", {"strData": "o"}),
    Req("raw-route", W, "/route", ND),
    Req("raw-aggregate-list", W, "/aggregate", AGG_MSGS),
    Req("raw-aggregate-seldonMessages", W, "/aggregate", {"seldonMessages": AGG_MSGS}),
    Req("raw-health-status", W, "/health/status", method="GET"),
    # ---- every return type
    *[_types(k, "str") for k in TYPE_KINDS],
    *[_types(k, "ndarray") for k in ("float32", "int", "uint8", "bool", "zero_d", "three_d",
                                     "list_num", "list_str", "str_array", "empty_2d", "dict",
                                     "bytes", "list_int_2d", "list_float_2d", "list_bool",
                                     "list_mixed", "list_empty", "float16", "uint64",
                                     "response_list", "object_array")],
    *[_types(k, "tensor") for k in ("float32", "int", "zero_d", "three_d", "bool", "list_int_2d",
                                    "list_num", "list_float_2d", "str", "response_list")],
    *[_types(k, "jsonData") for k in ("int", "float32")],
    *[_types(k, "nodata") for k in ("int", "float64")],
]

# The reference crashes (5xx) on these valid-looking requests; ours answers them.
REFERENCE_CRASHES: list[Req] = [
    Req("crash-meta-null", I, "/predict", {"strData": "x", "meta": None}),
    # reference hands predict_raw the multipart binData part as bytes (not JSON-serialisable)
    Req("crash-raw-predict-multipart-binData", W, "/predict", multipart=(("strData", "m", None, None), ("binData", b"\x01\x02", "b", None))),
    # reference: send_feedback_raw returning a dict fails ('dict' object has no attribute 'meta')
    Req("crash-raw-send-feedback-dict", W, "/send-feedback", FEEDBACK),
]

ERRORS: list[Req] = [
    Req("err-unknown-path", I, "/nope", ND),
    Req("err-unknown-path-get", I, "/nope", method="GET"),
    Req("err-wrong-method", I, "/api/v1.0/predictions", method="GET"),
    Req("err-delete", I, "/predict", method="DELETE"),
    Req("err-malformed-json", I, "/predict", raw=b'{"data":', ctype="application/json"),
    Req("err-empty-json-body", I, "/predict", raw=b"", ctype="application/json"),
    Req("err-json-null", I, "/predict", raw=b"null", ctype="application/json"),
    Req("err-text-plain", I, "/predict", raw=dumps(ND).encode(), ctype="text/plain"),
    Req("err-no-ctype", I, "/predict", raw=dumps(ND).encode()),
    Req("err-get-without-json", I, "/predict", method="GET"),
    Req("err-meta-only", I, "/predict", {"meta": {}}),
    Req("err-list-body", I, "/predict", [1, 2]),
    Req("err-string-body", I, "/predict", "abc"),
    Req("err-tensor-reshape", I, "/predict", {"data": {"tensor": {"shape": [3], "values": [1, 2]}}}),
    Req("err-tensor-no-shape", I, "/predict", {"data": {"tensor": {"values": [1, 2]}}}),
    Req("err-ragged-ndarray", I, "/predict", {"data": {"ndarray": [[1, 2], [3]]}}),
    Req("err-bad-base64", I, "/predict", {"binData": "aGVsbG8"}),
    Req("err-form-bad-json", I, "/predict", form="{bad"),
    Req("err-query-bad-json", I, "/predict", method="GET", query="{bad"),
    Req("err-multipart-bad-json", I, "/predict", multipart=(("data", "{bad", None, None),)),
    Req("err-route-not-defined", I, "/route", ND),
    Req("err-aggregate-not-defined", I, "/aggregate", [ND]),
    Req("err-aggregate-empty-list", C, "/aggregate", []),
    Req("err-aggregate-bad-shape", C, "/aggregate", {"foo": 1}),
    Req("err-feedback-bogus-field", I, "/send-feedback", {"bogus": 1}),
    Req("err-feedback-bad-reward", I, "/send-feedback", {"reward": "abc"}),
    Req("err-jsonData-scalar-returned", I, "/predict", {"jsonData": 3}, client_fault=False),
    Req("err-post-health-status", I, "/health/status", {"strData": "x"}),
    Req("err-model-returns-none", Y, "/predict", {"strData": "none"}, client_fault=False),
    Req("err-aggregate-mixed-kinds", C, "/aggregate", [{"strData": "s", "meta": {"tags": {"a": 1}}}, ND], client_fault=False),
    Req("err-feedback-unknown-nested", I, "/send-feedback", {"request": {"foo": 1}}),
    Req("err-model-raises", Y, "/predict", {"strData": "raise"}, client_fault=False),
    Req("err-transformer-on-dict", X, "/transform-input", {"jsonData": {"a": 1}}, client_fault=False),
]
