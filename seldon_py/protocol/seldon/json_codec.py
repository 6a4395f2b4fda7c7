"""SeldonMessage in its JSON form (REST) ⇄ :class:`~seldon_py.protocol.seldon.payload.Payload`/`Response`.

No protobuf round trip: ints stay ints, numpy arrays are built from the parsed lists in one call
(for a tensor's list of numbers, in C without numpy's per-element type discovery) and serialised
by orjson without ``tolist()``. Pure functions, no I/O.
"""

from __future__ import annotations

import array
import base64
import binascii
import math
from collections import OrderedDict
from typing import Any

import numpy as np

from ...errors import FAILURE, BadRequest, SeldonMicroserviceException
from ...util import jsonutil
from ...util.bounded import put_bounded
from .payload import (
    CACHED_NAMES_WIDTH,
    DATA_EMPTY,
    ENCODED_NAMES_CACHE_BYTES,
    FeedbackPayload,
    Payload,
    Response,
    brief,
    check_shape,
    default_names,
    default_names_encoded,
)


def _request_meta(msg: dict[str, Any]) -> dict[str, Any] | None:
    meta = msg.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise BadRequest(f"meta must be a JSON object, got {type(meta).__name__}")
    return meta


#: what ``np.array`` makes of a list of Python ints / floats
_INT_DTYPE = np.array([0]).dtype
_FLOAT_DTYPE = np.array([0.0]).dtype
#: a float list holding an int of this magnitude or more may not become float64 in ``np.array``
_INT64_LIMIT = float(2**63)
#: shorter value lists go straight to ``np.array`` (the fast path's fixed cost is a few µs)
_FLAT_NUMBERS_FROM = 1024


def _flat_numbers(values: list[Any]) -> np.ndarray | None:
    """``np.array(values)`` for the common lists (all numbers, led by a float or an int), built
    without numpy's per-element type discovery; ``None`` when that cannot be shown cheaply.

    ``array.array`` converts in C and raises on anything that is not a real number (str, None,
    list, dict), which is what makes the result exact: a float-led list of numbers becomes float64
    in ``np.array`` unless it holds an int at or beyond 2**63 (uint64 or object there: left to
    ``np.array``, as are NaN and ±inf); an int-led list that ``array('q')`` takes holds only ints
    and bools within int64, which ``np.array`` makes int64.
    """
    if not values:
        return None
    first = type(values[0])
    try:
        if first is float:
            arr = np.frombuffer(array.array("d", values), dtype=_FLOAT_DTYPE)
            if not (arr.max() < _INT64_LIMIT and arr.min() > -_INT64_LIMIT):
                return None
            return arr
        if first is int:
            return np.frombuffer(array.array("q", values), dtype=_INT_DTYPE)
    except (TypeError, OverflowError):
        pass
    return None


def decode_tensor(tensor: Any) -> np.ndarray:
    """``{"shape": [...], "values": [...]}`` → array of that shape."""
    if not isinstance(tensor, dict):
        raise BadRequest("data.tensor must be an object with shape and values")
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= -1 for d in shape
    ):
        raise BadRequest(
            "data.tensor.shape must be a list of non-negative integers (one may be -1), got "
            + brief(shape)
        )
    values = tensor.get("values", [])
    if not isinstance(values, list):
        raise BadRequest("data.tensor.values must be a list of numbers")
    check_shape(shape, len(values), "data.tensor.shape")
    arr = _flat_numbers(values) if len(values) >= _FLAT_NUMBERS_FROM else None
    if arr is None:
        try:
            arr = np.array(values)
        except ValueError as exc:
            raise BadRequest(f"data.tensor.values must be a flat list of numbers: {exc}") from None
        if arr.ndim != 1 and arr.size:
            raise BadRequest("data.tensor.values must be a flat list of numbers")
        if arr.size == 0:
            arr = arr.astype(np.float64)
    try:
        return arr.reshape(shape)
    except ValueError:
        raise BadRequest(
            f"data.tensor: {arr.size} values do not fit shape {brief(shape)}"
            f" (cannot reshape array of size {arr.size} into shape {brief(tuple(shape))})"
        ) from None


def decode_ndarray(ndarray: Any) -> np.ndarray:
    try:
        return np.array(ndarray)
    except ValueError as exc:
        raise BadRequest(f"data.ndarray is not a rectangular array: {exc}") from None


def decode_data(data: Any) -> tuple[str, np.ndarray, list[str]]:
    """The ``data`` field → (kind, array, names)."""
    if not isinstance(data, dict):
        raise BadRequest(f"data must be a JSON object, got {type(data).__name__}")
    names = data.get("names")
    if names is None:
        names = []
    elif not isinstance(names, list):
        raise BadRequest("data.names must be a list of strings")
    if "tensor" in data:
        return "tensor", decode_tensor(data["tensor"]), names
    if "ndarray" in data:
        return "ndarray", decode_ndarray(data["ndarray"]), names
    if "tftensor" in data:
        from .tftensor import tftensor_json_to_array

        return "tftensor", tftensor_json_to_array(data["tftensor"]), names
    return DATA_EMPTY, np.array([]), names


def decode_bin(value: Any) -> bytes:
    if not isinstance(value, str):
        raise BadRequest("binData must be a base64 string")
    try:
        return base64.b64decode(value)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"binData is not valid base64: {exc}") from None


def decode_message(msg: Any) -> Payload:
    """A SeldonMessage dict → Payload (spec §5.2, precedence data > jsonData > strData > binData)."""
    if isinstance(msg, dict):
        if "data" in msg:
            kind, value, names = decode_data(msg["data"])
            return Payload(kind, value, names, _request_meta(msg))
        if "jsonData" in msg:
            return Payload("jsonData", msg["jsonData"], [], _request_meta(msg))
        if "strData" in msg:
            value = msg["strData"]
            if not isinstance(value, str):
                raise BadRequest("strData must be a string")
            return Payload("strData", value, [], _request_meta(msg))
        if "binData" in msg:
            return Payload("binData", decode_bin(msg["binData"]), [], _request_meta(msg))
    raise BadRequest(f"Invalid request data type: {brief(msg)}")


def decode_message_list(body: Any) -> list[Any]:
    """An /aggregate body: a JSON list of messages or ``{"seldonMessages": [...]}``."""
    if isinstance(body, dict) and isinstance(body.get("seldonMessages"), list):
        msgs = body["seldonMessages"]
    elif isinstance(body, list):
        msgs = body
    else:
        raise BadRequest(f"Invalid request data type: {brief(body)}")
    if not msgs:
        raise BadRequest("aggregate needs at least one message")
    return msgs


def _numeric_for_json(arr: np.ndarray) -> np.ndarray:
    """Float32/16 widen to float64 so values print as the reference prints them."""
    if arr.dtype.kind == "f" and arr.dtype.itemsize < 8:
        return arr.astype(np.float64)
    return arr


def _ndarray_json(arr: Any) -> Any:
    if isinstance(arr, list):
        return arr
    kind = arr.dtype.kind
    if arr.ndim == 0 or kind not in "biuf":
        return arr.tolist()
    return _numeric_for_json(arr)


_NAMES_FRAGMENTS: dict[int, jsonutil.Fragment] = {}
#: the Fragments of the last few widths wider than CACHED_NAMES_WIDTH (the client picks them):
#: made from the size-bounded cache of encoded names, and listed as ASCII, so the answer is not
#: scanned for non-ASCII bytes (2.5 MB for a 100,000-wide tensor: ~0.1 ms)
_WIDE_NAMES_FRAGMENTS: OrderedDict[int, jsonutil.Fragment] = OrderedDict()
WIDE_NAMES_FRAGMENTS_KEPT = 4


def _wide_names_json(width: int) -> jsonutil.Fragment:
    frag = _WIDE_NAMES_FRAGMENTS.get(width)
    if frag is None:
        data = default_names_encoded(width, b'"t:%d"', b",", enclose=b"[]")
        if len(data) > ENCODED_NAMES_CACHE_BYTES // 4:  # too large for the bytes cache: not kept
            return jsonutil.Fragment(data)
        frag = put_bounded(_WIDE_NAMES_FRAGMENTS, width, jsonutil.ascii_fragment_of(data),
                           WIDE_NAMES_FRAGMENTS_KEPT)
    return frag


def _names_json(names: list[str] | int) -> Any:
    if isinstance(names, int):
        if names > CACHED_NAMES_WIDTH:
            return _wide_names_json(names)
        frag = _NAMES_FRAGMENTS.get(names)
        if frag is None:
            frag = jsonutil.ascii_fragment(list(default_names(names)))
            if len(_NAMES_FRAGMENTS) < 64:
                _NAMES_FRAGMENTS[names] = frag
        return frag
    return names


def encode_data(resp: Response) -> dict[str, Any]:
    """The ``data`` object of a response with a data kind."""
    arr: np.ndarray = resp.value
    if resp.kind == "tensor":
        flat = _numeric_for_json(arr).reshape(-1)
        body: Any = {"shape": list(arr.shape), "values": flat}
    elif resp.kind == "tftensor":
        from .tftensor import array_to_tftensor_json

        body = array_to_tftensor_json(arr)
    else:
        body = _ndarray_json(arr)
    return {"names": _names_json(resp.names), resp.kind: body}


def encode_response(resp: Response) -> dict[str, Any]:
    """Response → the JSON-ready dict (values may be numpy arrays or orjson Fragments)."""
    kind = resp.kind
    if kind in ("tensor", "ndarray", "tftensor"):
        return {"data": encode_data(resp), "meta": resp.meta}
    if kind == "binData":
        return {"binData": base64.b64encode(resp.value).decode("ascii"), "meta": resp.meta}
    if kind == "customData":
        from google.protobuf import json_format

        return {"customData": json_format.MessageToDict(resp.value), "meta": resp.meta}
    return {kind: resp.value, "meta": resp.meta}


# ---------------------------------------------------------------- the client's directions
# A client of another node (the graph executor) encodes requests and decodes responses.


def encode_request(payload: Payload) -> dict[str, Any]:
    """A :class:`Payload` → the SeldonMessage JSON object to send (``meta`` only when it has one).

    The inverse of :func:`decode_message`: data kinds keep their kind, names and values."""
    kind = payload.kind
    if kind in ("tensor", "ndarray", "tftensor"):
        msg: dict[str, Any] = {"data": encode_data(Response(kind, payload.value, payload.names, {}))}
    elif kind == DATA_EMPTY:
        msg = {"data": {"names": payload.names}}
    elif kind == "binData":
        msg = {"binData": base64.b64encode(payload.value).decode("ascii")}
    elif kind == "customData":
        from google.protobuf import json_format

        msg = {"customData": json_format.MessageToDict(payload.value)}
    elif kind in ("jsonData", "strData"):
        msg = {kind: payload.value}
    else:
        raise BadRequest(f"cannot encode a request of kind {kind!r}")
    if payload.meta is not None:
        msg["meta"] = payload.meta
    return msg


def _failure(msg: dict[str, Any], http_status: int) -> SeldonMicroserviceException | None:
    """The error a Seldon error body (``status.status`` FAILURE) stands for, else None."""
    status = msg.get("status")
    if not isinstance(status, dict) or status.get("status") not in (FAILURE, "FAILURE"):
        return None
    code = status.get("code")
    if http_status >= 400:
        code = http_status
    elif not isinstance(code, int) or isinstance(code, bool) or not 400 <= code <= 599:
        code = 500
    reason = status.get("reason")
    return SeldonMicroserviceException(str(status.get("info", "")), status_code=code,
                                       reason=reason if isinstance(reason, str) and reason else None)


def decode_response(msg: Any, http_status: int = 200) -> Response:
    """A SeldonMessage JSON object another node answered → :class:`Response` (the inverse of
    :func:`encode_response`). A Seldon error body, or an ``http_status`` of 400 or more, raises
    :class:`~seldon_py.errors.SeldonMicroserviceException` with that status and the body's
    reason and info."""
    if isinstance(msg, dict):
        error = _failure(msg, http_status)
        if error is not None:
            raise error
    if http_status >= 400:
        raise SeldonMicroserviceException(f"the node answered HTTP {http_status}", status_code=http_status,
                                          reason="MICROSERVICE_INTERNAL_ERROR" if http_status >= 500 else None)
    payload = decode_message(msg)
    kind = "ndarray" if payload.kind == DATA_EMPTY else payload.kind  # data without a kind
    return Response(kind, payload.value, payload.names, payload.meta or {}, http_status)


#: the fields of each message a Feedback holds, as protobuf's JSON mapping names them (a request
#: naming another field is refused, as protobuf's parser refuses it)
_FIELDS: dict[str, frozenset[str]] = {
    "Feedback": frozenset({"request", "response", "reward", "truth"}),
    "SeldonMessage": frozenset({"status", "meta", "data", "binData", "strData", "jsonData", "customData"}),
    "Meta": frozenset({"puid", "tags", "routing", "requestPath", "metrics"}),
    "DefaultData": frozenset({"names", "tensor", "ndarray", "tftensor"}),
    "Tensor": frozenset({"shape", "values"}),
}


def _check_fields(msg: Any, message_type: str, where: str) -> dict[str, Any]:
    """``msg`` as a JSON object of ``message_type`` (``{}`` for null), or BadRequest."""
    if msg is None:
        return {}
    if not isinstance(msg, dict):
        raise BadRequest(f"Invalid JSON: {where} must be an object ({message_type}), got {type(msg).__name__}")
    unknown = sorted(set(msg) - _FIELDS[message_type])
    if unknown:
        raise BadRequest(f'Invalid JSON: Message type "seldon.protos.{message_type}" has no field named '
                         f'"{unknown[0]}" (in {where})')
    return msg


def _ints_to_floats(value: Any) -> Any:
    if isinstance(value, list):
        return [_ints_to_floats(v) for v in value]
    return float(value) if type(value) is int else value


def _as_proto_doubles(arr: np.ndarray, source: Any) -> np.ndarray:
    """Integers as the doubles protobuf carries them (Feedback data passes through protobuf
    types in Seldon Core, so its ints reach the model as floats, also inside mixed lists)."""
    if arr.dtype.kind in "iu":
        return arr.astype(np.float64)
    if arr.dtype.kind in "UO" and isinstance(source, list):
        try:
            return decode_ndarray(_ints_to_floats(source))
        except RecursionError:
            raise BadRequest("data.ndarray is nested too deeply") from None
    return arr


def message_data_view(msg: Any, where: str = "message") -> tuple[str | None, Any, list[str], dict[str, Any]]:
    """For feedback: (kind, value, names, meta) of an optional embedded message; non-data → empty."""
    msg = _check_fields(msg, "SeldonMessage", where)
    meta = _check_fields(msg.get("meta"), "Meta", f"{where}.meta")
    data = msg.get("data")
    if data is None:
        return None, np.array([]), [], meta
    kind, value, names = decode_data(_check_fields(data, "DefaultData", f"{where}.data"))
    if kind == "tensor":
        _check_fields(data["tensor"], "Tensor", f"{where}.data.tensor")
    if kind in ("tensor", "ndarray"):
        value = _as_proto_doubles(value, data.get(kind))
    return kind, value, names, meta


def _reward(value: Any) -> float:
    """Feedback.reward: a number (or a numeric string, as protobuf's JSON mapping allows), rounded
    to float32 like the protobuf field; absent or null is 0."""
    if value is None:
        return 0.0
    if not isinstance(value, (int, float, str)):  # bool is an int here, as protobuf takes it
        raise BadRequest(f"Invalid JSON: reward must be a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise BadRequest(f"Invalid JSON: reward must be a number, got {value!r}") from None
    if abs(number) > float(np.finfo(np.float32).max) and math.isfinite(number):
        raise BadRequest(f"Invalid JSON: reward {value!r} is out of range for a float")
    return float(np.float32(number))


def _routing(meta: dict[str, Any]) -> dict[str, int]:
    routing = meta.get("routing")
    if routing is None:
        return {}
    if not isinstance(routing, dict):
        raise BadRequest("Invalid JSON: response.meta.routing must be an object of integers")
    out: dict[str, int] = {}
    for key, value in routing.items():
        if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
            raise BadRequest(f"Invalid JSON: response.meta.routing[{key!r}] must be a 32-bit integer, got {value!r}")
        out[str(key)] = value
    return out


def decode_feedback(body: Any) -> FeedbackPayload:
    """A Feedback JSON object → :class:`FeedbackPayload` (what ``send_feedback`` gets), with the
    types protobuf would give: data numbers as doubles, reward as float32, routing as int32."""
    fb = _check_fields(body, "Feedback", "the feedback")
    kind, features, names, request_meta = message_data_view(fb.get("request"), "request")
    response_meta = _check_fields(_check_fields(fb.get("response"), "SeldonMessage", "response").get("meta"),
                                  "Meta", "response.meta")
    truth = message_data_view(fb.get("truth"), "truth")[1]
    return FeedbackPayload(
        request_kind=kind,
        features=features,
        names=names,
        request_meta=request_meta,
        reward=_reward(fb.get("reward")),
        truth=truth,
        routing_table=_routing(response_meta),
    )


def raw_metrics(result: Any) -> Any:
    """``meta.metrics`` of a dict returned by a *_raw method (None if it has none)."""
    if isinstance(result, dict):
        meta = result.get("meta")
        if isinstance(meta, dict):
            return meta.get("metrics")
    return None


def strip_raw_metrics(result: Any) -> Any:
    """A copy of a raw result dict without ``meta.metrics``."""
    meta = dict(result["meta"])
    del meta["metrics"]
    return {**result, "meta": meta}
