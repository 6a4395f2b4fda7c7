"""SeldonHandler behaviour that is not about one transport."""

from __future__ import annotations

import pytest

from seldon_py.errors import MethodNotDefined, SeldonNotImplementedError
from seldon_py.model.reflection import reflect
from seldon_py.protocol.seldon import json_codec
from seldon_py.protocol.seldon.handler import DataPlane

ND = {"data": {"ndarray": [[1, 2]]}}


def _handler(obj):
    dp = DataPlane(reflect(obj))
    dp.load()
    return dp


@pytest.mark.parametrize("hook", ["predict_raw", "predict"])
def test_method_not_defined_raised_by_the_class_is_an_error_not_a_fallback(hook):
    class Delegating:
        def predict(self, X, names):
            if hook == "predict":
                raise MethodNotDefined("the inner node has no route")
            return X

    if hook == "predict_raw":
        def predict_raw(self, msg):
            raise MethodNotDefined("the inner node has no route")

        Delegating.predict_raw = predict_raw

    with pytest.raises(MethodNotDefined, match="inner node"):
        _handler(Delegating()).predict(ND, json_codec)


def test_seldon_not_implemented_raised_by_the_class_still_means_not_implemented():
    class Partial:
        def predict_raw(self, msg):
            raise SeldonNotImplementedError("use predict")

        def predict(self, X, names):
            return X * 2

    out = _handler(Partial()).predict(ND, json_codec)
    assert out.value.tolist() == [[2, 4]]


def test_a_class_without_route_answers_method_not_defined():
    class NoRoute:
        def predict(self, X, names):
            return X

    with pytest.raises(MethodNotDefined, match="Route not defined") as info:
        _handler(NoRoute()).route(ND, json_codec)
    assert info.value.status_code == 400 and info.value.reason == "MICROSERVICE_BAD_DATA"
