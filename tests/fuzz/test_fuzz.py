"""Fuzz suite (issue 11): thousands of hostile REST requests and a thousand gRPC calls against a
real server (both transports, one process tree), seeded and deterministic.

Asserted for every request: an answer (no hang: each waits on a generous deadline), never a 5xx
/ INTERNAL-like status for what is the client's fault, every REST error as the Seldon JSON error
body with ``application/json``. After each batch: the server is alive and serving, and the
process tree's PSS grew by less than :data:`PSS_GROWTH_MB`.

``SELDON_FUZZ_SEED`` and ``SELDON_FUZZ_SCALE`` (a multiplier of the case counts) change a run;
a failure message names the seed and the case index, which reproduce it.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from tests.transports.grpc.helpers import GrpcService, start_service

from .generators import LIMIT, RestCase, grpc_case, rest_case

pytestmark = pytest.mark.e2e

SEED = int(os.environ.get("SELDON_FUZZ_SEED", "20261204"))
SCALE = float(os.environ.get("SELDON_FUZZ_SCALE", "1"))
REST_CASES = int(3000 * SCALE)
GRPC_CASES = int(1000 * SCALE)
#: every request must be answered (or, if it was incomplete, closed) within this
DEADLINE_S = 30.0
#: bound on the process tree's PSS growth over a batch (a max-size request needs up to ~60x
#: --max-payload-size while in flight; the rest is allocator slack)
PSS_GROWTH_MB = 150

MODEL = """
class Fuzzed:
    def predict(self, X, names, meta=None):
        return X

    def transform_input(self, X, names, meta=None):
        return X

    def transform_output(self, X, names, meta=None):
        return X

    def route(self, X, names, meta=None):
        return 0

    def aggregate(self, Xs, names_list, metas=None):
        return Xs[0]

    def send_feedback(self, X, names, reward, truth, routing=None):
        return None
"""

#: gRPC codes that mean the server failed (not the client)
SERVER_FAULTS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED,
                 grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.DATA_LOSS}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    svc = start_service(workdir, {"Fuzzed.py": MODEL}, "Fuzzed",
                        ["--workers", "1", "--threads", "2", "--grpc-threads", "2",
                         "--max-payload-size", str(LIMIT)])
    try:
        deadline = time.monotonic() + 30
        while _rest(svc, b"GET /health/status HTTP/1.1\r\nHost: f\r\n\r\n")[0] != 200:
            assert time.monotonic() < deadline, svc.output()
            time.sleep(0.05)
        yield svc
    finally:
        svc.stop()


def _rest(svc: GrpcService, raw: bytes) -> tuple[int, bytes, bytes]:
    """Send ``raw``, half-close, read to EOF: (status or 0, head, body)."""
    with socket.create_connection(("127.0.0.1", svc.http_port), timeout=DEADLINE_S) as s:
        try:
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server answered and closed before taking everything (413, 431)
        data = b""
        end = time.monotonic() + DEADLINE_S
        while time.monotonic() < end:
            try:
                chunk = s.recv(1 << 16)
            except ConnectionResetError:
                break  # after its answer, the server may reset what we still sent
            if not chunk:
                break
            data += chunk
        else:
            raise AssertionError("no end of response within the deadline (hang)")
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", head)
    return (int(m.group(1)) if m else 0), head, body


def _first_body(head: bytes, body: bytes) -> bytes:
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return body[: int(m.group(1))] if m else body


def check_rest(index: int, case: RestCase, status: int, head: bytes, body: bytes) -> str | None:
    """Why this answer is wrong (None if it is fine)."""
    if status == 0:
        if case.may_be_incomplete and not head:
            return None  # an incomplete request the client gave up on: closed, not answered
        return f"no HTTP answer: {head[:200]!r}"
    if status >= 500:
        return f"{status} for a client's request: {body[:300]!r}"
    ctype = re.search(rb"(?im)^content-type:\s*([^\r\n;]*)", head)
    if status >= 400:
        if not ctype or ctype.group(1).strip() != b"application/json":
            return f"{status} error not application/json: {head[:300]!r}"
        if case.head:
            return None
        try:
            doc = json.loads(_first_body(head, body))
            assert doc["status"]["status"] == 1 and doc["status"]["code"] == -1 and doc["status"]["reason"]
        except Exception as exc:  # noqa: BLE001
            return f"{status} error body is not the Seldon error: {exc!r} {body[:300]!r}"
    elif case.json_answer and status == 200 and ctype and ctype.group(1).strip() == b"application/json":
        try:
            json.loads(_first_body(head, body))
        except ValueError as exc:
            return f"200 body is not JSON: {exc} {body[:200]!r}"
    return None


def tree_pss_mb(svc: GrpcService) -> float:
    total = 0
    for pid in svc.session_pids():
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def assert_alive(svc: GrpcService) -> None:
    assert svc.proc.poll() is None, svc.output()[-3000:]
    body = b'{"data":{"ndarray":[[1,2]]}}'
    status, _, out = _rest(svc, b"POST /predict HTTP/1.1\r\nHost: f\r\nContent-Type: application/json\r\n"
                                b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    assert status == 200 and b'"ndarray":[[1,2]]' in out, (status, out)
    assert svc.health(timeout=10) == 1  # SERVING


def _run_batch(n: int, seed: int, one) -> list[str]:
    """Run ``one(index, rng)`` for n cases on 4 client threads; the failures, each with its
    seed and index."""
    failures: list[str] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        rng = random.Random(f"{seed}:{index}")
        try:
            why = one(index, rng)
        except Exception as exc:  # noqa: BLE001 - a client-side failure is a failure too
            why = f"{type(exc).__name__}: {exc}"
        if why:
            with lock:
                failures.append(f"seed {seed} case {index}: {why}")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(run, range(n)))
    return failures


def test_rest_fuzz(server):
    def one(index: int, rng: random.Random) -> str | None:
        case = rest_case(rng)
        status, head, body = _rest(server, case.raw)
        return check_rest(index, case, status, head, body)

    _run_batch(50, SEED + 1, one)  # warm-up: allocator arenas, caches, lazy imports
    before = tree_pss_mb(server)
    failures = _run_batch(REST_CASES, SEED, one)
    after = tree_pss_mb(server)
    assert not failures, f"{len(failures)} of {REST_CASES} failed:\n" + "\n".join(sorted(failures)[:30])
    assert_alive(server)
    print(f"process tree PSS {before:.0f} -> {after:.0f} MB")
    assert after - before < PSS_GROWTH_MB, (before, after)


def test_grpc_fuzz(server):
    channel = server.channel(**{"grpc.max_send_message_length": -1, "grpc.max_receive_message_length": -1})
    methods: dict[str, grpc.UnaryUnaryMultiCallable] = {}

    def one(index: int, rng: random.Random) -> str | None:
        method, wire = grpc_case(rng)
        call = methods.get(method)
        if call is None:
            call = methods[method] = channel.unary_unary(method, request_serializer=None,
                                                          response_deserializer=None)
        try:
            call(wire, timeout=DEADLINE_S)
        except grpc.RpcError as exc:
            if exc.code() in SERVER_FAULTS:
                return f"{method}: {exc.code().name} {exc.details()!r} for {wire[:80]!r}"
        return None

    _run_batch(50, SEED + 1, one)
    before = tree_pss_mb(server)
    failures = _run_batch(GRPC_CASES, SEED, one)
    after = tree_pss_mb(server)
    assert not failures, f"{len(failures)} of {GRPC_CASES} failed:\n" + "\n".join(sorted(failures)[:30])
    assert_alive(server)
    print(f"process tree PSS {before:.0f} -> {after:.0f} MB")
    assert after - before < PSS_GROWTH_MB, (before, after)
