"""Ceiling: a plain grpcio server whose generic handler returns the request bytes unchanged.

    python3 grpc_echo.py --port P [--workers N] [--threads T]

No protobuf parsing at all: any method answers its own request. With --workers N it starts N
server processes that share the port with SO_REUSEPORT (like ours and the reference), each a
fresh interpreter (gRPC and fork do not mix), and stops them all on SIGTERM/SIGINT.
"""

import argparse
import os
import signal
import subprocess
import sys
from concurrent import futures

MAX_MESSAGE = 100 * 1024 * 1024


def serve(port: int, threads: int) -> None:
    import grpc

    def echo(request, context):
        return request

    handler = grpc.unary_unary_rpc_method_handler(echo)

    class Echo(grpc.GenericRpcHandler):
        def service(self, handler_call_details):
            return handler

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads),
        handlers=[Echo()],
        options=[
            ("grpc.so_reuseport", 1),
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.max_receive_message_length", MAX_MESSAGE),
        ],
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    signal.signal(signal.SIGTERM, lambda *_: server.stop(0))
    server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child or args.workers == 1:
        serve(args.port, args.threads)
        return
    argv = [sys.executable, os.path.abspath(__file__), "--child",
            "--port", str(args.port), "--threads", str(args.threads)]
    children = [subprocess.Popen(argv) for _ in range(args.workers)]

    def stop(*_):
        for child in children:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.wait()


if __name__ == "__main__":
    main()
