"""seldon_py.util.signals: a second signal during the first one's handler."""

from __future__ import annotations

import signal
import threading

from seldon_py.util.signals import event_setter


def test_a_signal_arriving_inside_the_first_handlers_set_returns_at_once():
    calls = []

    class SecondSignalMidSet(threading.Event):
        def set(self) -> None:
            calls.append("set")
            if len(calls) == 1:
                handler(signal.SIGTERM, None)  # the second SIGTERM lands while the lock is held
            super().set()

    stop = SecondSignalMidSet()
    handler = event_setter(stop)
    handler(signal.SIGTERM, None)
    assert stop.is_set()
    assert calls == ["set"]
