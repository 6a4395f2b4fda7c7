"""The OpenAPI document served at /seldon.json: valid OpenAPI 3.0, exactly our routes, and its
schemas accept the observed Seldon wire bodies (spec §4.5, §5.5, §5.8, §9)."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

DOC_URI = "urn:seldon-py:openapi"

# Every path the REST server answers, with its methods (HEAD/OPTIONS are implicit).
EXPECTED_ROUTES = {
    "/predict": {"get", "post"},
    "/api/v1.0/predictions": {"post"},
    "/api/v0.1/predictions": {"post"},
    "/send-feedback": {"get", "post"},
    "/api/v1.0/feedback": {"post"},
    "/api/v0.1/feedback": {"post"},
    "/transform-input": {"get", "post"},
    "/transform-output": {"get", "post"},
    "/route": {"get", "post"},
    "/aggregate": {"get", "post"},
    "/health/ping": {"get"},
    "/health/status": {"get"},
    "/api/v1.0/health/status": {"get"},
    "/metadata": {"get"},
    "/api/v1.0/metadata": {"get"},
    "/seldon.json": {"get"},
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads((files("seldon_py.transports.rest") / "seldon.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator_for(doc):
    registry = Registry().with_resource(DOC_URI, Resource.from_contents(doc, default_specification=DRAFT7))

    def make(name: str) -> jsonschema.Draft7Validator:
        schema = {"$ref": f"{DOC_URI}#/components/schemas/{name}"}
        return jsonschema.Draft7Validator(schema, registry=registry)

    return make


def walk(node: Any):
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def resolve(doc: dict, ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


# --- the document itself --------------------------------------------------------------------


def test_is_valid_openapi_30(doc):
    validator = pytest.importorskip("openapi_spec_validator")
    assert doc["openapi"].startswith("3.0.")
    validator.validate(doc)


def test_header(doc):
    assert doc["openapi"] == "3.0.3"
    assert doc["info"]["title"] == "seldon_py microservice"


def test_paths_and_methods_are_exactly_the_served_routes(doc):
    served = {path: set(item) & HTTP_METHODS for path, item in doc["paths"].items()}
    assert served == EXPECTED_ROUTES


def test_every_ref_resolves(doc):
    refs = [n["$ref"] for n in walk(doc) if isinstance(n, dict) and "$ref" in n]
    assert refs
    for ref in refs:
        resolve(doc, ref)


def test_operation_ids_are_unique(doc):
    ids = [op["operationId"] for item in doc["paths"].values() for m, op in item.items() if m in HTTP_METHODS]
    assert len(ids) == len(set(ids))


def _responses(doc, path, method):
    return doc["paths"][path][method]["responses"]


def test_message_endpoints_document_their_bodies_and_errors(doc):
    for path, methods in EXPECTED_ROUTES.items():
        if path.startswith(("/health", "/metadata", "/api/v1.0/metadata", "/api/v1.0/health", "/seldon")):
            continue
        for method in methods:
            op = doc["paths"][path][method]
            codes = set(_responses(doc, path, method))
            assert {"200", "400", "500", "503"} <= codes, (path, method)
            if method == "post":
                assert {"413", "415"} <= codes, path
                body = resolve(doc, op["requestBody"]["$ref"])
                assert set(body["content"]) == {
                    "application/json",
                    "application/x-www-form-urlencoded",
                    "multipart/form-data",
                }
                assert body["content"]["application/x-www-form-urlencoded"]["schema"]["required"] == ["json"]
            else:
                assert "requestBody" not in op
                (param,) = [resolve(doc, p["$ref"]) for p in op["parameters"]]
                assert (param["name"], param["in"], param["required"]) == ("json", "query", True)


def test_request_body_schemas(doc):
    def body_schema(path):
        body = resolve(doc, doc["paths"][path]["post"]["requestBody"]["$ref"])
        return body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]

    assert body_schema("/predict") == "SeldonMessage"
    assert body_schema("/api/v0.1/feedback") == "Feedback"
    assert body_schema("/aggregate") == "SeldonMessageList"


def test_every_error_response_uses_the_seldon_error_body(doc, validator_for):
    error_schema = validator_for("SeldonError")
    codes_seen = set()
    for item in doc["paths"].values():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            for code, resp in op["responses"].items():
                if code.startswith(("4", "5")):
                    codes_seen.add(code)
                    resp = resolve(doc, resp["$ref"]) if "$ref" in resp else resp
                    content = resp["content"]["application/json"]
                    assert content["schema"] == {"$ref": "#/components/schemas/SeldonError"}
                    error_schema.validate(content["example"])
    assert codes_seen == {"400", "413", "415", "500", "503"}
    # 404 and 405 belong to no operation; they are described once in components.
    assert {"NotFound", "MethodNotAllowed"} <= set(doc["components"]["responses"])


def test_ping_is_text(doc):
    content = _responses(doc, "/health/ping", "get")["200"]["content"]
    assert content == {"text/html": {"schema": {"type": "string", "enum": ["pong"]}}}


def test_examples_match_their_schemas(doc, validator_for):
    for name, schema in doc["components"]["schemas"].items():
        if "example" in schema:
            validator_for(name).validate(schema["example"])
    for body in doc["components"]["requestBodies"].values():
        content = body["content"]["application/json"]
        validator_for(content["schema"]["$ref"].rsplit("/", 1)[1]).validate(content["example"])


# --- the wire bodies observed on Seldon Core 1.19 fit the schemas -----------------------------

GOLDEN_MESSAGES = [
    # spec §4.5 requests and responses
    {"data": {"ndarray": [[1, 2], [3, 4]]}},
    {"data": {"names": ["t:0", "t:1"], "ndarray": [[1, 2], [3, 4]]}, "meta": {}},
    {"data": {"names": ["a", "b"], "ndarray": [[1.0, 2.0]]}, "meta": {"puid": "abc", "tags": {"x": 1}}},
    {"data": {"names": ["t:0", "t:1"], "ndarray": [[1.0, 2.0]]}, "meta": {"puid": "abc", "tags": {"x": 1}}},
    {"data": {"tensor": {"shape": [1, 2], "values": [1, 2]}}},
    {"data": {"names": ["t:0", "t:1"], "tensor": {"shape": [1, 2], "values": [1, 2]}}, "meta": {}},
    {"data": {"ndarray": [[1, 2]]}},
    {"data": {"names": ["t:0", "t:1"], "ndarray": [[1, 2]]}, "meta": {}},
    {"strData": "hello"},
    {"meta": {}, "strData": "hello"},
    {"binData": "AAFoaQ=="},
    {"binData": "AAFoaQ==", "meta": {}},
    {"jsonData": {"a": [1, 2]}},
    {"jsonData": {"a": [1, 2]}, "meta": {}},
    {"data": {"ndarray": ["a", "b"]}},
    {"data": {"names": [], "ndarray": ["a", "b"]}, "meta": {}},
    {"data": {"ndarray": [1, "b", 2.5]}},
    {"data": {"names": [], "ndarray": ["1", "b", "2.5"]}, "meta": {}},
    {"data": {}},
    {"data": {"names": ["a"]}},
    {"data": {"names": [], "ndarray": []}, "meta": {}},
    {"data": {"ndarray": 5}},
    {"data": {"names": [], "ndarray": 5}, "meta": {}},
    {"data": {"tensor": {"shape": [3], "values": [1, 2]}}},
    {"data": {"ndarray": [[1, 2], [3]]}},
    {"data": {"tftensor": {"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "2"}]}, "floatVal": [1]}}},
    {"binData": "aGVsbG8"},
    {
        "strData": "x",
        "meta": {
            "puid": "p1",
            "routing": {"a": 1},
            "requestPath": {"x": "img:1"},
            "metrics": [{"key": "k", "type": "COUNTER", "value": 1}],
        },
    },
    {
        "meta": {
            "metrics": [{"key": "k", "type": "COUNTER", "value": 1}],
            "puid": "p1",
            "requestPath": {"x": "img:1"},
        },
        "strData": "x",
    },
    {"meta": {}, "strData": "healthy"},
    {"meta": {}},  # fits the schema; the server answers 400 (no payload)
    # spec §5.5: full meta
    {
        "data": {"names": ["a", "b"], "ndarray": [[1.5, 2.5]]},
        "meta": {
            "metrics": [
                {"key": "reqm", "type": "GAUGE", "value": 3},
                {"key": "static_counter", "type": "COUNTER", "value": 1},
                {"key": "rt_counter", "tags": {"lbl": "a", "method": "predict"}, "type": "COUNTER",
                 "value": 2},
                {"key": "rt_gauge", "type": "GAUGE", "value": 42},
                {"key": "rt_timer", "type": "TIMER", "value": 20.5},
            ],
            "puid": "P",
            "requestPath": {"mymodel": "repo/img:0.3", "upstream": "u:1"},
            "tags": {"req": "t", "runtime": "tag", "shared": "runtime", "static": "tag"},
        },
    },
    # spec §5.8: route, feedback replies
    {"data": {"names": ["t:0"], "ndarray": [[1]]}, "meta": {}},
    {"data": {"names": ["t:0"], "tensor": {"shape": [1, 1], "values": [1]}}, "meta": {}},
    {"data": {"ndarray": []}, "meta": {}},
    {"data": {"tensor": {"shape": [0]}}, "meta": {}},
    {"jsonData": {"status": "ok"}, "meta": {}},
    # tolerated: unknown keys at the top level and in meta
    {"strData": "x", "extra": 1, "meta": {"unknown": True}},
]

NOT_MESSAGES = [
    [1, 2],
    "abc",
    None,
    {"data": {"tensor": {"shape": [1], "values": [1]}, "ndarray": [1]}},  # two kinds
    {"data": {"ndarray": [1], "tftensor": {}}},
    {"data": {"names": "a"}},
    {"data": {"tensor": {"shape": [1.5], "values": [1]}}},
    {"data": {"tensor": {"shape": [1], "values": ["a"]}}},
    {"strData": 5},
    {"meta": {"puid": 5}},
    {"meta": {"routing": {"r": "one"}}},
    {"meta": {"requestPath": {"r": 1}}},
    {"meta": {"metrics": [{"type": "COUNTER", "value": 1}]}},  # no key
    {"meta": {"metrics": [{"key": "k", "type": "HISTOGRAM", "value": 1}]}},
]

ERRORS = [
    {"status": {"code": -1, "info": info, "reason": reason, "status": 1}}
    for info, reason in [
        ("Invalid request data type: {'meta': {}}", "MICROSERVICE_BAD_DATA"),
        ("Model metadata unavailable", "MICROSERVICE_BAD_METADATA"),
        ("'shape'", "MICROSERVICE_INTERNAL_ERROR"),
    ]
]


@pytest.mark.parametrize("body", GOLDEN_MESSAGES, ids=lambda b: json.dumps(b)[:60])
def test_golden_messages_fit(validator_for, body):
    validator_for("SeldonMessage").validate(body)


@pytest.mark.parametrize("body", NOT_MESSAGES, ids=lambda b: json.dumps(b)[:60])
def test_non_messages_are_rejected(validator_for, body):
    assert not validator_for("SeldonMessage").is_valid(body)


@pytest.mark.parametrize("body", ERRORS, ids=lambda b: b["status"]["reason"])
def test_error_bodies_fit(validator_for, body):
    validator_for("SeldonError").validate(body)
    validator_for("SeldonMessage").validate(body)  # an error is also a (status-only) SeldonMessage


def test_error_body_needs_every_status_field(validator_for):
    assert not validator_for("SeldonError").is_valid({"status": {"code": -1, "info": "x"}})
    assert not validator_for("SeldonError").is_valid({})


def test_message_lists(validator_for):
    v = validator_for("SeldonMessageList")
    a = {"data": {"ndarray": [[1, 2]]}, "meta": {"puid": "c1", "tags": {"a": 1}}}
    b = {"data": {"ndarray": [[3, 4]]}, "meta": {"tags": {"b": 2}}}
    v.validate([a, b])  # what the executor sends
    v.validate({"seldonMessages": [a, b]})
    v.validate([])
    assert not v.is_valid({"messages": [a]})
    assert not v.is_valid([1, 2])


def test_feedback(validator_for):
    v = validator_for("Feedback")
    v.validate(
        {
            "request": {"data": {"ndarray": [[1, 2]]}},
            "response": {"meta": {"routing": {"router": 1}}, "data": {"ndarray": [[3]]}},
            "reward": 1.0,
            "truth": {"data": {"ndarray": [[1]]}},
        }
    )
    assert not v.is_valid({"bogus": 1})  # the server rejects unknown Feedback fields too
    assert not v.is_valid({"reward": "abc"})


def test_model_metadata(validator_for):
    v = validator_for("SeldonModelMetadata")
    v.validate(
        {
            "custom": {"author": "me"},
            "inputs": [{"messagetype": "tensor", "schema": {"names": ["a", "b"], "shape": [2]}}],
            "name": "my-model",
            "outputs": [{"datatype": "FP32", "name": "out", "shape": [1]}],
            "platform": "sk",
            "versions": ["v1"],
        }
    )
    v.validate({"custom": {}, "inputs": [], "name": "", "outputs": [], "platform": "", "versions": [""]})
    assert not v.is_valid({"name": "x", "extra": 1})
    assert not v.is_valid({"custom": {"a": 1}})
