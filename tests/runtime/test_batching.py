import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from seldon_py import SeldonResponse
from seldon_py.model.reflection import reflect
from seldon_py.protocol.seldon import json_codec
from seldon_py.protocol.seldon.handler import DataPlane
from seldon_py.protocol.seldon.json_codec import encode_response
from seldon_py.runtime.batching import Batcher, BatchPolicy, batch_key


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
        return X * 10

    # the clock never moves, so no batch expires: every call must be a full batch of 4
    b = Batcher(predict, max_batch_size=4, max_latency=0.05, clock=FakeClock())
    inputs = [np.array([[i, i]], dtype=float) for i in range(32)]
    with ThreadPoolExecutor(32) as ex:
        futures = [ex.submit(b.submit, X, [], None, "ndarray") for X in inputs]
        outs = [f.result(timeout=60) for f in futures]  # a guard against a hang, not a timing
    for i, out in enumerate(outs):
        assert out.tolist() == [[i * 10, i * 10]]
    assert calls == [4] * 8


def test_batcher_errors_reach_every_request_and_bad_shapes_are_explained():
    def predict(X, names, meta):
        return X[:1] if X.shape[0] > 1 else X

    b = Batcher(predict, max_batch_size=4, max_latency=0.05, clock=FakeClock())  # only full batches run

    def call(i):
        try:
            return b.submit(np.zeros((1, 2)), [], None, "ndarray")
        except ValueError as exc:
            return str(exc)

    with ThreadPoolExecutor(4) as ex:
        futures = [ex.submit(call, i) for i in range(4)]
        outs = [f.result(timeout=60) for f in futures]
    assert all(isinstance(o, str) and "one row per input row (4 rows in" in o for o in outs), outs


def test_runtime_tags_survive_batching_and_predict_is_called_once_per_batch():
    class Model:
        def __init__(self):
            self.calls = []

        def predict(self, X, names, meta=None):
            self.calls.append(X.shape[0])
            return SeldonResponse(X + 1, tags={"batched": X.shape[0] > 1})

    model = Model()
    dp = DataPlane(reflect(model), batching=(32, 0.010))
    dp.batcher.clock = FakeClock()  # only full batches run: 128 requests from 32 threads = 4 calls
    dp.load()
    with ThreadPoolExecutor(32) as ex:
        futures = [ex.submit(dp.predict, {"data": {"ndarray": [[i]]}}, json_codec) for i in range(128)]
        outs = [f.result(timeout=60) for f in futures]
    assert [o.value.tolist() for o in outs] == [[[i + 1]] for i in range(128)]
    assert model.calls == [32] * 4
    assert all(o.meta["tags"]["batched"] for o in outs)
    assert encode_response(outs[0])["data"]["names"]
    # throughput is measured by benchmarks/ (issue 5 cases), never asserted here


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


# --- meta and runtime metrics under batching (issue 9) -----------------------------------------

from seldon_py.model.api import create_counter  # noqa: E402
from seldon_py.runtime.batching import MAX_META_KEY_BYTES, SharedResponse, meta_key  # noqa: E402


def _when(b, predicate, futures=()):
    """Wait (on the batcher's condition, no sleeping) until ``predicate()`` or every future is done."""

    def wake(_):
        with b.cond:
            b.cond.notify_all()

    for f in futures:
        f.add_done_callback(wake)
    with b.cond:
        assert b.cond.wait_for(lambda: predicate() or all(f.done() for f in futures), timeout=60)


def test_meta_key_is_hashable_canonical_and_bounded():
    assert meta_key(None) is None and meta_key({}) == "{}"
    assert meta_key({"a": 1, "b": [1, 2]}) == meta_key({"b": [1, 2], "a": 1})
    assert meta_key({"a": 1}) != meta_key({"a": 1.0}) != meta_key({"a": True})
    hash(meta_key({"tags": {"x": [{"y": None}]}}))
    big = {"tags": {"k": "x" * MAX_META_KEY_BYTES}}
    a = np.zeros((1, 2))
    assert batch_key(a, "ndarray", [], big, by_meta=True) is None  # too big: called alone
    assert batch_key(a, "ndarray", [], {"x": object()}, by_meta=True) is None  # not JSON-like
    assert batch_key(a, "ndarray", [], big, by_meta=False) is not None  # meta does not matter
    assert batch_key(a, "ndarray", [], {"puid": "1"}, by_meta=True) != batch_key(
        a, "ndarray", [], {"puid": "2"}, by_meta=True)
    assert batch_key(a, "ndarray", [], {"puid": "1"}, by_meta=True) == batch_key(
        np.ones((3, 2)), "ndarray", [], {"puid": "1"}, by_meta=True)


def test_requests_with_different_meta_do_not_share_a_batch():
    clock = FakeClock()  # advanced by hand: nothing expires unless the test says so
    seen = []

    def predict(X, names, meta):
        seen.append((X[:, 0].tolist(), meta))
        return X

    b = Batcher(predict, max_batch_size=2, max_latency=0.010, clock=clock)
    metas = [{"tags": {"who": "a"}}, {"tags": {"who": "b"}}]
    with ThreadPoolExecutor(2) as ex:
        futures = [ex.submit(b.submit, np.array([[float(i)]]), [], metas[i], "ndarray") for i in range(2)]
        _when(b, lambda: len(b.policy.pending) == 2, futures)
        clock.now += 1  # both waiting alone: let them expire
        with b.cond:
            b.cond.notify_all()
        outs = [f.result(timeout=60) for f in futures]
    assert [o.tolist() for o in outs] == [[[0.0]], [[1.0]]]
    assert sorted(seen, key=lambda s: s[0]) == [([0.0], metas[0]), ([1.0], metas[1])]


def test_requests_with_equal_meta_still_share_a_batch():
    clock = FakeClock()
    calls = []

    def predict(X, names, meta):
        calls.append((sorted(X[:, 0].tolist()), meta))
        return X

    b = Batcher(predict, max_batch_size=3, max_latency=0.010, clock=clock)
    with ThreadPoolExecutor(3) as ex:
        futures = [ex.submit(b.submit, np.array([[float(i)]]), [], {"tags": {"t": 1}}, "ndarray")
                   for i in range(3)]
        [f.result(timeout=60) for f in futures]
    assert calls == [([0.0, 1.0, 2.0], {"tags": {"t": 1}})]


def test_meta_does_not_split_batches_when_predict_takes_no_meta():
    class Model:
        def __init__(self):
            self.calls = []

        def predict(self, X, names):
            self.calls.append(X.shape[0])
            return X

    model = Model()
    dp = DataPlane(reflect(model), batching=(3, 0.010))
    assert dp.batcher.by_meta is False
    dp.batcher.clock = FakeClock()  # never expires: only a full batch can run
    dp.load()
    with ThreadPoolExecutor(3) as ex:
        futures = [ex.submit(dp.predict, {"meta": {"puid": str(i)}, "data": {"ndarray": [[i]]}}, json_codec)
                   for i in range(3)]
        outs = [f.result(timeout=60) for f in futures]
    assert model.calls == [3]
    assert [o.meta["puid"] for o in outs] == ["0", "1", "2"]


def test_meta_reaches_predict_per_request_through_the_data_plane():
    class Model:
        def predict(self, X, names, meta):
            return SeldonResponse(X, tags={"seen": meta["tags"]["who"]})

    dp = DataPlane(reflect(Model()), batching=(2, 0.010))
    assert dp.batcher.by_meta is True
    clock = dp.batcher.clock = FakeClock()
    dp.load()
    with ThreadPoolExecutor(2) as ex:
        futures = [ex.submit(dp.predict, {"meta": {"tags": {"who": w}}, "data": {"ndarray": [[1]]}}, json_codec)
                   for w in ("a", "b")]
        _when(dp.batcher, lambda: len(dp.batcher.policy.pending) == 2, futures)
        clock.now += 1
        with dp.batcher.cond:
            dp.batcher.cond.notify_all()
        outs = [f.result(timeout=60) for f in futures]
    assert [o.meta["tags"]["seen"] for o in outs] == ["a", "b"]


class ListRecorder:
    def __init__(self):
        self.records = []
        self.lock = threading.Lock()

    def record(self, metrics, method):
        with self.lock:
            self.records.append((method, [dict(m) for m in metrics]))

    def feedback(self, reward):
        pass


def test_runtime_metrics_of_one_batched_call_are_recorded_once():
    class Model:
        def __init__(self):
            self.calls = 0

        def predict(self, X, names):
            self.calls += 1
            return SeldonResponse(X, tags={"rows": X.shape[0]}, metrics=[create_counter("calls", 1)])

    model = Model()
    recorder = ListRecorder()
    dp = DataPlane(reflect(model), recorder=recorder, batching=(4, 0.010))
    dp.batcher.clock = FakeClock()  # only a full batch can run: all four share one call
    dp.load()
    with ThreadPoolExecutor(4) as ex:
        futures = [ex.submit(dp.predict, {"data": {"ndarray": [[i]]}}, json_codec) for i in range(4)]
        outs = [f.result(timeout=60) for f in futures]
    assert model.calls == 1
    recorded = [m for _, ms in recorder.records for m in ms]
    assert recorded == [{"type": "COUNTER", "key": "calls", "value": 1}]
    # every response still says which metrics the call that served it returned, and its tags
    for out in outs:
        assert out.meta["metrics"] == [{"type": "COUNTER", "key": "calls", "value": 1}]
        assert out.meta["tags"] == {"rows": 4}


def test_run_batch_shares_metrics_but_gives_each_request_its_slice():
    from concurrent.futures import Future

    from seldon_py.runtime.batching import Batch, run_batch

    m = [create_counter("c", 1)]
    futures = [Future() for _ in range(3)]
    batch = Batch("k", 0.0, [(np.array([[float(i)]]), [], None, f) for i, f in enumerate(futures)], [1, 1, 1])
    run_batch(lambda X, names, meta: SeldonResponse(X * 2, None, m), batch)
    results = [f.result(timeout=0) for f in futures]
    assert [type(r) for r in results] == [SeldonResponse, SharedResponse, SharedResponse]
    assert [r.data.tolist() for r in results] == [[[0.0]], [[2.0]], [[4.0]]]
    assert all(r.metrics == m for r in results)
    # without metrics nothing is marked shared
    futures = [Future() for _ in range(2)]
    batch = Batch("k", 0.0, [(np.array([[1.0]]), [], None, f) for f in futures], [1, 1])
    run_batch(lambda X, names, meta: SeldonResponse(X, {"t": 1}), batch)
    assert not any(isinstance(f.result(timeout=0), SharedResponse) for f in futures)
