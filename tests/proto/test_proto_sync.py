"""The checked-in generated proto code matches proto/*.proto and the Seldon protocol facts."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_gen_proto():
    spec = importlib.util.spec_from_file_location("gen_proto", ROOT / "scripts" / "gen_proto.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_up_to_date():
    try:
        import grpc_tools.protoc  # noqa: F401
    except ImportError:
        pytest.skip("grpc_tools (grpcio-tools) is not installed: cannot regenerate the proto code to compare")
    stale = _load_gen_proto().check()
    assert not stale, "seldon_py/proto is stale; run `python scripts/gen_proto.py`:\n" + "\n".join(stale)


def test_rpc_paths_and_messages_match_the_seldon_protocol():
    from seldon_py.proto import prediction_pb2 as pb
    from seldon_py.proto.tensorflow.core.framework import tensor_pb2

    services = {name: [m.name for m in s.methods] for name, s in pb.DESCRIPTOR.services_by_name.items()}
    assert services == {
        "Generic": ["TransformInput", "TransformOutput", "Route", "Aggregate", "SendFeedback"],
        "Model": ["Predict", "SendFeedback", "Metadata"],
        "Router": ["Route", "SendFeedback"],
        "Transformer": ["TransformInput"],
        "OutputTransformer": ["TransformOutput"],
        "Combiner": ["Aggregate"],
        "Seldon": ["Predict", "SendFeedback", "ModelMetadata", "GraphMetadata"],
    }
    model = pb.DESCRIPTOR.services_by_name["Model"]
    assert model.full_name == "seldon.protos.Model"
    assert model.methods_by_name["Metadata"].input_type.full_name == "google.protobuf.Empty"
    seldon = pb.DESCRIPTOR.services_by_name["Seldon"]
    assert seldon.methods_by_name["ModelMetadata"].input_type.name == "SeldonModelMetadataRequest"

    def fields(message):
        return {f.name: f.number for f in message.DESCRIPTOR.fields}

    assert pb.DESCRIPTOR.name == "proto/prediction.proto"
    assert fields(pb.SeldonMessage) == {"status": 1, "meta": 2, "data": 3, "binData": 4, "strData": 5, "jsonData": 6,
                                        "customData": 7}
    assert fields(pb.DefaultData) == {"names": 1, "tensor": 2, "ndarray": 3, "tftensor": 4}
    assert fields(pb.Tensor) == {"shape": 1, "values": 2}
    assert fields(pb.Meta) == {"puid": 1, "tags": 2, "routing": 3, "requestPath": 4, "metrics": 5}
    assert fields(pb.Metric) == {"key": 1, "type": 2, "value": 3, "tags": 4}
    assert fields(pb.Status) == {"code": 1, "info": 2, "reason": 3, "status": 4}
    assert fields(pb.Feedback) == {"request": 1, "response": 2, "reward": 3, "truth": 4}
    assert fields(pb.SeldonMessageList) == {"seldonMessages": 1}
    assert fields(pb.SeldonModelMetadata) == {"name": 1, "versions": 2, "platform": 3, "inputs": 4, "outputs": 5,
                                              "custom": 6}
    assert fields(pb.SeldonGraphMetadata) == {"name": 1, "models": 2, "inputs": 3, "outputs": 4}
    assert fields(pb.SeldonMessageMetadata) == {"messagetype": 1, "schema": 2, "name": 3, "datatype": 4, "shape": 5}
    assert pb.DefaultData.DESCRIPTOR.fields_by_name["tftensor"].message_type.full_name == "tensorflow.TensorProto"
    assert tensor_pb2.DESCRIPTOR.name == "tensorflow/core/framework/tensor.proto"
    assert fields(tensor_pb2.TensorProto)["tensor_content"] == 4
    assert pb.Metric.MetricType.Value("TIMER") == 2 and pb.Status.StatusFlag.Value("FAILURE") == 1


def test_grpc_method_paths():
    pytest.importorskip("grpc")
    from seldon_py.proto import prediction_pb2_grpc as pbg

    source = Path(pbg.__file__).read_text()
    for path in ("/seldon.protos.Model/Predict", "/seldon.protos.Generic/Aggregate",
                 "/seldon.protos.Seldon/GraphMetadata", "/seldon.protos.Router/Route"):
        assert f"'{path}'" in source


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True)


def test_reuses_a_compatible_earlier_registration():
    """Another package (TensorFlow, seldon_core) registered the TF files first: share them."""
    proc = _run(
        """
        from google.protobuf import descriptor_pb2, descriptor_pool
        fd = descriptor_pb2.FileDescriptorProto(name="tensorflow/core/framework/tensor_shape.proto",
                                                package="tensorflow", syntax="proto3")
        fd.options.go_package = "example.com/other"   # different bytes than ours
        m = fd.message_type.add(name="TensorShapeProto")
        d = m.nested_type.add(name="Dim")
        d.field.add(name="size", number=1, type=3, label=1)
        d.field.add(name="name", number=2, type=9, label=1)
        m.field.add(name="dim", number=2, type=11, label=3, type_name=".tensorflow.TensorShapeProto.Dim")
        m.field.add(name="unknown_rank", number=3, type=8, label=1)
        m.field.add(name="extra", number=9, type=9, label=1)   # a field we do not have
        theirs = descriptor_pool.Default().AddSerializedFile(fd.SerializeToString())
        from seldon_py.proto import prediction_pb2
        from seldon_py.proto.tensorflow.core.framework import tensor_shape_pb2
        ours = tensor_shape_pb2.DESCRIPTOR
        assert ours is theirs or ours.serialized_pb == theirs.serialized_pb
        assert "extra" in tensor_shape_pb2.TensorShapeProto.DESCRIPTOR.fields_by_name
        m = prediction_pb2.SeldonMessage()
        m.data.tftensor.tensor_shape.dim.add(size=3)
        assert prediction_pb2.SeldonMessage.FromString(m.SerializeToString()) == m
        print("ok")
        """
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_refuses_an_incompatible_earlier_registration():
    proc = _run(
        """
        from google.protobuf import descriptor_pb2, descriptor_pool
        fd = descriptor_pb2.FileDescriptorProto(name="tensorflow/core/framework/tensor_shape.proto",
                                                package="tensorflow", syntax="proto3")
        m = fd.message_type.add(name="TensorShapeProto")
        m.field.add(name="dim", number=2, type=9, label=3)   # a string where we have a message
        descriptor_pool.Default().AddSerializedFile(fd.SerializeToString())
        try:
            from seldon_py.proto import prediction_pb2
        except ImportError as exc:
            print("refused:", exc)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "refused:" in proc.stdout and "tensorflow.TensorShapeProto" in proc.stdout, proc.stdout
