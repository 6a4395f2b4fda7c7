"""The gRPC extension point: extra generic handlers are served next to the Seldon services."""

from __future__ import annotations

import grpc

from seldon_py.transports.grpc.server import create_grpc_server

from .helpers import make_dataplane


class Identity:
    def predict(self, X, names):
        return X


def test_extra_handlers_are_served():
    echo = grpc.method_handlers_generic_handler(
        "ext.Echo", {"Say": grpc.unary_unary_rpc_method_handler(lambda req, ctx: req[::-1])})
    srv = create_grpc_server(make_dataplane(Identity()), host="127.0.0.1", port=0, threads=2,
                             extra_handlers=[echo])
    srv.server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
            assert channel.unary_unary("/ext.Echo/Say")(b"abc", timeout=30) == b"cba"
    finally:
        srv.stop(0)
