"""The processor's requests and mini-batch splitting, with a fake client (no I/O)."""

from __future__ import annotations

import json

import pytest

from seldon_py.batch.clients import CallError, Endpoint
from seldon_py.batch.engine import InputError, Row
from seldon_py.batch.processor import ProcessorTask, build_parser, encode_data


class Echo:
    """Answers like an identity model: the request's data, its tags echoed."""

    def __init__(self, rows_back: int | None = None) -> None:
        self.sent: list[dict] = []
        self.rows_back = rows_back

    def send(self, message, method, puid):
        self.sent.append(message)
        data = dict(message.get("data") or {})
        if self.rows_back is not None and "ndarray" in data:
            data["ndarray"] = data["ndarray"][: self.rows_back]
        return {"data": data, "meta": {"tags": {**message["meta"]["tags"], "model": "m"}}}

    def close(self):
        pass


def out(result):
    return [json.loads(r) for r in result.records]


def test_one_row_carries_the_batch_tags_and_keeps_them_in_the_output():
    client = Echo()
    task = ProcessorTask(client, "data", "ndarray", "predict", "B")
    [res] = task.call([Row(7, "[[1, 2]]")])
    tags = client.sent[0]["meta"]["tags"]
    assert tags["batch_id"] == "B" and tags["batch_index"] == 7 and tags["batch_instance_id"]
    line = out(res)[0]
    assert line["meta"]["tags"] == {**tags, "model": "m"} and line["data"] == {"ndarray": [[1, 2]]}


def test_a_mini_batch_is_one_request_split_back_per_row():
    client = Echo()
    task = ProcessorTask(client, "data", "ndarray", "predict", "B")
    res = task.call([Row(3, "[[1, 2]]"), Row(4, "[[3, 4]]"), Row(5, "[[5, 6]]")])
    assert len(client.sent) == 1 and client.sent[0]["data"] == {"ndarray": [[1, 2], [3, 4], [5, 6]]}
    lines = [out(r)[0] for r in res]
    assert [x["data"]["ndarray"] for x in lines] == [[[1, 2]], [[3, 4]], [[5, 6]]]
    assert [x["meta"]["tags"]["batch_index"] for x in lines] == [3, 4, 5]
    instance = client.sent[0]["meta"]["tags"]["batch_instance_id"]
    assert [x["meta"]["tags"]["batch_instance_id"] for x in lines] == [f"{instance}-item-{k}" for k in range(3)]
    assert all(x["meta"]["tags"]["model"] == "m" for x in lines)


def test_tensor_mini_batch():
    client = Echo()
    task = ProcessorTask(client, "data", "tensor", "predict", "B")
    res = task.call([Row(0, "[[1, 2]]"), Row(1, "[[3, 4]]")])
    assert client.sent[0]["data"] == {"tensor": {"shape": [2, 2], "values": [1, 2, 3, 4]}}
    assert out(res[1])[0]["data"]["tensor"] == {"shape": [1, 2], "values": [3.0, 4.0]}


def test_raw_mini_batch_keeps_each_rows_names_and_tags():
    client = Echo()
    task = ProcessorTask(client, "raw", "ndarray", "predict", "B")
    rows = [Row(0, '{"data": {"names": ["a", "b"], "ndarray": [[1, 2]]}, "meta": {"tags": {"x": 1}}}'),
            Row(1, '{"data": {"names": ["a", "b"], "ndarray": [[3, 4]]}}')]
    res = task.call(rows)
    assert client.sent[0]["data"] == {"names": ["a", "b"], "ndarray": [[1, 2], [3, 4]]}
    first, second = out(res[0])[0], out(res[1])[0]
    assert first["meta"]["tags"]["x"] == 1 and "x" not in second["meta"]["tags"]
    assert first["data"]["names"] == ["a", "b"]


@pytest.mark.parametrize(("data_type", "lines", "message"), [
    ("data", ["[[1, 2]]", "[[1, 2], [3, 4]]"], "first dimension 1"),
    ("data", ["[[1, 2]]", "nope"], "Expecting value"),
    ("raw", ['{"data": {"names": ["a"], "ndarray": [[1]]}}', '{"data": {"names": ["b"], "ndarray": [[1]]}}'],
     "same data.names"),
    ("raw", ['{"data": {"ndarray": [[1]]}}', '{"strData": "x"}'], "'data' field"),
])
def test_rows_that_cannot_share_a_request_raise_input_errors_before_sending(data_type, lines, message):
    client = Echo()
    task = ProcessorTask(client, data_type, "ndarray", "predict", "B")
    with pytest.raises(InputError, match=message):
        task.call([Row(i, x) for i, x in enumerate(lines)])
    assert client.sent == []
    assert not task.retryable(InputError("x"))


def test_a_response_with_the_wrong_number_of_rows_is_an_input_error():
    task = ProcessorTask(Echo(rows_back=1), "data", "ndarray", "predict", "B")
    with pytest.raises(InputError, match="1 rows for 2 requests"):
        task.call([Row(0, "[[1]]"), Row(1, "[[2]]")])


def test_error_line_format():
    task = ProcessorTask(Echo(), "data", "ndarray", "predict", "B")
    line = out(task.failure(Row(9, "x"), CallError("HTTP 500: boom", True)))[0]
    assert line["status"] == {"info": "FAILURE", "reason": "HTTP 500: boom", "status": 1}
    assert line["meta"]["batch_id"] == "B" and line["meta"]["batch_index"] == 9 and line["meta"]["batch_instance_id"]
    assert task.retryable(CallError("x", True)) and not task.retryable(CallError("x", False))


def test_payload_encodings():
    assert encode_data([[1, 2]], "ndarray") == {"ndarray": [[1, 2]]}
    assert encode_data([[1, 2]], "tensor") == {"tensor": {"shape": [1, 2], "values": [1, 2]}}
    tf = encode_data([[1.5, 2]], "tftensor")["tftensor"]
    assert tf["dtype"] == "DT_DOUBLE" and tf["doubleVal"] == [1.5, 2.0]
    assert encode_data([[1, 2]], "tftensor")["tftensor"]["int64Val"] == ["1", "2"]
    with pytest.raises(InputError):
        encode_data([["a"]], "tensor")


def test_urls_per_gateway():
    assert Endpoint("h:80", "dep", "ns", "istio").rest_url("predict") == \
        "http://h:80/seldon/ns/dep/api/v1.0/predictions"
    assert Endpoint("h:80", "dep", "ns", "seldon").rest_url("feedback") == "http://h:80/api/v1.0/feedback"
    assert Endpoint("h:443", "dep", token="t", gateway="ambassador").rest_url("predict").startswith("https://")


def test_flags_read_the_environment_and_flags_win():
    p = build_parser({"SELDON_BATCH_WORKERS": "4", "SELDON_BATCH_TRANSPORT": "grpc", "SELDON_BATCH_USE_SSL": "true"})
    a = p.parse_args([])
    assert a.workers == 4 and a.transport == "grpc" and a.use_ssl is True
    a = p.parse_args(["-w", "2", "-t", "rest", "-h", "x:1"])
    assert a.workers == 2 and a.transport == "rest" and a.host == "x:1"
    assert a.output_data_path == "/assets/output-data.txt" != a.input_data_path
