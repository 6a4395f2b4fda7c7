"""A small closed-loop gRPC load generator (grpc.aio), run as its own process by run.py.

One-shot:

    python3 grpc_load.py --target 127.0.0.1:5000 --body request.bin --concurrency 8 --duration 5

sends the pre-serialised request bytes (no protobuf work on the client: bytes in, bytes out) from
`--concurrency` coroutines, each keeping one call in flight, for `--duration` seconds, and prints
one line `RESULT {json}`: requests, errors, req/s, latency percentiles (µs) and the generator's
own CPU time, so its own ceiling is known (CPU s per request → the most one core could drive).

Connections: `--channels K` (default: one per coroutine, like wrk's one connection per in-flight
request) separate channels, each with its own TCP connection (local subchannel pool), coroutine i
using channel i % K. Several connections are what lets a server with several processes sharing
the port (SO_REUSEPORT balances connections, not calls) use them all; `--channels 1` multiplexes
everything over one HTTP/2 connection instead.

Server mode (`--serve`, what run.py uses, so Python start-up is paid once): reads one JSON command
per line on stdin, `{"target", "method", "body", "concurrency", "duration", "timeout", "channels"}`;
for each it makes one warm call on each of its (cached) channels, prints `READY`, waits for a line on
stdin (so the caller can snapshot the server's counters exactly around the measured window), runs
the load and prints `RESULT {json}`. An empty line or EOF ends it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

import grpc

MAX_MESSAGE = 100 * 1024 * 1024
OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.use_local_subchannel_pool", 1),  # every channel its own connection
]


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[k]


async def measure(calls: list, body: bytes, concurrency: int, duration: float, timeout: float) -> dict:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    cpu0 = os.times()
    start = time.perf_counter()
    deadline = start + duration

    async def worker(i: int) -> None:
        call = calls[i % len(calls)]
        perf = time.perf_counter
        while True:
            t0 = perf()
            if t0 >= deadline:
                return
            try:
                await call(body, timeout=timeout)
            except grpc.aio.AioRpcError as exc:
                key = exc.code().name
                errors[key] = errors.get(key, 0) + 1
                continue
            latencies.append(perf() - t0)

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - start
    cpu1 = os.times()
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "errors": errors,
        "duration_s": elapsed,
        "rps": n / elapsed if elapsed > 0 else 0.0,
        "latency_us": {
            "p50": percentile(latencies, 50) * 1e6,
            "p90": percentile(latencies, 90) * 1e6,
            "p99": percentile(latencies, 99) * 1e6,
            "mean": (sum(latencies) / n * 1e6) if n else float("nan"),
            "max": (latencies[-1] * 1e6) if n else float("nan"),
        },
        "loadgen_cpu_s": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
    }


def n_channels(concurrency: int, channels: int | None) -> int:
    return max(1, min(concurrency, channels or concurrency))


async def one_shot(args: argparse.Namespace) -> None:
    with open(args.body, "rb") as fh:
        body = fh.read()
    channels = [grpc.aio.insecure_channel(args.target, options=OPTIONS)
                for _ in range(n_channels(args.concurrency, args.channels))]
    try:
        calls = [ch.unary_unary(args.method) for ch in channels]
        await asyncio.gather(*(call(body, timeout=args.timeout) for call in calls))
        result = await measure(calls, body, args.concurrency, args.duration, args.timeout)
    finally:
        for ch in channels:
            await ch.close()
    print("RESULT " + json.dumps(result), flush=True)


async def serve() -> None:
    loop = asyncio.get_running_loop()
    channels: dict[tuple[str, int], grpc.aio.Channel] = {}
    bodies: dict[str, bytes] = {}

    async def readline() -> str:
        return await loop.run_in_executor(None, sys.stdin.readline)

    try:
        while True:
            line = (await readline()).strip()
            if not line:
                return
            cmd = json.loads(line)
            try:
                if cmd["body"] not in bodies:
                    with open(cmd["body"], "rb") as fh:
                        bodies[cmd["body"]] = fh.read()
                body = bodies[cmd["body"]]
                concurrency = int(cmd["concurrency"])
                calls = []
                for i in range(n_channels(concurrency, cmd.get("channels"))):
                    key = (cmd["target"], i)
                    if key not in channels:
                        channels[key] = grpc.aio.insecure_channel(cmd["target"], options=OPTIONS)
                    calls.append(channels[key].unary_unary(cmd.get("method", "/seldon.protos.Model/Predict")))
                timeout = float(cmd.get("timeout", 60.0))
                await asyncio.gather(*(call(body, timeout=timeout) for call in calls))
            except Exception as exc:  # noqa: BLE001 - reported to the caller, which goes on
                print("ERROR " + json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
                continue
            print("READY", flush=True)
            await readline()
            result = await measure(calls, body, concurrency, float(cmd["duration"]), timeout)
            print("RESULT " + json.dumps(result), flush=True)
    finally:
        for channel in channels.values():
            await channel.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="take commands on stdin (see above)")
    parser.add_argument("--target", help="host:port")
    parser.add_argument("--method", default="/seldon.protos.Model/Predict")
    parser.add_argument("--body", help="file with the serialised request")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=60.0, help="per call, seconds")
    parser.add_argument("--channels", type=int, help="connections (default: one per coroutine)")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
    elif args.target and args.body:
        asyncio.run(one_shot(args))
    else:
        parser.error("--target and --body are required (or --serve)")


if __name__ == "__main__":
    main()
