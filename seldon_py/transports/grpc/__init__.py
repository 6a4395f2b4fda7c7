"""The gRPC transport: Seldon services over :class:`~seldon_py.protocol.seldon.handler.SeldonHandler`.

``servicer`` adapts every RPC of the Seldon protocol; ``server`` builds and runs a worker's
``grpc.server`` with health checking, reflection and graceful drain.
"""
