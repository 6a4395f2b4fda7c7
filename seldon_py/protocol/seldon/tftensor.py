"""TensorFlow ``TensorProto`` <-> numpy, without TensorFlow.

Seldon's ``data.tftensor`` payload is a ``tensorflow.TensorProto``; Seldon Core converts it with
``tf.make_ndarray`` / ``tf.make_tensor_proto``. This module reproduces those two functions for the
two forms the payload takes here:

* the proto message (``seldon_py.proto.tensorflow.core.framework.tensor_pb2.TensorProto``), used
  by the gRPC server: :func:`tftensor_proto_to_array`, :func:`array_to_tftensor_proto`;
* its proto3-JSON form, exactly as ``json_format.MessageToDict`` prints it (camelCase keys,
  ``"dtype": "DT_FLOAT"``, int64 values and dimension sizes as strings, bytes as base64), used by
  the REST server: :func:`tftensor_json_to_array`, :func:`array_to_tftensor_json`. These never
  import protobuf.

Decoding follows ``tf.make_ndarray``: non-empty ``tensor_content`` (raw little-endian elements)
wins; otherwise the ``*_val`` field of the dtype is used, and when it holds fewer values than the
shape needs, the last value is repeated (no value at all gives zeros, or ``""`` for strings).
``DT_STRING`` gives an object array of ``bytes``; ``DT_HALF`` comes from ``half_val`` bit patterns.
Deviation: the quantized types (``DT_QINT8`` ...) give plain integer arrays, not TensorFlow's
structured numpy dtypes. Types that need TensorFlow's ``ml_dtypes`` (bfloat16, float8, int4 ...),
``DT_RESOURCE``, ``DT_VARIANT`` and ``*_REF`` types are rejected.

Encoding follows ``tf.make_tensor_proto(array)``: numeric types with more than one element go into
``tensor_content``; one element (including 0-d arrays) goes into the typed ``*_val`` field; bool,
uint16 and complex arrays always use the ``*_val`` field; str/bytes/object arrays become
``string_val`` (str encoded as UTF-8).

Malformed input raises :class:`seldon_py.errors.BadRequest`; arrays that cannot be encoded raise
``TypeError`` (as ``tf.make_tensor_proto`` does).
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from seldon_py.errors import BadRequest
from seldon_py.protocol.seldon.payload import MAX_DECLARED_ELEMENTS, MAX_DIMS, brief

__all__ = [
    "array_to_tftensor_json",
    "array_to_tftensor_proto",
    "tftensor_json_to_array",
    "tftensor_proto_to_array",
]

# ------------------------------------------------------------------------------------------------
# tensorflow.DataType (tensorflow/core/framework/types.proto)

_DTYPE_NAMES: dict[int, str] = {
    0: "DT_INVALID", 1: "DT_FLOAT", 2: "DT_DOUBLE", 3: "DT_INT32", 4: "DT_UINT8", 5: "DT_INT16",
    6: "DT_INT8", 7: "DT_STRING", 8: "DT_COMPLEX64", 9: "DT_INT64", 10: "DT_BOOL",
    11: "DT_QINT8", 12: "DT_QUINT8", 13: "DT_QINT32", 14: "DT_BFLOAT16", 15: "DT_QINT16",
    16: "DT_QUINT16", 17: "DT_UINT16", 18: "DT_COMPLEX128", 19: "DT_HALF", 20: "DT_RESOURCE",
    21: "DT_VARIANT", 22: "DT_UINT32", 23: "DT_UINT64", 24: "DT_FLOAT8_E5M2",
    25: "DT_FLOAT8_E4M3FN", 26: "DT_FLOAT8_E4M3FNUZ", 27: "DT_FLOAT8_E4M3B11FNUZ",
    28: "DT_FLOAT8_E5M2FNUZ", 29: "DT_INT4", 30: "DT_UINT4", 31: "DT_INT2", 32: "DT_UINT2",
    33: "DT_FLOAT4_E2M1FN",
}
_DTYPE_NAMES.update({number + 100: f"{name}_REF" for number, name in list(_DTYPE_NAMES.items()) if number})
_DTYPE_NUMBERS: dict[str, int] = {name: number for number, name in _DTYPE_NAMES.items()}

DT_STRING = 7


@dataclass(frozen=True)
class _Field:
    """One typed value field of TensorProto."""

    proto: str  # proto field name
    json: str  # proto3-JSON name
    wire: Any  # numpy dtype of one element as stored in the field (None for bytes)
    kind: str  # "float" | "int" | "bool" | "bytes"


_HALF_VAL = _Field("half_val", "halfVal", np.dtype(np.int32), "int")
_FLOAT_VAL = _Field("float_val", "floatVal", np.dtype(np.float32), "float")
_DOUBLE_VAL = _Field("double_val", "doubleVal", np.dtype(np.float64), "float")
_INT_VAL = _Field("int_val", "intVal", np.dtype(np.int32), "int")
_STRING_VAL = _Field("string_val", "stringVal", None, "bytes")
_SCOMPLEX_VAL = _Field("scomplex_val", "scomplexVal", np.dtype(np.float32), "float")
_INT64_VAL = _Field("int64_val", "int64Val", np.dtype(np.int64), "int")
_BOOL_VAL = _Field("bool_val", "boolVal", np.dtype(np.bool_), "bool")
_DCOMPLEX_VAL = _Field("dcomplex_val", "dcomplexVal", np.dtype(np.float64), "float")
_UINT32_VAL = _Field("uint32_val", "uint32Val", np.dtype(np.uint32), "int")
_UINT64_VAL = _Field("uint64_val", "uint64Val", np.dtype(np.uint64), "int")

#: dtype number -> (numpy dtype of the result, field holding the values)
_DECODE: dict[int, tuple[np.dtype, _Field]] = {
    1: (np.dtype(np.float32), _FLOAT_VAL),
    2: (np.dtype(np.float64), _DOUBLE_VAL),
    3: (np.dtype(np.int32), _INT_VAL),
    4: (np.dtype(np.uint8), _INT_VAL),
    5: (np.dtype(np.int16), _INT_VAL),
    6: (np.dtype(np.int8), _INT_VAL),
    7: (np.dtype(object), _STRING_VAL),
    8: (np.dtype(np.complex64), _SCOMPLEX_VAL),
    9: (np.dtype(np.int64), _INT64_VAL),
    10: (np.dtype(np.bool_), _BOOL_VAL),
    11: (np.dtype(np.int8), _INT_VAL),  # DT_QINT8
    12: (np.dtype(np.uint8), _INT_VAL),  # DT_QUINT8
    13: (np.dtype(np.int32), _INT_VAL),  # DT_QINT32
    15: (np.dtype(np.int16), _INT_VAL),  # DT_QINT16
    16: (np.dtype(np.uint16), _INT_VAL),  # DT_QUINT16
    17: (np.dtype(np.uint16), _INT_VAL),
    18: (np.dtype(np.complex128), _DCOMPLEX_VAL),
    19: (np.dtype(np.float16), _HALF_VAL),
    22: (np.dtype(np.uint32), _UINT32_VAL),
    23: (np.dtype(np.uint64), _UINT64_VAL),
}

#: numpy scalar type -> dtype number, for encoding (str/bytes/object handled separately).
_ENCODE: dict[type, int] = {
    np.float16: 19, np.float32: 1, np.float64: 2,
    np.int8: 6, np.int16: 5, np.int32: 3, np.int64: 9,
    np.uint8: 4, np.uint16: 17, np.uint32: 22, np.uint64: 23,
    np.bool_: 10, np.complex64: 8, np.complex128: 18,
}

#: dtypes tf.make_tensor_proto writes as raw tensor_content when there is more than one element.
_CONTENT_DTYPES = frozenset({19, 1, 2, 3, 4, 5, 6, 9, 11, 12, 13, 15, 16, 22, 23})

#: Largest tensor we build when decoding (what a TensorProto can carry); stops a tiny request
#: with a huge shape from allocating unbounded memory through value broadcasting.
_MAX_TENSOR_BYTES = 1 << 31

_TENSOR_FIELDS = {
    "dtype": "dtype", "tensorShape": "tensor_shape", "tensor_shape": "tensor_shape",
    "versionNumber": "version_number", "version_number": "version_number",
    "tensorContent": "tensor_content", "tensor_content": "tensor_content",
    "resourceHandleVal": "resource_handle_val", "resource_handle_val": "resource_handle_val",
    "variantVal": "variant_val", "variant_val": "variant_val",
    "float8Val": "float8_val", "float8_val": "float8_val",
}
for _f in (_HALF_VAL, _FLOAT_VAL, _DOUBLE_VAL, _INT_VAL, _STRING_VAL, _SCOMPLEX_VAL, _INT64_VAL,
           _BOOL_VAL, _DCOMPLEX_VAL, _UINT32_VAL, _UINT64_VAL):
    _TENSOR_FIELDS[_f.json] = _f.proto
    _TENSOR_FIELDS[_f.proto] = _f.proto
del _f


def _bad(message: str) -> BadRequest:
    return BadRequest(f"Invalid tftensor: {message}")


def _dtype_name(number: int) -> str:
    return _DTYPE_NAMES.get(number, str(number))


# ------------------------------------------------------------------------------------------------
# the make_ndarray core, shared by both forms


def _make_ndarray(dtype: int, shape: list[int], content: bytes, values_of: Callable[[_Field], Any]) -> np.ndarray:
    spec = _DECODE.get(dtype)
    if spec is None:
        if dtype == 0:
            raise _bad("dtype is missing (DT_INVALID)")
        raise _bad(f"unsupported dtype {_dtype_name(dtype)}")
    np_dtype, field = spec
    if len(shape) > MAX_DIMS:
        raise _bad(f"tensorShape has {len(shape)} dimensions, at most {MAX_DIMS} are accepted")
    count = math.prod(shape)
    if count * max(np_dtype.itemsize, 1) > _MAX_TENSOR_BYTES:
        raise _bad(f"shape {brief(shape)} is too large")

    def fill_bound(given: int) -> None:
        """Filling (tf.make_ndarray repeats the last value) only up to MAX_DECLARED_ELEMENTS."""
        if count > max(given, MAX_DECLARED_ELEMENTS):
            raise _bad(f"shape {brief(shape)} declares {count} elements but {given} values were sent "
                       f"(a tensor is filled from fewer values only up to {MAX_DECLARED_ELEMENTS} elements)")

    if content:
        if field is _STRING_VAL:
            raise _bad("tensor_content cannot hold DT_STRING values")
        if len(content) != count * np_dtype.itemsize:
            raise _bad(
                f"tensor_content has {len(content)} bytes but shape {shape} of "
                f"{_dtype_name(dtype)} needs {count * np_dtype.itemsize}"
            )
        if field is _BOOL_VAL:
            return (np.frombuffer(content, dtype=np.uint8) != 0).reshape(shape)
        return np.frombuffer(content, dtype=np_dtype.newbyteorder("<")).astype(np_dtype).reshape(shape)

    if field is _STRING_VAL:
        strings = list(values_of(field))
        fill_bound(len(strings))
        if len(strings) > count:
            raise _bad(f"{len(strings)} string_val values do not fit shape {shape}")
        if len(strings) < count:
            strings.extend([strings[-1] if strings else ""] * (count - len(strings)))
        result = np.empty(count, dtype=object)
        result[:] = strings
        return result.reshape(shape)

    values = values_of(field)
    if field is _HALF_VAL:
        values = values.astype(np.uint16).view(np.float16)
    elif field is _SCOMPLEX_VAL or field is _DCOMPLEX_VAL:
        values = np.ascontiguousarray(values[: values.size // 2 * 2]).view(np_dtype)
    elif values.dtype != np_dtype:
        values = _narrow(values, np_dtype, field)
    fill_bound(values.size)
    if values.size == 0:
        return np.zeros(shape, dtype=np_dtype)
    if values.size > count:
        raise _bad(f"{values.size} {field.proto} values do not fit shape {shape}")
    if values.size < count:
        values = np.pad(values, (0, count - values.size), mode="edge")
    return values.reshape(shape)


def _narrow(values: np.ndarray, np_dtype: np.dtype, field: _Field) -> np.ndarray:
    """Cast int values to a narrower int dtype, refusing values that do not fit."""
    info = np.iinfo(np_dtype)
    if values.size and (values.min() < info.min or values.max() > info.max):
        raise _bad(f"{field.proto} value out of range for {np_dtype}")
    return values.astype(np_dtype)


# ------------------------------------------------------------------------------------------------
# JSON form -> array


def _json_int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise _bad(f"{what} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise _bad(f"{what} must be an integer, got {value!r}")


def _json_dtype(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        try:
            return _DTYPE_NUMBERS[value]
        except KeyError:
            raise _bad(f"unknown dtype {value!r}") from None
    return _json_int(value, "dtype")


def _json_shape(value: Any) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, dict):
        raise _bad(f"tensorShape must be an object, got {value!r}")
    unknown = set(value) - {"dim", "unknownRank", "unknown_rank"}
    if unknown:
        raise _bad(f"tensorShape has no field named {sorted(unknown)[0]!r}")
    dims = value.get("dim")
    if dims is None:
        return []
    if not isinstance(dims, list):
        raise _bad(f"tensorShape.dim must be a list, got {dims!r}")
    shape = []
    for dim in dims:
        if not isinstance(dim, dict) or set(dim) - {"size", "name"}:
            raise _bad(f"bad tensorShape.dim entry {dim!r}")
        size = dim.get("size")
        size = 0 if size is None else _json_int(size, "tensorShape.dim.size")
        if size < 0:
            raise _bad(f"tensorShape has an unknown dimension ({size})")
        shape.append(size)
    return shape


_B64_URLSAFE = str.maketrans("-_", "+/")


def _b64decode(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise _bad(f"{what} must be a base64 string, got {type(value).__name__}")
    try:
        return base64.b64decode(value.translate(_B64_URLSAFE) + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _bad(f"{what} is not valid base64") from None


def _json_numbers(values: list, field: _Field) -> np.ndarray:
    """A JSON list for a numeric ``*_val`` field -> numpy array of the field's element type."""
    wire = field.wire
    try:
        arr = np.array(values)
    except (ValueError, TypeError, OverflowError):
        raise _bad(f"{field.json} must be a flat list of numbers") from None
    if arr.ndim != 1 and arr.size:
        raise _bad(f"{field.json} must be a flat list of numbers")
    if arr.size == 0:
        return np.empty(0, dtype=wire)
    kind = arr.dtype.kind
    try:
        if field.kind == "bool":
            if kind != "b":
                raise _bad(f"{field.json} must be a list of true/false")
            return arr
        if kind == "b" or kind == "O":
            raise _bad(f"{field.json} must be a flat list of numbers")
        if field.kind == "float":
            arr = arr.astype(np.float64)  # parses "NaN", "Infinity", "-Infinity" and numeric strings
            if wire == np.float32:
                finite = arr[np.isfinite(arr)]
                if finite.size and np.abs(finite).max() > np.finfo(np.float32).max:
                    raise _bad(f"{field.json} value too large for a float")
            return arr.astype(wire)
        # integer fields
        if kind == "U":
            arr = arr.astype(np.uint64 if wire == np.uint64 else np.int64)
        elif kind == "f":
            if not np.all(np.isfinite(arr) & (arr == np.trunc(arr))):
                raise _bad(f"{field.json} must hold integers")
            if arr.min() < np.iinfo(wire).min or arr.max() > np.iinfo(wire).max:
                raise _bad(f"{field.json} value out of range")
            arr = np.array(values, dtype=wire)  # exact for big ints that made numpy choose float64
        info = np.iinfo(wire)
        if arr.min() < info.min or arr.max() > info.max:
            raise _bad(f"{field.json} value out of range")
        return arr.astype(wire)
    except (ValueError, TypeError, OverflowError):
        raise _bad(f"{field.json} holds a value that is not a valid {field.kind}") from None


def tftensor_json_to_array(d: dict) -> np.ndarray:
    """``tf.make_ndarray`` for a TensorProto in proto3-JSON (dict) form.

    Accepts what ``json_format.ParseDict`` accepts for a TensorProto: camelCase or proto field
    names, dtype as name or number, 64-bit ints as numbers or strings, floats as numbers or
    ``"NaN"``/``"Infinity"``/``"-Infinity"``, bytes as (standard or URL-safe) base64.
    """
    if not isinstance(d, dict):
        raise _bad(f"expected an object, got {type(d).__name__}")
    fields: dict[str, Any] = {}
    for key, value in d.items():
        name = _TENSOR_FIELDS.get(key)
        if name is None:
            raise _bad(f'Message type "tensorflow.TensorProto" has no field named "{key}"')
        if value is not None:
            fields[name] = value
    dtype = _json_dtype(fields.get("dtype"))
    shape = _json_shape(fields.get("tensor_shape"))
    content = fields.get("tensor_content")
    content = _b64decode(content, "tensorContent") if content is not None else b""

    def values_of(field: _Field) -> Any:
        values = fields.get(field.proto)
        if values is None:
            return [] if field is _STRING_VAL else np.empty(0, dtype=field.wire)
        if not isinstance(values, list):
            raise _bad(f"{field.json} must be a list")
        if field is _STRING_VAL:
            return [_b64decode(v, "stringVal") for v in values]
        return _json_numbers(values, field)

    return _make_ndarray(dtype, shape, content, values_of)


# ------------------------------------------------------------------------------------------------
# proto form -> array


def tftensor_proto_to_array(t: Any) -> np.ndarray:
    """``tf.make_ndarray`` for a ``tensorflow.TensorProto`` message."""
    shape = [dim.size for dim in t.tensor_shape.dim]
    if any(size < 0 for size in shape):
        raise _bad(f"tensorShape has an unknown dimension ({min(shape)})")

    def values_of(field: _Field) -> Any:
        container = getattr(t, field.proto)
        if field is _STRING_VAL:
            return list(container)
        try:
            return np.fromiter(container, dtype=field.wire, count=len(container))
        except (ValueError, OverflowError):
            raise _bad(f"{field.proto} holds a value out of range") from None

    return _make_ndarray(t.dtype, shape, t.tensor_content, values_of)


# ------------------------------------------------------------------------------------------------
# array -> TensorProto


def _encode_dtype(arr: np.ndarray) -> int:
    kind = arr.dtype.kind
    if kind in "OSU":
        return DT_STRING
    number = _ENCODE.get(arr.dtype.type)
    if number is None:
        raise TypeError(f"Element type not supported in TensorProto: {arr.dtype}")
    return number


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytearray):
        return bytes(value)
    raise TypeError(f"Failed to convert object of type {type(value).__name__} to a DT_STRING element: {value!r}")


def _content(arr: np.ndarray) -> bytes:
    if arr.size * arr.itemsize >= (1 << 31):
        raise ValueError("Cannot create a tensor proto whose content is larger than 2GB.")
    return arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()


def _as_array(a: Any) -> np.ndarray:
    return a if isinstance(a, np.ndarray) else np.asarray(a)


def _shortest_float32(value: float) -> float:
    """The float ``json_format`` prints for a float32 field: fewest digits (>= 6) that round-trip."""
    digits = 6
    while True:
        rounded = float(f"{value:.{digits}g}")
        if np.float32(rounded) == np.float32(value) or digits >= 17:
            return rounded
        digits += 1


def _json_float(value: float, single: bool) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return _shortest_float32(value) if single else value


def _json_floats(values: np.ndarray, single: bool) -> list:
    out = values.tolist()
    if single or not np.isfinite(values).all():
        out = [_json_float(v, single) for v in out]
    return out


def array_to_tftensor_json(a: np.ndarray) -> dict:
    """``json_format.MessageToDict(tf.make_tensor_proto(a))``, without TensorFlow or protobuf."""
    arr = _as_array(a)
    dtype = _encode_dtype(arr)
    out: dict[str, Any] = {"dtype": _DTYPE_NAMES[dtype]}
    out["tensorShape"] = {"dim": [{"size": str(size)} if size else {} for size in arr.shape]} if arr.ndim else {}
    if arr.size == 0:
        return out
    if dtype in _CONTENT_DTYPES and arr.size > 1:
        out["tensorContent"] = base64.b64encode(_content(arr)).decode("ascii")
        return out
    flat = arr.ravel()
    if dtype == DT_STRING:
        out["stringVal"] = [base64.b64encode(_as_bytes(v)).decode("ascii") for v in flat.tolist()]
    elif dtype == 1:
        out["floatVal"] = _json_floats(flat, single=True)
    elif dtype == 2:
        out["doubleVal"] = _json_floats(flat, single=False)
    elif dtype == 19:
        out["halfVal"] = flat.view(np.uint16).tolist()
    elif dtype in (3, 4, 5, 6, 17):
        out["intVal"] = flat.tolist()
    elif dtype == 9:
        out["int64Val"] = [str(v) for v in flat.tolist()]
    elif dtype == 22:
        out["uint32Val"] = flat.tolist()
    elif dtype == 23:
        out["uint64Val"] = [str(v) for v in flat.tolist()]
    elif dtype == 10:
        out["boolVal"] = flat.tolist()
    elif dtype == 8:
        out["scomplexVal"] = _json_floats(flat.view(np.float32), single=True)
    elif dtype == 18:
        out["dcomplexVal"] = _json_floats(flat.view(np.float64), single=False)
    return out


def array_to_tftensor_proto(a: np.ndarray) -> Any:
    """``tf.make_tensor_proto(a)``, as our generated ``tensorflow.TensorProto``."""
    from seldon_py.proto.tensorflow.core.framework import tensor_pb2

    arr = _as_array(a)
    dtype = _encode_dtype(arr)
    t = tensor_pb2.TensorProto(dtype=dtype)  # type: ignore[arg-type]  # an int DataType; stubs want the enum type
    t.tensor_shape.SetInParent()
    for size in arr.shape:
        t.tensor_shape.dim.add(size=size)
    if arr.size == 0:
        return t
    if dtype in _CONTENT_DTYPES and arr.size > 1:
        t.tensor_content = _content(arr)
        return t
    flat = arr.ravel()
    if dtype == DT_STRING:
        t.string_val.extend([_as_bytes(v) for v in flat.tolist()])
    elif dtype == 19:
        t.half_val.extend(flat.view(np.uint16).tolist())
    elif dtype in (8, 18):
        getattr(t, "scomplex_val" if dtype == 8 else "dcomplex_val").extend(
            flat.view(np.float32 if dtype == 8 else np.float64).tolist()
        )
    else:
        getattr(t, _DECODE[dtype][1].proto).extend(flat.tolist())
    return t

