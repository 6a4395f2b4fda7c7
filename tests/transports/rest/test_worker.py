"""The connection table behind :class:`seldon_py.transports.rest.worker.BalancedThreadWorker`: who counts,
who pauses, who sheds (the e2e test in tests/e2e/test_rest_e2e.py runs the real workers)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from seldon_py.settings import Settings
from seldon_py.transports.rest import worker as w
from seldon_py.transports.rest.server import gunicorn_options


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_worker_pauses_only_while_a_live_worker_holds_fewer():
    t = w.ConnectionTable(4)
    me = os.getpid()
    t.publish(0, me, 3)
    t.publish(1, me, 3)  # a live sibling (any live pid will do)
    assert not t.fewer_elsewhere(0, 3)  # a tie: both accept
    assert t.fewer_elsewhere(0, 4)  # I hold more: pause
    assert not t.fewer_elsewhere(0, 4, by=2)  # but one more is no reason to shed
    assert t.fewer_elsewhere(0, 5, by=2)
    t.publish(1, me, 0)
    assert t.fewer_elsewhere(0, 1) and not t.fewer_elsewhere(0, 0)


def test_gone_stale_and_stopped_workers_do_not_count():
    t = w.ConnectionTable(4)
    me = os.getpid()
    t.publish(0, me, 5)
    t.publish(1, dead_pid(), 0)  # died without clearing its slot (SIGKILL, OOM)
    assert not t.fewer_elsewhere(0, 5)
    t.publish(2, me, 0)
    t.values[2 * 3 + 2] -= int(w.STALE_S * 1000) + 1000  # has not published for too long
    assert not t.fewer_elsewhere(0, 5)
    t.publish(3, me, 0)
    assert t.fewer_elsewhere(0, 5)
    t.clear(3)  # a stopping worker withdraws
    assert not t.fewer_elsewhere(0, 5)


def test_slots_are_reused_once_their_worker_is_gone():
    t = w.ConnectionTable(2)
    a, b = SimpleNamespace(pid="[booting]"), SimpleNamespace(pid="[booting]")
    assert t.assign(a) == 0
    a.pid = os.getpid()  # the arbiter sets it after fork
    assert t.assign(b) == 1
    b.pid = os.getpid()
    assert t.assign(SimpleNamespace(pid=None)) is None  # all taken: that worker just does not balance
    t.publish(1, os.getpid(), 7)
    b.pid = dead_pid()
    assert t.assign(SimpleNamespace(pid=None)) == 1
    assert list(t.values[3:6]) == [0, 0, 0]  # the dead worker's numbers are gone with it


def test_the_table_is_shared_with_forked_workers():
    t = w.ConnectionTable(2)
    pid = os.fork()
    if pid == 0:  # the "worker"
        t.publish(1, os.getpid(), 9)
        os._exit(0)
    os.waitpid(pid, 0)
    assert t.values[3] == pid and t.values[4] == 9


def test_gunicorn_runs_the_balanced_worker():
    opts = gunicorn_options(Settings("M"))
    assert opts["worker_class"] == "seldon_py.transports.rest.worker.ServingWorker"
    from gunicorn.util import load_class

    assert load_class(opts["worker_class"]) is w.ServingWorker


def test_io_timeouts_bound_blocking_reads_and_writes_in_the_kernel():
    import socket

    from seldon_py.transports.rest.worker import set_io_timeouts

    a, b = socket.socketpair()
    try:
        assert set_io_timeouts(a, 0.2)
        assert a.gettimeout() is None  # still a plain blocking socket for gunicorn
        with pytest.raises(BlockingIOError):
            a.recv(10)  # nothing comes: returns after 0.2 s instead of never
        with pytest.raises(BlockingIOError):
            while True:  # the peer never reads: the send buffer fills, then the write gives up
                a.send(b"x" * 65536)
    finally:
        a.close()
        b.close()


def _pair() -> tuple[Any, Any]:
    import socket

    a, b = socket.socketpair()
    return w.ClientSocket.adopt(a), b


def _pending(sock: Any) -> bytes:
    import socket

    try:
        return bytes(sock.recv(65536, socket.MSG_DONTWAIT))
    except BlockingIOError:
        return b""


def test_a_held_head_goes_out_with_the_body():
    ours, peer = _pair()
    with ours, peer:
        ours.hold_first_send()
        ours.sendall(b"HEAD\r\n\r\n")
        assert _pending(peer) == b""  # held back
        ours.sendall(b"body")
        assert _pending(peer) == b"HEAD\r\n\r\nbody"
        ours.sendall(b"more")  # holding is over
        assert _pending(peer) == b"more"


def test_a_held_head_without_a_body_is_sent_by_flush_and_dropped_by_drop():
    ours, peer = _pair()
    with ours, peer:
        ours.hold_first_send()
        ours.sendall(b"HEAD ONLY")
        ours.flush_held()
        assert _pending(peer) == b"HEAD ONLY"
        ours.flush_held()  # nothing held: nothing sent
        ours.hold_first_send()
        ours.sendall(b"ABANDONED")
        ours.drop_held()
        ours.sendall(b"next")
        assert _pending(peer) == b"next"


def test_a_large_body_is_not_copied_behind_the_head():
    ours, peer = _pair()
    big = b"x" * (w.COALESCE_MAX_BYTES + 1)
    got = bytearray()
    with ours, peer:
        ours.hold_first_send()
        ours.sendall(b"H")
        sender = threading.Thread(target=ours.sendall, args=(big,))
        sender.start()
        while len(got) < len(big) + 1:
            got += peer.recv(1 << 20)
        sender.join()
    assert got[:1] == b"H" and len(got) == len(big) + 1


def test_the_mode_is_switched_only_when_it_changes():
    ours, peer = _pair()
    with ours, peer:
        assert ours.gettimeout() is None
        ours.setblocking(True)
        ours.settimeout(None)
        assert ours.gettimeout() is None
        ours.setblocking(False)
        assert ours.gettimeout() == 0.0
        with pytest.raises(BlockingIOError):
            ours.recv(1)
        ours.settimeout(0.5)
        assert ours.gettimeout() == 0.5
        ours.setblocking(True)
        assert ours.gettimeout() is None


def test_a_paused_worker_looks_at_the_table_only_when_due(monkeypatch):
    """gunicorn asks a paused worker to accept on every turn of its loop (twice per request); it
    looks at the table (a system call per live worker) only every PAUSED_RECHECK_S, or at once
    when it holds fewer connections than when it paused."""
    wk = object.__new__(w.BalancedThreadWorker)
    looks: list[int] = []
    fewer = [True]
    wk._others_hold_fewer = lambda by=1: looks.append(by) or fewer[0]  # type: ignore[method-assign]
    accepting: list[bool] = []
    monkeypatch.setattr(w.ThreadWorker, "set_accept_enabled", lambda self, enabled: accepting.append(enabled))
    wk.nr_conns, wk._balance_paused, wk._recheck_at, wk._paused_holding = 3, False, 0.0, 0

    wk.set_accept_enabled(True)
    assert (len(looks), accepting, wk._balance_paused) == (1, [False], True)
    for _ in range(20):  # turns of the loop right after
        wk.set_accept_enabled(True)
    assert len(looks) == 1
    wk.nr_conns = 2  # one of its connections closed: it looks at once
    wk.set_accept_enabled(True)
    assert len(looks) == 2 and wk._balance_paused
    wk._recheck_at = 0.0  # PAUSED_RECHECK_S later
    fewer[0] = False
    wk.set_accept_enabled(True)
    assert len(looks) == 3 and accepting[-1] is True and not wk._balance_paused
    wk.set_accept_enabled(False)  # full, or stopping: no look needed
    assert len(looks) == 3 and accepting[-1] is False
