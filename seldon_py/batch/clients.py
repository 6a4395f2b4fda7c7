"""How a batch run reaches the model: REST, gRPC (a deployment or one microservice), or in process.

Each client takes a SeldonMessage (or Feedback) in its JSON form and returns the response in its
JSON form, raising :class:`CallError` (which says whether trying again could help).
"""

from __future__ import annotations

import http.client
import ssl
import threading
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson

PREDICT, FEEDBACK = "predict", "feedback"
GATEWAYS = ("ambassador", "istio", "seldon")


class CallError(Exception):
    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Client(Protocol):
    def send(self, message: dict[str, Any], method: str, puid: str | None) -> dict[str, Any]: ...

    def close(self) -> None: ...


@dataclass
class Endpoint:
    """Where the deployment is and how to talk to it (the processor's connection options)."""

    host: str
    deployment: str
    namespace: str = "default"
    gateway: str = "istio"
    use_ssl: bool = False
    ssl_verify: bool = True
    token: str = ""
    timeout: float | None = 120.0  # None: wait as long as it takes

    def rest_url(self, method: str) -> str:
        scheme = "https" if self.use_ssl or self.token else "http"
        path = "/api/v1.0/predictions" if method == PREDICT else "/api/v1.0/feedback"
        if self.gateway == "seldon":
            return f"{scheme}://{self.host}{path}"
        return f"{scheme}://{self.host}/seldon/{self.namespace}/{self.deployment}{path}"


#: a response body larger than this is refused (bounded before it is read)
MAX_RESPONSE_BYTES = 256 * 1024 * 1024


class RestClient:
    """One kept-alive HTTP connection per worker thread."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._local = threading.local()
        self._context: ssl.SSLContext | None = None
        if endpoint.use_ssl or endpoint.token:
            self._context = ssl.create_default_context()
            if not endpoint.ssl_verify:
                self._context.check_hostname = False
                self._context.verify_mode = ssl.CERT_NONE
        self._urls = {m: urlsplit(endpoint.rest_url(m)) for m in (PREDICT, FEEDBACK)}

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            url = self._urls[PREDICT]
            if url.scheme == "https":
                conn = http.client.HTTPSConnection(url.netloc, timeout=self.endpoint.timeout, context=self._context)
            else:
                conn = http.client.HTTPConnection(url.netloc, timeout=self.endpoint.timeout)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def send(self, message: dict[str, Any], method: str, puid: str | None) -> dict[str, Any]:
        try:
            body = orjson.dumps(message)
        except TypeError:  # e.g. an integer beyond 64 bits: the standard library writes those
            import json

            body = json.dumps(message).encode()
        headers = {"Content-Type": "application/json"}
        if puid and self.endpoint.gateway != "seldon":
            headers["Seldon-Puid"] = puid
        if self.endpoint.token:
            headers["X-Auth-Token"] = self.endpoint.token
        url = self._urls[method]
        conn = self._connection()
        try:
            conn.request("POST", url.path, body=body, headers=headers)
            resp = conn.getresponse()
            length = resp.getheader("Content-Length")
            if length is not None and int(length) > MAX_RESPONSE_BYTES:
                self._drop()
                raise CallError(f"response of {length} bytes is larger than {MAX_RESPONSE_BYTES}", False)
            data = resp.read(MAX_RESPONSE_BYTES + 1)
            if len(data) > MAX_RESPONSE_BYTES:
                self._drop()
                raise CallError(f"response larger than {MAX_RESPONSE_BYTES} bytes", False)
            if resp.will_close:
                self._drop()
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            raise CallError(f"{type(exc).__name__}: {exc} ({url.geturl()})", True) from None
        if resp.status != 200:
            text = data[:1000].decode("utf-8", "replace")
            raise CallError(f"HTTP {resp.status}: {text}", resp.status >= 500 or resp.status == 429)
        try:
            out = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise CallError(f"response is not JSON: {exc}", False) from None
        if not isinstance(out, dict):
            raise CallError(f"response is not a JSON object: {data[:200]!r}", False)
        return out

    def close(self) -> None:
        self._drop()


_RETRYABLE_GRPC = {"UNAVAILABLE", "INTERNAL", "UNKNOWN", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED"}


class GrpcClient:
    """The ``seldon.protos.Seldon`` service (what gateways and the executor serve, and every
    microservice too); one channel shared by the worker threads."""

    def __init__(self, endpoint: Endpoint, max_message_bytes: int = 256 * 1024 * 1024) -> None:
        import grpc

        from ..proto import prediction_pb2, prediction_pb2_grpc

        self.grpc = grpc
        self.pb = prediction_pb2
        self.endpoint = endpoint
        options = [("grpc.max_send_message_length", max_message_bytes),
                   ("grpc.max_receive_message_length", max_message_bytes)]
        if endpoint.use_ssl or endpoint.token:
            creds = grpc.ssl_channel_credentials()
            self.channel = grpc.secure_channel(endpoint.host, creds, options=options)
        else:
            self.channel = grpc.insecure_channel(endpoint.host, options=options)
        stub = prediction_pb2_grpc.SeldonStub(self.channel)
        self._calls = {PREDICT: (stub.Predict, prediction_pb2.SeldonMessage),
                       FEEDBACK: (stub.SendFeedback, prediction_pb2.Feedback)}
        md = []
        if endpoint.gateway != "seldon":
            md += [("seldon", endpoint.deployment), ("namespace", endpoint.namespace)]
        if endpoint.token:
            md.append(("x-auth-token", endpoint.token))
        self.metadata = tuple(md)

    def send(self, message: dict[str, Any], method: str, puid: str | None) -> dict[str, Any]:
        from google.protobuf import json_format

        rpc, message_type = self._calls[method]
        try:
            request = json_format.ParseDict(message, message_type())
        except (json_format.ParseError, TypeError, ValueError) as exc:
            raise CallError(f"not a valid {message_type.__name__}: {exc}", False) from None
        try:
            response = rpc(request, metadata=self.metadata, timeout=self.endpoint.timeout)
        except self.grpc.RpcError as exc:
            code = exc.code().name if exc.code() is not None else "UNKNOWN"
            raise CallError(f"gRPC {code}: {exc.details()}", code in _RETRYABLE_GRPC) from None
        return json_format.MessageToDict(response)

    def close(self) -> None:
        self.channel.close()


class InProcessClient:
    """A model class run in this process through the same data plane the servers use: no server,
    no sockets, same responses (the user's class is imported, constructed, reflected on and its
    ``load()`` run once)."""

    def __init__(self, interface_name: str, parameters: dict[str, Any] | None = None,
                 convention: str = "auto") -> None:
        from . import inprocess

        self.handler = inprocess.load_handler(interface_name, parameters or {}, convention)

    def send(self, message: dict[str, Any], method: str, puid: str | None) -> dict[str, Any]:
        from . import inprocess

        try:
            return inprocess.call(self.handler, message, method)
        except inprocess.ServiceError as exc:
            raise CallError(exc.text, exc.status >= 500) from None

    def close(self) -> None:
        from . import inprocess

        inprocess.close(self.handler)
