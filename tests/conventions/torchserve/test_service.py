"""The handler runner, metrics mapping, batcher and request/response mapping, without servers."""

from __future__ import annotations

import json
import threading

import pytest

from seldon_py.conventions.torchserve.batcher import HandlerBatcher
from seldon_py.conventions.torchserve.loader import install_ts_equivalents
from seldon_py.conventions.torchserve.metrics import TorchServeMetrics
from seldon_py.conventions.torchserve.service import (
    HandlerService,
    Headers,
    TSRequest,
    decode_value,
    encode_element,
    error_body,
)


@pytest.fixture(scope="module")
def ts_context():
    install_ts_equivalents()
    import ts.context

    return ts.context


def make_service(ts_context, handle):
    metrics = TorchServeMetrics("m")
    ctx = ts_context.Context("m", "/tmp", {"model": {}}, 4, None, "0.12.0", True, metrics, {})
    return HandlerService(handle, ctx, metrics, ts_context.RequestProcessor, "m")


def req(body, **headers):
    return TSRequest({"body": body}, Headers(headers))


def test_decode_value_by_content_type():
    assert decode_value(b'{"a": [1, 2]}', "application/json") == {"a": [1, 2]}
    assert decode_value(b'[1, 2]', None) == [1, 2]  # no content type: JSON if it parses
    assert decode_value(b"not json", None) == bytearray(b"not json")
    assert decode_value(b"caf\xc3\xa9", "text/plain; charset=utf-8") == "café"
    assert decode_value(b"\x00\x01", "application/octet-stream") == bytearray(b"\x00\x01")
    assert decode_value(b"{bad", "application/json") == bytearray(b"{bad")
    assert decode_value(b'{"a": 1}', "application/json", decode=False) == bytearray(b'{"a": 1}')


def test_encode_element_as_torchserve():
    assert encode_element(b"raw") == b"raw"
    assert encode_element(bytearray(b"raw")) == b"raw"
    assert encode_element("tëxt") == "tëxt".encode()
    assert encode_element({"a": [1, 2]}) == b'{\n  "a": [\n    1,\n    2\n  ]\n}'
    with pytest.raises(TypeError):
        encode_element(object())


def test_batch_is_one_call_and_answers_map_back_in_order(ts_context):
    calls = []

    def handle(data, ctx):
        calls.append([row["body"] for row in data])
        assert ctx.request_ids == {0: reqs[0].request_id, 1: reqs[1].request_id}
        return [{"got": row["body"], "id": ctx.get_request_id(i)} for i, row in enumerate(data)]

    svc = make_service(ts_context, handle)
    reqs = [req(1), req(2)]
    out = svc.run(reqs)
    assert calls == [[1, 2]]
    assert [json.loads(r.body) for r in out] == [{"got": 1, "id": reqs[0].request_id},
                                                 {"got": 2, "id": reqs[1].request_id}]
    assert all(r.status == 200 and r.content_type is None for r in out)


@pytest.mark.parametrize("raised, code, message", [
    (RuntimeError("x"), 503, "Prediction failed"),
    (RuntimeError("CUDA out of memory"), 507, "Out of resources"),
    (MemoryError(), 507, "Out of resources"),
])
def test_handler_exceptions_fail_the_batch_with_torchserve_codes(ts_context, raised, code, message):
    def handle(data, ctx):
        raise raised

    out = make_service(ts_context, handle).run([req(1), req(2)])
    assert [r.status for r in out] == [code, code]
    assert out[0].body == error_body(code, message)
    assert out[0].content_type == "application/json"


def test_prediction_exception_code_is_the_status(ts_context):
    from ts.utils.util import PredictionException

    def handle(data, ctx):
        raise PredictionException("no such item", 404)

    out = make_service(ts_context, handle).run([req(1)])
    assert out[0].status == 404
    assert json.loads(out[0].body) == {"code": 404, "type": "InternalServerException", "message": "no such item"}


@pytest.mark.parametrize("ret, message", [
    ({"not": "a list"}, "Invalid model predict output"),
    ([1], "number of batch response mismatched"),
    ([object(), object()], "Unsupported model output data type."),
])
def test_bad_handler_output_is_503(ts_context, ret, message):
    out = make_service(ts_context, lambda data, ctx: ret).run([req(1), req(2)])
    assert [r.status for r in out] == [503, 503]
    assert json.loads(out[1].body)["message"] == message


def test_per_request_status_content_type_headers(ts_context):
    def handle(data, ctx):
        ctx.set_response_status(404, "Nope", 1)
        ctx.set_response_content_type(0, "text/csv")
        ctx.set_response_header(0, "X-Extra", "yes")
        assert ctx.get_request_header(0, "x-trace") == "abc"  # any case
        return ["a,b", "missing"]

    out = make_service(ts_context, handle).run([req(1, **{"X-Trace": "abc"}), req(2)])
    assert (out[0].status, out[0].content_type, out[0].headers) == (200, "text/csv", {"X-Extra": "yes"})
    assert (out[1].status, out[1].phrase, out[1].body) == (404, "Nope", b"missing")


def test_metrics_map_to_seldon_metrics_once_per_batch(ts_context):
    from ts.metrics.dimension import Dimension
    from ts.metrics.metric_type_enum import MetricTypes

    def handle(data, ctx):
        m = ctx.metrics
        m.add_counter("rows", len(data), None, [Dimension("model", "m")])
        m.add_time("InferenceTime", 0.5, None, "s", [], MetricTypes.HISTOGRAM)
        m.add_size("Input.Size", 3, None, "kB")
        cached = m.add_metric_to_cache("requests", "count", ["kind"], MetricTypes.COUNTER)
        cached.add_or_update(2, ["x"])
        return [1] * len(data)

    out = make_service(ts_context, handle).run([req(1), req(2)])
    assert out[1].metrics == []
    assert out[0].metrics == [
        {"type": "COUNTER", "key": "rows", "value": 2, "tags": {"model": "m"}},
        {"type": "TIMER", "key": "InferenceTime", "value": 500.0},
        {"type": "GAUGE", "key": "Input_Size", "value": 3},
        {"type": "COUNTER", "key": "requests", "value": 2, "tags": {"kind": "x"}},
    ]


def test_batcher_gives_the_handler_concurrent_requests_in_one_call(ts_context):
    seen = []
    all_in = threading.Barrier(4)

    def handle(data, ctx):
        seen.append(len(data))
        return [row["body"] * 10 for row in data]

    svc = make_service(ts_context, handle)
    batcher = HandlerBatcher(svc.run, 4, max_delay=60.0)  # only a full batch can run in time
    results = {}

    def client(i):
        all_in.wait(timeout=30)
        results[i] = batcher.submit(req(i)).body

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert seen == [4]
    assert results == {i: str(i * 10).encode() for i in range(4)}


def test_batcher_runs_a_partial_batch_after_the_delay(ts_context):
    seen = []

    def handle(data, ctx):
        seen.append(len(data))
        return ["ok"] * len(data)

    batcher = HandlerBatcher(make_service(ts_context, handle).run, 8, max_delay=0.01)
    assert batcher.submit(req(1)).body == b"ok"
    assert seen == [1]
