"""The one place the batch package touches the serving runtime (loader, reflection, data plane,
codecs), so a model class runs in process exactly as the servers would run it."""

from __future__ import annotations

import json
from typing import Any

from ..errors import SeldonMicroserviceException, as_microservice_error
from ..model import loader
from ..model.loader import StartupError, instantiate, load_user_class
from ..model.reflection import reflect
from ..protocol.seldon.handler import SeldonHandler
from ..protocol.seldon.payload import RawResult
from ..runtime.runtime import ModelRuntime


class ServiceError(Exception):
    """A call failed the way a server would have answered it: HTTP status and body text."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def load_user(interface_name: str, parameters: dict[str, Any], convention: str = "auto") -> Any:
    """The object the server would serve for ``interface_name``: through the model-convention
    loader (TorchServe, VESSL, Rafiki, Starwhale targets adapted) when this build has one, else the
    Seldon class constructed with ``parameters``."""
    from ..proto import preload_foreign_protos

    preload_foreign_protos()  # as the server does before importing the user's module
    load_user_object = getattr(loader, "load_user_object", None)
    if load_user_object is not None:
        return load_user_object(interface_name, parameters, convention)
    if convention not in ("auto", "seldon"):
        raise StartupError(f"model convention {convention!r} is not available in this build")
    return instantiate(load_user_class(interface_name), parameters)


def load_handler(interface_name: str, parameters: dict[str, Any], convention: str = "auto") -> SeldonHandler:
    """Import, construct and reflect on the user's model, as the server does; build its runtime and
    the Seldon handler on it (JSON codec, as REST); run ``load()``. Raises StartupError."""
    user = load_user(interface_name, parameters, convention)
    runtime = ModelRuntime(reflect(user))
    try:
        runtime.load()
    except Exception as exc:
        raise StartupError(f"load() failed: {type(exc).__name__}: {exc}") from exc
    return SeldonHandler(runtime, transport="rest")


def _plain(obj: Any) -> dict[str, Any]:
    from ..util import jsonutil

    out = json.loads(jsonutil.dumps(obj))
    if not isinstance(out, dict):
        raise ServiceError(500, f"the model returned {type(out).__name__}, not a message object")
    return out


def call(handler: SeldonHandler, message: dict[str, Any], method: str) -> dict[str, Any]:
    """``predict`` or ``feedback`` on a message in its JSON form; the response in its JSON form."""
    from ..protocol.seldon import json_codec, proto_codec

    try:
        if method == "feedback":
            from google.protobuf import json_format

            fb = proto_codec.pb.Feedback()
            try:
                json_format.ParseDict(message, fb)
            except (json_format.ParseError, TypeError, ValueError) as exc:
                raise ServiceError(400, f"Invalid JSON: {exc}") from None
            result = handler.send_feedback(fb, proto_codec.decode_feedback(fb), json_codec)
            if isinstance(result, RawResult):
                return _raw(result)
            return _plain(proto_codec.response_to_json_dict(result))
        result = handler.predict(message, json_codec)
        if isinstance(result, RawResult):
            return _raw(result)
        return _plain(json_codec.encode_response(result))
    except ServiceError:
        raise
    except Exception as exc:  # noqa: BLE001 - mapped as the servers map it
        err: SeldonMicroserviceException = as_microservice_error(exc)
        raise ServiceError(err.status_code, json.dumps(err.to_dict())) from None


def _raw(result: RawResult) -> dict[str, Any]:
    value = result.value
    if isinstance(value, (bytes, str)):
        value = json.loads(value)
    return _plain(value)


def close(handler: SeldonHandler) -> None:
    """The model's unload hook, where this build's handler has one."""
    fn = getattr(handler, "close", None)
    if fn is not None:
        fn()


__all__ = ["ServiceError", "StartupError", "call", "close", "load_handler", "load_user"]
