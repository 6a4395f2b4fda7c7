"""In-process nodes: a node whose Python class is named in the class map runs inside the executor,
called through the same runtime and Seldon handler (:class:`~seldon_py.runtime.runtime.ModelRuntime`,
:class:`~seldon_py.protocol.seldon.handler.SeldonHandler`) as
``seldon-core-microservice`` serves it with, minus the wire: messages go in and out as
:class:`~seldon_py.payload.Response` objects, never serialised (except for a class with ``*_raw``
methods, which get the message in the ingress transport's form, as they would over the wire).

Class map (YAML or JSON)::

    nodes:                       # by graph node name (checked first)
      <node name>: {class: Module.Class | Module, path: <dir, relative to this file>, parameters: [...]}
    images:                      # by the node's container image (componentSpecs), tag ignored
      <image name>: {same fields}

``parameters`` is a Seldon parameter list (``[{name, value, type}]``); default: the node's own.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

from ..errors import InternalError, SeldonMicroserviceException, SeldonNotImplementedError
from ..graph import messages
from ..graph.spec import GraphError, GraphNode, Predictor
from ..graph.walker import CallContext
from ..model.loader import StartupError, instantiate, load_user_class
from ..model.reflection import reflect
from ..proto import prediction_pb2 as pb
from ..protocol.seldon import metadata as metadata_mod
from ..protocol.seldon import proto_codec
from ..protocol.seldon.handler import SeldonHandler, UnitInfo
from ..protocol.seldon.payload import Payload, RawResult, Response
from ..runtime.runtime import ModelRuntime
from ..settings import ConfigError, parse_parameters
from .metrics import split_image

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassEntry:
    class_name: str
    path: str
    parameters: list[dict[str, Any]] | None


def _entry(raw: Any, where: str, base_dir: str) -> ClassEntry:
    if not isinstance(raw, dict) or not isinstance(raw.get("class"), str) or not raw["class"]:
        raise GraphError(f"class map {where}: needs a 'class' (Module.Class or Module)")
    path = raw.get("path") or "."
    if not isinstance(path, str):
        raise GraphError(f"class map {where}: 'path' must be a directory name")
    params = raw.get("parameters")
    if params is not None and not isinstance(params, list):
        raise GraphError(f"class map {where}: 'parameters' must be a list of {{name, value, type}}")
    return ClassEntry(raw["class"], os.path.normpath(os.path.join(base_dir, path)), params)


def parse_class_map(doc: Any, base_dir: str) -> tuple[dict[str, ClassEntry], dict[str, ClassEntry]]:
    """The loaded class-map document → (by node name, by image name)."""
    if not isinstance(doc, dict) or not set(doc) <= {"nodes", "images"}:
        raise GraphError("class map must be a mapping with 'nodes' and/or 'images'")
    out: list[dict[str, ClassEntry]] = []
    for section in ("nodes", "images"):
        raw = doc.get(section) or {}
        if not isinstance(raw, dict):
            raise GraphError(f"class map '{section}' must map names to {{class, path, parameters}}")
        out.append({str(k): _entry(v, f"{section}.{k}", base_dir) for k, v in raw.items()})
    return out[0], out[1]


def match(node: GraphNode, by_node: dict[str, ClassEntry], by_image: dict[str, ClassEntry]) -> ClassEntry | None:
    entry = by_node.get(node.name)
    if entry is None and node.image:
        entry = by_image.get(split_image(node.image)[0])
    return entry


@dataclass
class LocalUnit:
    """One in-process node's user object: its runtime, and a Seldon handler per ingress transport
    (they differ only in which ``*_raw``/``*_rest``/``*_grpc`` methods take the whole message)."""

    runtime: ModelRuntime
    handlers: dict[str, SeldonHandler]


class _Codec:
    """The codec handed to the handler for in-process calls: takes any message form."""

    def __init__(self, transport: str) -> None:
        self.transport = transport

    def decode_message(self, raw: Any) -> Payload:
        return messages.to_payload(raw, self.transport)

    def decode_message_list(self, raw: Any) -> list[Any]:
        if isinstance(raw, pb.SeldonMessageList):
            return list(raw.seldonMessages)
        if isinstance(raw, dict):
            return list(raw.get("seldonMessages") or [])
        return list(raw)

    def raw_metrics(self, result: Any) -> Any:
        return proto_codec.raw_metrics(result)

    def strip_raw_metrics(self, result: Any) -> Any:
        return proto_codec.strip_raw_metrics(result)


class InProcessNode:
    """A node served by a user object in this process (a NodeCaller)."""

    def __init__(self, node: GraphNode, unit: LocalUnit) -> None:
        self.node = node
        self.unit = unit
        self.codecs = {t: _Codec(t) for t in (messages.REST, messages.GRPC)}

    def _wire(self, msg: Any, transport: str) -> Any:
        """The message as the transport would have delivered it (for *_raw methods)."""
        if transport == messages.GRPC:
            return messages.to_proto(msg)
        from ..util import jsonutil

        return jsonutil.loads(messages.to_json_bytes(msg))

    def call(self, method: str, msg: Any, ctx: CallContext) -> Any:
        try:
            return self._call(method, msg, ctx)
        except SeldonMicroserviceException:
            raise
        except Exception as exc:
            logger.error("in-process node %r %s failed: %s: %s", self.node.name, method, type(exc).__name__, exc,
                         exc_info=exc)
            raise InternalError(str(exc)) from exc

    def _call(self, method: str, msg: Any, ctx: CallContext) -> Any:
        codec = self.codecs[ctx.transport]
        dp = self.unit.handlers[ctx.transport]
        raw = dp.takes_message(method)
        result: Response | RawResult
        if method == "aggregate":
            if raw:
                items = [self._wire(m, ctx.transport) for m in msg]
                msg = pb.SeldonMessageList(seldonMessages=items) if ctx.transport == messages.GRPC else items
            result = dp.aggregate(msg, codec)
        elif method == "send_feedback":
            fb = messages.feedback_to_proto(msg)
            wire = fb if ctx.transport == messages.GRPC else messages.feedback_to_json(msg)
            result = dp.send_feedback(wire, proto_codec.decode_feedback(fb), codec)
            if isinstance(result, Response) and ctx.transport == messages.REST:
                return proto_codec.response_to_json_dict(result)  # as a remote REST node answers
        else:
            if raw:
                msg = self._wire(msg, ctx.transport)
            result = getattr(dp, method)(msg, codec)
        if isinstance(result, RawResult):
            return result.value
        return result

    def health(self) -> Response | RawResult:
        return self.unit.handlers[messages.REST].health_status(self.codecs[messages.REST])

    def metadata(self) -> dict[str, Any]:
        return self.unit.handlers[messages.REST].metadata()


def _from_dir(module: Any, path: str) -> bool:
    file = getattr(module, "__file__", None) or ""
    return os.path.abspath(file).startswith(os.path.abspath(path) + os.sep)


def import_class(class_name: str, path: str) -> type:
    """``load_user_class`` from ``path``, even when another node's module of the same name (say
    two components' ``Model.py``) was imported from another directory: each node gets its own."""
    module_name = class_name.rpartition(".")[0] or class_name
    top = module_name.split(".")[0]

    def family() -> dict[str, Any]:
        return {k: v for k, v in sys.modules.items() if k == top or k.startswith(top + ".")}

    saved = family()
    clash = any(not _from_dir(m, path) for m in saved.values())
    if clash:
        for k in saved:
            del sys.modules[k]
    sys.path.insert(0, path)
    try:
        return load_user_class(class_name, path)
    finally:
        sys.path.remove(path)  # the first occurrence: ours
        if path not in sys.path:
            sys.path.append(path)  # lazy imports in the user's code keep working, as in the microservice
        if clash:
            for k in family():
                del sys.modules[k]
            sys.modules.update(saved)


def build_inprocess(predictor: Predictor, by_node: dict[str, ClassEntry],
                    by_image: dict[str, ClassEntry]) -> dict[str, LocalUnit]:
    """Import, construct and reflect every matched node's class (in the parent, before fork).
    Raises GraphError naming the node when one cannot be loaded."""
    out: dict[str, LocalUnit] = {}
    for node in predictor.nodes():
        if node.builtin:
            continue
        entry = match(node, by_node, by_image)
        if entry is None:
            continue
        params = entry.parameters if entry.parameters is not None else list(node.parameters)
        try:
            kwargs = parse_parameters(json.dumps(params))
            cls = import_class(entry.class_name, entry.path)
            user = instantiate(cls, kwargs)
        except (StartupError, ConfigError) as exc:
            raise GraphError(f"graph node {node.name!r}: class {entry.class_name!r}: {exc}") from None
        dispatch = reflect(user)
        md: dict[str, Any] | None
        user_md: Any = None
        if dispatch.init_metadata is not None:
            try:
                user_md = dispatch.init_metadata()
            except SeldonNotImplementedError:
                user_md = None
            except Exception:  # noqa: BLE001 - optional, as in the microservice
                user_md = None
        md, error = metadata_mod.build_metadata(user_md, {}, node.image)
        runtime = ModelRuntime(dispatch)
        unit = UnitInfo(unit_id=node.name, image=node.image, include_metrics=True, executor_enabled=True)
        out[node.name] = LocalUnit(runtime, {
            t: SeldonHandler(runtime, unit, md, error if md is None else None, transport=t)
            for t in (messages.REST, messages.GRPC)
        })
    return out
