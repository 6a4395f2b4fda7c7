"""In-process nodes and the payload logger's queue, without sockets."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from seldon_py.executor.inprocess import ClassEntry, InProcessNode, build_inprocess
from seldon_py.executor.payload_log import PayloadLogger
from seldon_py.graph import messages
from seldon_py.graph.spec import GraphError, parse_predictor
from seldon_py.graph.walker import CallContext, Walker
from seldon_py.protocol.seldon.payload import Response

MODELS = '''
import numpy as np

class Double:
    def __init__(self, factor=2):
        self.factor = factor
    def predict(self, X, names=None, meta=None):
        return np.asarray(X) * self.factor

class Raw:
    def predict_raw(self, msg):
        return {"jsonData": {"got": type(msg).__name__}}

class Broken:
    def __init__(self):
        raise RuntimeError("no weights")
'''


@pytest.fixture
def models(tmp_path: Path) -> Path:
    (tmp_path / "inproc_models.py").write_text(MODELS)
    yield tmp_path
    sys.modules.pop("inproc_models", None)


def build(models: Path, cls: str, params=None):
    pred = parse_predictor({"name": "p", "graph": {"name": "m", "type": "MODEL", "parameters": params or []}})
    units = build_inprocess(pred, {"m": ClassEntry(f"inproc_models.{cls}", str(models), None)}, {})
    for u in units.values():
        u.runtime.load()
    return pred, InProcessNode(pred.graph, units["m"])


def test_called_directly_with_the_node_parameters(models):
    pred, node = build(models, "Double", [{"name": "factor", "value": "3", "type": "INT"}])
    out = node.call("predict", {"data": {"ndarray": [[1, 2]]}}, CallContext())
    assert isinstance(out, Response)  # no encoding between in-process hops
    np.testing.assert_array_equal(out.value, [[3, 6]])
    assert out.meta["requestPath"] == {"m": "NOT_IMPLEMENTED:NOT_IMPLEMENTED"}
    chained = Walker(pred, {"m": node}).predict(out, CallContext())  # a Response in, too
    np.testing.assert_array_equal(chained.value, [[9, 18]])


@pytest.mark.parametrize("transport,form", [(messages.REST, "dict"), (messages.GRPC, "SeldonMessage")])
def test_raw_methods_get_the_ingress_transports_message(models, transport, form):
    _, node = build(models, "Raw")
    prev = Response("ndarray", np.array([[1.0]]), [], {})
    out = node.call("predict", prev, CallContext(transport=transport))
    assert out == {"jsonData": {"got": form}}  # what predict_raw returned, passed on as it is


def test_a_class_that_fails_to_construct_names_the_node(models):
    with pytest.raises(GraphError, match="graph node 'm': class 'inproc_models.Broken'.*no weights"):
        build(models, "Broken")


def test_payload_log_queue_never_blocks_and_counts_drops():
    drops: list[str] = []
    log = PayloadLogger("http://127.0.0.1:9/", "d", "ns", "p", "src", queue_size=1, write_timeout_s=1.0,
                        on_drop=drops.append)  # not started: nothing drains the queue
    node = parse_predictor({"name": "p", "graph": {"name": "m", "type": "MODEL", "logger": {"mode": "all"}}}).graph
    for _ in range(3):
        log.node_request(node, {"data": {}}, CallContext())
    assert drops == ["queue_full", "queue_full"]


def test_two_nodes_whose_modules_have_the_same_name(tmp_path):
    for name, value in (("one", 1), ("two", 2)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "SameName.py").write_text(
            f"class SameName:\n    def predict(self, X, names=None):\n        return [[{value}]]\n")
    pred = parse_predictor({"name": "p", "graph": {"name": "a", "type": "MODEL", "children": [{"name": "b"}]}})
    try:
        units = build_inprocess(pred, {"a": ClassEntry("SameName", str(tmp_path / "one"), None),
                                       "b": ClassEntry("SameName", str(tmp_path / "two"), None)}, {})
        out = {}
        for name, unit in units.items():
            unit.runtime.load()
            out[name] = InProcessNode(pred.node(name), unit).call("predict", {"data": {"ndarray": [[0]]}},
                                                                    CallContext()).value
        assert out == {"a": [[1]], "b": [[2]]}
    finally:
        sys.modules.pop("SameName", None)
