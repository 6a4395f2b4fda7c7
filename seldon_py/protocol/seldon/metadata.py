"""Model metadata: defaults, the ``MODEL_METADATA`` override, validation, proto shaping.

Pure functions: nothing here reads the environment or logs; callers pass values in and log the
messages they get back.

The served document is ``defaults ⊕ init_metadata() ⊕ MODEL_METADATA`` (shallow merge, later
wins), checked against :data:`METADATA_SCHEMA`. An invalid document is not served (REST answers
500 ``MICROSERVICE_BAD_METADATA``); everything else keeps working.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "METADATA_SCHEMA",
    "build_metadata",
    "default_metadata",
    "metadata_to_proto_dict",
    "parse_model_metadata_env",
]

# --- schema -----------------------------------------------------------------------------------

#: Message kinds carried in ``DefaultData`` (their ``schema`` describes names and shape).
DATA_MESSAGE_TYPES = ("tensor", "ndarray", "tftensor")
#: Message kinds that take no ``schema`` at all.
SCHEMALESS_MESSAGE_TYPES = ("strData", "binData")
#: V2 (Open Inference Protocol) tensor data types.
V2_DATATYPES = (
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
)

_STRINGS = {"type": "array", "items": {"type": "string"}}
_INTEGERS = {"type": "array", "items": {"type": "integer"}}  # 2.0 counts as an integer, True does not

_DATA_ITEM = {
    "description": "A DefaultData payload: tensor, ndarray or tftensor, optionally with names/shape.",
    "type": "object",
    "properties": {
        "messagetype": {"enum": list(DATA_MESSAGE_TYPES)},
        "schema": {
            "type": "object",
            "properties": {"names": _STRINGS, "shape": _INTEGERS},
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
_SCHEMALESS_ITEM = {
    "description": "A strData or binData payload; no schema.",
    "type": "object",
    "properties": {"messagetype": {"enum": list(SCHEMALESS_MESSAGE_TYPES)}},
    "additionalProperties": False,
}
_OBJECT_SCHEMA_ITEM = {
    "description": "jsonData or any custom message type, with an optional free-form object schema.",
    "type": "object",
    "properties": {"messagetype": {"type": "string"}, "schema": {"type": "object"}},
    "additionalProperties": False,
}
_V2_TENSOR_ITEM = {
    "description": "A V2 (Open Inference Protocol) tensor; every field optional.",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "datatype": {"enum": list(V2_DATATYPES)},
        "shape": _INTEGERS,
    },
    "additionalProperties": False,
}

# One entry of inputs/outputs. Written as if/then/else on ``messagetype`` rather than a plain
# anyOf of the four forms: the accepted set is the same (an entry without ``messagetype`` can only
# be a V2 tensor; the other forms require it and are told apart by its value), but a failure then
# points at the offending field instead of "not valid under any of the given schemas".
_MESSAGE_METADATA = {
    "type": "object",
    "if": {"required": ["messagetype"]},
    "then": {
        "if": {"properties": {"messagetype": {"enum": list(DATA_MESSAGE_TYPES)}}},
        "then": _DATA_ITEM,
        "else": {
            "if": {"properties": {"messagetype": {"enum": list(SCHEMALESS_MESSAGE_TYPES)}}},
            "then": _SCHEMALESS_ITEM,
            "else": _OBJECT_SCHEMA_ITEM,
        },
    },
    "else": _V2_TENSOR_ITEM,
}

#: JSON Schema (draft 7) of the model metadata document served at ``/metadata``.
METADATA_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Seldon model metadata",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "versions": _STRINGS,
        "platform": {"type": "string"},
        "inputs": {"type": "array", "items": _MESSAGE_METADATA},
        "outputs": {"type": "array", "items": _MESSAGE_METADATA},
        "custom": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "additionalProperties": False,
}

_VALIDATORS: list[Any] = []


def _validator() -> Any:
    """The schema validator, built on first use: jsonschema costs ~5 MB per process, and a model
    without ``init_metadata()`` or ``MODEL_METADATA`` never needs it (the defaults are valid)."""
    if not _VALIDATORS:
        import jsonschema

        jsonschema.Draft7Validator.check_schema(METADATA_SCHEMA)
        _VALIDATORS.append(jsonschema.Draft7Validator(METADATA_SCHEMA))
    return _VALIDATORS[0]

_MAX_MESSAGE = 400  # characters of a validation message kept (they embed the offending value)

# --- building ---------------------------------------------------------------------------------


def _split_image(image: str) -> tuple[str, str]:
    """``repo/img:0.3`` → (``repo/img``, ``0.3``).

    The tag is what follows the last ``:`` unless that part contains a ``/`` (then the ``:``
    belongs to a registry port, as in ``host:5000/img``). A digest (``img@sha256:…``) is split
    off first and used as the version when there is no tag. No tag at all → version ``""``.
    """
    name, _, digest = image.partition("@")
    head, sep, tag = name.rpartition(":")
    if sep and "/" not in tag:
        return head, tag
    return name, digest


def default_metadata(image: str | None) -> dict[str, Any]:
    """The metadata served when the model defines nothing: name and version from the image."""
    name, version = _split_image(image) if image else ("", "")
    return {
        "name": name,
        "versions": [version],
        "platform": "",
        "inputs": [],
        "outputs": [],
        "custom": {},
    }


def parse_model_metadata_env(text: str | None) -> tuple[dict[str, Any], str | None]:
    """Parse a ``MODEL_METADATA`` value: JSON, else YAML (the Seldon operator passes YAML).

    PyYAML is an install requirement; the ImportError branch only serves installs made without
    dependencies (``pip install --no-deps``), and says so.

    Returns ``(mapping, None)``, or ``({}, warning)`` when the value is unusable; unset or blank
    is ``({}, None)``.
    """
    if text is None or not text.strip():
        return {}, None
    try:
        value: Any = json.loads(text)
    except ValueError as json_exc:
        try:
            import yaml
        except ImportError:
            return {}, (
                f"MODEL_METADATA environment variable ignored: not valid JSON ({json_exc})"
                " and PyYAML is not installed to read it as YAML"
            )
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as yaml_exc:
            why = " ".join(str(yaml_exc).split())
            return {}, f"MODEL_METADATA environment variable ignored: not valid JSON or YAML: {why}"
    if not isinstance(value, dict):
        return {}, (
            "MODEL_METADATA environment variable ignored: it must be a mapping of metadata fields,"
            f" got {type(value).__name__}"
        )
    return value, None


def _where(path: Any) -> str:
    """A jsonschema error path as ``inputs[0].schema.names[1]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "top level"


def build_metadata(
    user_metadata: object, env_metadata: dict[str, Any], image: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    """Merge defaults, the user's ``init_metadata()`` result and ``MODEL_METADATA``, then validate.

    ``user_metadata`` is what ``init_metadata()`` returned, or ``None`` when the class does not
    define it. Returns ``(metadata, message)``: ``metadata`` is ``None`` when the merged document is
    invalid, and ``message`` (or ``None``) says why, or warns that a non-dict ``init_metadata()``
    result was ignored (the metadata is then still served).
    """
    warning = None
    if user_metadata is None:
        user_metadata = {}
    elif not isinstance(user_metadata, dict):
        warning = (
            f"init_metadata() must return a dict, got {type(user_metadata).__name__}: ignored"
        )
        user_metadata = {}
    merged = {**default_metadata(image), **user_metadata, **env_metadata}
    if not user_metadata and not env_metadata:
        return merged, warning  # the defaults alone always match the schema
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(merged))
    if error is None:
        return merged, warning
    message = " ".join(error.message.split())
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return None, f"Model metadata invalid at {_where(error.absolute_path)}: {message}"


# --- proto shaping ----------------------------------------------------------------------------

_MODEL_FIELDS = ("name", "versions", "platform", "inputs", "outputs", "custom")
_MESSAGE_FIELDS = ("messagetype", "schema", "name", "datatype", "shape")


def _message_to_proto_dict(item: dict[str, Any]) -> dict[str, Any]:
    out = {k: item[k] for k in _MESSAGE_FIELDS if k in item}
    shape = out.get("shape")
    if isinstance(shape, list):  # repeated int64: send integral floats (2.0) as ints
        out["shape"] = [int(d) if isinstance(d, float) and d.is_integer() else d for d in shape]
    return out


def metadata_to_proto_dict(md: dict[str, Any]) -> dict[str, Any]:
    """Keep only what ``SeldonModelMetadata`` can hold, ready for ``json_format.ParseDict``."""
    out = {k: md[k] for k in _MODEL_FIELDS if k in md}
    for key in ("inputs", "outputs"):
        if isinstance(out.get(key), list):
            out[key] = [_message_to_proto_dict(i) for i in out[key] if isinstance(i, dict)]
    return out
