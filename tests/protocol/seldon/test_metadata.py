"""seldon_py.protocol.seldon.metadata: defaults, MODEL_METADATA parsing, merge order, validation, proto shaping.

The valid/invalid tables were checked one by one against seldon-core 1.19.0's ``/metadata``.
"""

from __future__ import annotations

import json
import sys

import pytest

from seldon_py.protocol.seldon.metadata import (
    METADATA_SCHEMA,
    build_metadata,
    default_metadata,
    metadata_to_proto_dict,
    parse_model_metadata_env,
)

GOLDEN = (
    '{"custom":{"author":"me"},"inputs":[{"messagetype":"tensor","schema":{"names":["a","b"],'
    '"shape":[2]}}],"name":"my-model","outputs":[{"datatype":"FP32","name":"out","shape":[1]}],'
    '"platform":"sk","versions":["v1"]}'
)
NOTHING_DEFINED = '{"custom":{},"inputs":[],"name":"","outputs":[],"platform":"","versions":[""]}'


def wire(md: dict) -> str:
    return json.dumps(md, sort_keys=True, separators=(",", ":"))


def build(user: object = None, env: dict | None = None, image: str | None = None):
    return build_metadata(user, env or {}, image)


# --- defaults -------------------------------------------------------------------------------


def test_nothing_defined():
    md, msg = build()
    assert msg is None
    assert wire(md) == NOTHING_DEFINED


def test_default_metadata_from_image():
    md = default_metadata("repo/img:0.3")
    assert md["name"] == "repo/img" and md["versions"] == ["0.3"]
    assert wire(build(image="repo/img:0.3")[0]) == (
        '{"custom":{},"inputs":[],"name":"repo/img","outputs":[],"platform":"","versions":["0.3"]}'
    )


@pytest.mark.parametrize(
    "image, name, version",
    [
        (None, "", ""),
        ("", "", ""),
        ("repo/img:0.3", "repo/img", "0.3"),
        ("a:b:c", "a:b", "c"),  # split at the last colon
        ("reg:5000/team/img:1.0", "reg:5000/team/img", "1.0"),
        # Where we differ from 1.19 (which gives name "" / version "img", and "reg" / "5000/img"):
        ("img", "img", ""),
        ("reg:5000/img", "reg:5000/img", ""),
        ("repo/img@sha256:abc", "repo/img", "sha256:abc"),
        ("repo/img:1.0@sha256:abc", "repo/img", "1.0"),
    ],
)
def test_image_split(image, name, version):
    md = default_metadata(image)
    assert (md["name"], md["versions"]) == (name, [version])


def test_default_metadata_returns_fresh_objects():
    a = default_metadata(None)
    a["inputs"].append({})
    a["custom"]["x"] = "y"
    assert default_metadata(None) == json.loads(NOTHING_DEFINED)


# --- the golden valid document --------------------------------------------------------------


def test_golden_from_init_metadata():
    user = {
        "name": "my-model",
        "versions": ["v1"],
        "platform": "sk",
        "inputs": [{"messagetype": "tensor", "schema": {"names": ["a", "b"], "shape": [2]}}],
        "outputs": [{"name": "out", "datatype": "FP32", "shape": [1]}],
        "custom": {"author": "me"},
    }
    md, msg = build(user, image="other/img:9")
    assert msg is None
    assert wire(md) == GOLDEN


def test_golden_from_env_only():
    env, warn = parse_model_metadata_env(GOLDEN)
    assert warn is None
    md, msg = build(None, env)
    assert msg is None and wire(md) == GOLDEN


# --- MODEL_METADATA ------------------------------------------------------------------------

YAML_TEXT = """\
name: my-model
versions: [v1]
platform: sk
inputs:
  - messagetype: tensor
    schema:
      names: [a, b]
      shape: [2]
outputs:
  - name: out
    datatype: FP32
    shape: [1]
custom:
  author: me
"""


def test_env_yaml():
    env, warn = parse_model_metadata_env(YAML_TEXT)
    assert warn is None
    assert wire(build(None, env)[0]) == GOLDEN


def test_env_json():
    assert parse_model_metadata_env('{"name": "x", "custom": {"k": "v"}}') == (
        {"name": "x", "custom": {"k": "v"}},
        None,
    )


@pytest.mark.parametrize("text", [None, "", "   \n"])
def test_env_unset_or_blank(text):
    assert parse_model_metadata_env(text) == ({}, None)


@pytest.mark.parametrize(
    "text, why",
    [
        ("[1, 2]", "got list"),
        ("- 1", "got list"),
        ("null", "got NoneType"),
        ("just a string", "got str"),
        ("a: [", "not valid JSON or YAML"),
    ],
)
def test_env_unusable_is_ignored_with_warning(text, why):
    # 1.19 crashes at startup on a non-mapping value (even an empty string); we warn and ignore.
    env, warn = parse_model_metadata_env(text)
    assert env == {}
    assert warn.startswith("MODEL_METADATA") and "ignored" in warn and why in warn
    assert "\n" not in warn


def test_env_without_pyyaml(monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)  # makes ``import yaml`` raise ImportError
    assert parse_model_metadata_env('{"name": "x"}') == ({"name": "x"}, None)
    env, warn = parse_model_metadata_env("name: x")
    assert env == {}
    assert "MODEL_METADATA" in warn and "PyYAML is not installed" in warn


# --- merge order ------------------------------------------------------------------------------


def test_env_overrides_user_overrides_defaults_shallowly():
    user = {"name": "from-user", "platform": "p", "custom": {"a": "b"}}
    env = {"name": "from-env", "custom": {"k": "v"}}
    md, msg = build(user, env, image="repo/img:0.3")
    assert msg is None
    assert md["name"] == "from-env"  # env wins
    assert md["platform"] == "p"  # user kept where env is silent
    assert md["versions"] == ["0.3"]  # default kept where both are silent
    assert md["custom"] == {"k": "v"}  # shallow: env's custom replaces the user's entirely


def test_env_can_make_valid_metadata_invalid():
    md, msg = build({"name": "ok"}, {"versions": "v1"})
    assert md is None and "versions" in msg


@pytest.mark.parametrize("user", [[1, 2], "text", 5])
def test_non_dict_init_metadata_is_ignored_with_message(user):
    md, msg = build(user)
    assert wire(md) == NOTHING_DEFINED
    assert "init_metadata() must return a dict" in msg


def test_build_does_not_mutate_inputs():
    user, env = {"name": "u"}, {"platform": "e"}
    build(user, env, "i:1")
    assert user == {"name": "u"} and env == {"platform": "e"}


# --- validation (each row observed on 1.19.0) ------------------------------------------------

VALID = [
    {"inputs": [{"messagetype": "tensor"}]},
    {"inputs": [{"messagetype": "tensor", "schema": {}}]},
    {"inputs": [{"messagetype": "tensor", "schema": {"shape": [-1]}}]},
    {"inputs": [{"messagetype": "tensor", "schema": {"shape": [1.0]}}]},
    {"inputs": [{"messagetype": "ndarray", "schema": {"names": ["a"]}}]},
    {"inputs": [{"messagetype": "tftensor", "schema": {"shape": [2]}}]},
    {"inputs": [{"messagetype": "jsonData"}]},
    {"inputs": [{"messagetype": "jsonData", "schema": {"names": [1]}}]},
    {"inputs": [{"messagetype": "strData"}], "outputs": [{"messagetype": "binData"}]},
    {"inputs": [{"messagetype": "weird"}]},  # custom message types: schema optional
    {"outputs": [{"messagetype": "weird", "schema": {"x": 1}}]},
    {"inputs": [{"messagetype": ""}]},
    {"inputs": [{"messagetype": "Tensor", "schema": {"names": [1]}}]},  # case matters: custom
    {"inputs": [{}]},  # a V2 tensor with every field omitted
    {"inputs": [{"name": "x"}]},
    {"inputs": [{"datatype": "BYTES"}]},
    {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}]},
    {"inputs": [{"name": "x", "shape": []}]},
    {"inputs": [{"name": "x", "shape": [2.0]}]},
    {"versions": []},
    {"versions": ["a", "b"], "name": ""},
    {"custom": {"a": "b", "c": ""}},
]

INVALID = [
    ({"extra": 1}, "top level", "'extra'"),
    ({"name": 5}, "name", "string"),
    ({"name": None}, "name", "string"),
    ({"platform": 1}, "platform", "string"),
    ({"versions": "v1"}, "versions", "array"),
    ({"versions": [1]}, "versions[0]", "string"),
    ({"versions": None}, "versions", "array"),
    ({"custom": {"a": 1}}, "custom.a", "string"),
    ({"custom": {"a": None}}, "custom.a", "string"),
    ({"custom": []}, "custom", "object"),
    ({"inputs": {}}, "inputs", "array"),
    ({"inputs": None}, "inputs", "array"),
    ({"inputs": [5]}, "inputs[0]", "object"),
    ({"inputs": [{"foo": 1}]}, "inputs[0]", "'foo'"),
    ({"inputs": [{"messagetype": 5}]}, "inputs[0].messagetype", "string"),
    ({"inputs": [{"messagetype": None}]}, "inputs[0].messagetype", "string"),
    ({"inputs": [{"messagetype": "tensor", "extra": 1}]}, "inputs[0]", "'extra'"),
    (
        {"inputs": [{"messagetype": "tensor", "schema": {"names": ["a"], "shape": [2], "x": 1}}]},
        "inputs[0].schema",
        "'x'",
    ),
    (
        {"inputs": [{"messagetype": "tensor", "schema": {"names": [1]}}]},
        "inputs[0].schema.names[0]",
        "string",
    ),
    ({"inputs": [{"messagetype": "tensor", "schema": {"names": "a"}}]}, "inputs[0].schema.names", "array"),
    (
        {"inputs": [{"messagetype": "tensor", "schema": {"shape": [1.5]}}]},
        "inputs[0].schema.shape[0]",
        "integer",
    ),
    (
        {"inputs": [{"messagetype": "tensor", "schema": {"shape": [True]}}]},
        "inputs[0].schema.shape[0]",
        "integer",
    ),
    ({"inputs": [{"messagetype": "tensor", "schema": {"shape": "a"}}]}, "inputs[0].schema.shape", "array"),
    ({"inputs": [{"messagetype": "tensor", "schema": {"names": ["a"]}, "name": "x"}]}, "inputs[0]", "'name'"),
    ({"inputs": [{"messagetype": "jsonData", "schema": 5}]}, "inputs[0].schema", "object"),
    ({"inputs": [{"messagetype": "jsonData", "schema": None}]}, "inputs[0].schema", "object"),
    ({"inputs": [{"messagetype": "custom", "schema": 5}]}, "inputs[0].schema", "object"),
    ({"inputs": [{"messagetype": "strData", "schema": {}}]}, "inputs[0]", "'schema'"),
    ({"inputs": [{"messagetype": "binData", "x": 1}]}, "inputs[0]", "'x'"),
    ({"inputs": [{"schema": {"names": ["a"]}}]}, "inputs[0]", "'schema'"),
    ({"inputs": [{"name": 5}]}, "inputs[0].name", "string"),
    ({"inputs": [{"name": "x", "datatype": "FP33"}]}, "inputs[0].datatype", "'FP33'"),
    ({"inputs": [{"name": "x", "datatype": "fp32"}]}, "inputs[0].datatype", "'fp32'"),
    ({"inputs": [{"name": "x", "datatype": "BF16"}]}, "inputs[0].datatype", "'BF16'"),
    ({"inputs": [{"name": "x", "shape": [1.5]}]}, "inputs[0].shape[0]", "integer"),
    ({"inputs": [{"name": "x", "shape": "a"}]}, "inputs[0].shape", "array"),
    ({"inputs": [{"name": "x", "parameters": {}}]}, "inputs[0]", "'parameters'"),
    ({"inputs": [{"name": "x", "messagetype": "tensor"}]}, "inputs[0]", "'name'"),
    (
        {"outputs": [{"messagetype": "tensor", "schema": {"names": [1]}}]},
        "outputs[0].schema.names[0]",
        "string",
    ),
]


@pytest.mark.parametrize("user", VALID, ids=lambda u: json.dumps(u)[:60])
def test_valid(user):
    md, msg = build(user)
    assert msg is None
    assert md == {**json.loads(NOTHING_DEFINED), **user}


@pytest.mark.parametrize(
    "user, where, detail", INVALID, ids=lambda v: json.dumps(v)[:60] if isinstance(v, dict) else ""
)
def test_invalid(user, where, detail):
    md, msg = build(user)
    assert md is None
    assert msg.startswith(f"Model metadata invalid at {where}: "), msg
    assert detail in msg
    assert "\n" not in msg


def test_invalid_message_is_bounded():
    md, msg = build({"name": ["x" * 5000]})
    assert md is None and len(msg) < 600


def test_schema_is_json():
    assert json.loads(json.dumps(METADATA_SCHEMA)) == METADATA_SCHEMA


# --- proto shaping ---------------------------------------------------------------------------


def test_metadata_to_proto_dict_keeps_known_fields():
    md = {
        **json.loads(GOLDEN),
        "unknown": 1,
        "inputs": [
            {"messagetype": "tensor", "schema": {"names": ["a"], "shape": [2]}, "junk": 1},
            {"name": "x", "datatype": "FP32", "shape": [2.0, -1]},
        ],
    }
    out = metadata_to_proto_dict(md)
    assert set(out) == {"name", "versions", "platform", "inputs", "outputs", "custom"}
    assert out["inputs"] == [
        {"messagetype": "tensor", "schema": {"names": ["a"], "shape": [2]}},
        {"name": "x", "datatype": "FP32", "shape": [2, -1]},
    ]
    assert isinstance(out["inputs"][1]["shape"][0], int)
    assert md["inputs"][1]["shape"] == [2.0, -1]  # input untouched


def test_metadata_to_proto_dict_parses_into_the_proto():
    pb = pytest.importorskip("seldon_py.proto.prediction_pb2")
    from google.protobuf import json_format

    msg = json_format.ParseDict(metadata_to_proto_dict(json.loads(GOLDEN)), pb.SeldonModelMetadata())
    assert msg.name == "my-model" and list(msg.versions) == ["v1"] and msg.custom["author"] == "me"
    assert msg.inputs[0].messagetype == "tensor"
    assert json_format.MessageToDict(msg.inputs[0].schema) == {"names": ["a", "b"], "shape": [2]}
    assert (msg.outputs[0].name, msg.outputs[0].datatype, list(msg.outputs[0].shape)) == ("out", "FP32", [1])


@pytest.mark.parametrize("image", [None, "", "repo/img:0.3", "host:5000/img", "img@sha256:abc", "x:y:z"])
def test_defaults_alone_match_the_schema(image):
    """build_metadata skips validation (and the jsonschema import) when nothing but the defaults
    is merged: that is only right while every default document is valid."""
    from seldon_py.protocol.seldon.metadata import METADATA_SCHEMA, _validator, default_metadata

    assert list(_validator().iter_errors(default_metadata(image))) == []
    assert _validator().schema is METADATA_SCHEMA


def test_plain_model_does_not_import_jsonschema():
    import subprocess

    code = (
        "import sys; from seldon_py.protocol.seldon.metadata import build_metadata; "
        "md, msg = build_metadata(None, {}, 'img:1'); "
        "assert md['versions'] == ['1'] and msg is None; "
        "print('jsonschema' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_pyyaml_is_a_runtime_dependency():
    """The operator passes MODEL_METADATA as YAML: without PyYAML in production it was ignored."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    reqs = [Requirement(r) for r in requires("seldon-py") or []]
    runtime = [r for r in reqs if r.name.lower() == "pyyaml" and r.marker is None]
    assert runtime, "pyyaml must be in install_requires, not only in an extra"


class PlainModel:
    """No init_metadata(): the metadata is the defaults with MODEL_METADATA over them."""

    def predict(self, X, names):
        return X


def test_yaml_model_metadata_names_the_model_through_the_real_path():
    from seldon_py.server import Microservice
    from seldon_py.settings import parse_settings

    env = {"MODEL_METADATA": YAML_TEXT, "PREDICTIVE_UNIT_IMAGE": "registry/image-name:0.3"}
    service = Microservice(parse_settings([f"{__name__}.PlainModel"], env, ""))
    service.prepare()
    assert service.metadata_error is None
    assert service.metadata is not None
    assert service.metadata["name"] == "my-model" and service.metadata["versions"] == ["v1"]
    # without MODEL_METADATA the image names it (what production silently fell back to)
    service = Microservice(parse_settings([f"{__name__}.PlainModel"], {"PREDICTIVE_UNIT_IMAGE": env[
        "PREDICTIVE_UNIT_IMAGE"]}, ""))
    service.prepare()
    assert service.metadata is not None and service.metadata["name"] == "registry/image-name"
