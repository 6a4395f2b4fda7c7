import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from seldon_py import SeldonResponse
from seldon_py.runtime.batching import Batcher, BatchPolicy, batch_key
from seldon_py.protocol.seldon.handler import DataPlane
from seldon_py.protocol.seldon.json_codec import encode_response
from seldon_py.protocol.seldon import json_codec
from seldon_py.model.reflection import reflect


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_policy_runs_full_batches_at_once():
    p = BatchPolicy(max_batch_size=4, max_latency=0.010)
    assert p.offer("k", "a", 1, 100.0) == []
    assert p.offer("k", "b", 2, 100.001) == []
    ready = p.offer("k", "c", 1, 100.002)
    assert [b.items for b in ready] == [["a", "b", "c"]] and not p.pending


def test_policy_deadline_from_oldest_request_with_fake_clock():
    clock = FakeClock()
    p = BatchPolicy(max_batch_size=8, max_latency=0.010)
    p.offer("k", "a", 1, clock())
    clock.now += 0.006
    p.offer("k", "b", 1, clock())
    assert p.next_deadline() == pytest.approx(100.010)
    assert p.expired(clock()) == []
    clock.now = 100.010
    (batch,) = p.expired(clock())
    assert batch.items == ["a", "b"] and p.next_deadline() is None


def test_policy_overflow_runs_the_old_batch_and_keys_do_not_mix():
    p = BatchPolicy(max_batch_size=4, max_latency=1)
    p.offer("k", "a", 3, 0)
    p.offer("other", "x", 1, 0)
    ready = p.offer("k", "b", 2, 0)  # 3 + 2 > 4
    assert [b.items for b in ready] == [["a"]]
    assert p.pending["k"].items == ["b"] and p.pending["other"].items == ["x"]


def test_batch_key_separates_incompatible_requests():
    a = np.zeros((1, 3))
    assert batch_key(a, "ndarray", []) == batch_key(np.ones((2, 3)), "ndarray", [])
    assert batch_key(a, "ndarray", []) != batch_key(np.zeros((1, 4)), "ndarray", [])
    assert batch_key(a, "ndarray", []) != batch_key(a, "tensor", [])
    assert batch_key(np.array(["s"]), "ndarray", []) is None
    assert batch_key(np.array(1.0), "ndarray", []) is None


def test_batcher_calls_predict_once_per_batch_and_splits_results():
    calls = []

    def predict(X, names, meta):
        calls.append(X.shape[0])
        time.sleep(0.005)
        return X * 10

    b = Batcher(predict, max_batch_size=32, max_latency=0.05)
    inputs = [np.array([[i, i]], dtype=float) for i in range(32)]
    with ThreadPoolExecutor(32) as ex:
        outs = list(ex.map(lambda X: b.submit(X, [], None, "ndarray"), inputs))
    for i, out in enumerate(outs):
        assert out.tolist() == [[i * 10, i * 10]]
    assert sum(calls) == 32 and len(calls) < 8


def test_batcher_errors_reach_every_request_and_bad_shapes_are_explained():
    def predict(X, names, meta):
        return X[:1] if X.shape[0] > 1 else X

    b = Batcher(predict, max_batch_size=4, max_latency=0.05)
    barrier = threading.Barrier(4)

    def call(i):
        barrier.wait()
        try:
            return b.submit(np.zeros((1, 2)), [], None, "ndarray")
        except ValueError as exc:
            return str(exc)

    with ThreadPoolExecutor(4) as ex:
        outs = list(ex.map(call, range(4)))
    assert all("one row per input row" in o for o in outs if isinstance(o, str))
    assert any(isinstance(o, str) for o in outs)


def test_runtime_tags_survive_batching_and_throughput_gain():
    class Model:
        """Costs 5 ms per call and computes one call at a time, like a model on one accelerator."""

        lock = threading.Lock()

        def predict(self, X, names, meta=None):
            with self.lock:
                time.sleep(0.005)
            return SeldonResponse(X + 1, tags={"batched": X.shape[0] > 1})

    def run(batching):
        dp = DataPlane(reflect(Model()), batching=batching)
        dp.load()
        t = time.perf_counter()
        with ThreadPoolExecutor(32) as ex:
            outs = list(ex.map(lambda i: dp.predict({"data": {"ndarray": [[i]]}}, json_codec), range(128)))
        return time.perf_counter() - t, outs

    slow, plain = run(None)
    fast, outs = run((32, 0.010))
    assert [o.value.tolist() for o in outs] == [[[i + 1]] for i in range(128)]
    assert any(o.meta["tags"]["batched"] for o in outs)
    assert encode_response(outs[0])["data"]["names"]
    # 128 calls of 5 ms serially is >= 0.64 s; batched it is a handful of calls
    assert slow > 0.6 and fast < slow / 2


def test_a_full_batch_runs_at_once_in_the_callers_thread_whatever_the_clock():
    """The batching benchmark relies on this: the request that fills a batch runs it right away,
    in its own thread, without waiting for the latency window or the dispatcher thread."""
    clock = FakeClock()  # never advances: no batch ever expires, only a full one can run
    calls = []

    def predict(X, names, meta):
        calls.append((sorted(X[:, 0].tolist()), threading.current_thread().name))
        return X + 1

    b = Batcher(predict, max_batch_size=4, max_latency=0.010, clock=clock)
    with ThreadPoolExecutor(4, thread_name_prefix="request") as ex:
        futures = [ex.submit(b.submit, np.array([[float(i)]]), [], None, "ndarray") for i in range(4)]
        outs = [f.result(timeout=60) for f in futures]  # a guard against a hang, not a timing
    assert [o.tolist() for o in outs] == [[[i + 1.0]] for i in range(4)]
    assert len(calls) == 1
    rows, thread = calls[0]
    assert rows == [0.0, 1.0, 2.0, 3.0] and thread.startswith("request")
