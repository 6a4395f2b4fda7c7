"""ModelRuntime.close() (and the handler's close()): the user's unload() once, at the end of a
serving process."""

from __future__ import annotations

import logging

from seldon_py.model.reflection import reflect
from seldon_py.protocol.seldon.handler import SeldonHandler
from seldon_py.runtime.runtime import ModelRuntime


class WithUnload:
    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    def predict(self, X, names):
        return X

    def unload(self) -> None:
        self.calls += 1
        if self.fail:
            raise RuntimeError("cannot release")


def test_close_calls_unload_once():
    user = WithUnload()
    runtime = ModelRuntime(reflect(user))
    assert runtime.dispatch.unload is not None
    dp = SeldonHandler(runtime)
    assert reflect(type("Plain", (), {"predict": lambda self, X: X})()).unload is None
    dp.close()
    dp.close()
    assert user.calls == 1


def test_a_failing_unload_is_logged_not_raised(caplog):
    user = WithUnload(fail=True)
    with caplog.at_level(logging.ERROR):
        ModelRuntime(reflect(user)).close()
    assert user.calls == 1 and "unload() failed: RuntimeError: cannot release" in caplog.text


def test_close_without_unload_is_a_no_op():
    ModelRuntime(reflect(type("Plain", (), {"predict": lambda self, X: X})())).close()
