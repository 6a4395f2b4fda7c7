"""The REST worker: gunicorn's gthread worker, with kept-alive connections spread over workers.

Why: all gunicorn workers wait on the one listening socket and whichever wakes first accepts. A
keep-alive client keeps its connections for its whole life, so the worker that happened to accept
them serves all of their requests. With ``--workers 2`` and a client that opens 8 connections at
once, one worker often got all 8 and the other idled: throughput flipped between runs.

How (:class:`BalancedThreadWorker`): the workers share a small table in memory, made by the
arbiter before it forks them, where each worker publishes how many connections it holds. A worker
stops accepting while another live worker holds fewer connections than it does, and accepts again
once none does. The worker(s) holding the fewest always accept, so every new connection is taken
(it waits in the kernel's accept queue meanwhile), whatever number of idle kept-alive connections
the workers hold; connections are never handed between processes, and a worker that dies takes
nothing queued with it. A paused worker looks at the table again at least every
:data:`PAUSED_RECHECK_S`; a slot whose worker is gone (its pid no longer exists) or has not
updated it for :data:`STALE_S` does not count.

Counts are read while they change (a client's probe connection that closes at once, two workers
accepting at the same moment), so a burst can still end unevenly, and kept-alive connections
would keep it so. Hence the second rule: a worker holding :data:`SHED_AT` or more connections
above another live worker answers its next request with ``Connection: close`` (HTTP/1.1's own way
to end a connection; the client reconnects and, as this worker is not accepting, lands on one
holding fewer). That happens only while the spread is that uneven: typically a few reconnects
after a burst of new connections.

Rejected: ``SO_REUSEPORT`` with a socket per worker (the kernel hashes connections over the
sockets at random, so 8 connections on 2 workers still split 6/2 or worse more than a quarter of
the time, and a dying worker drops the connections queued on its own socket); ``EPOLLEXCLUSIVE``
(wakes one waiter instead of all, but tends to be the same one, which concentrates connections
rather than spreading them).

The worker also touches gunicorn's heartbeat file at most every ``timeout / 8`` seconds (and at
most twice a second) instead of on every turn of its loop, which was once per request.
Nothing else of gunicorn's gthread worker changes: HTTP handling, keep-alive, timeouts, graceful
stop are all gunicorn's.
"""

from __future__ import annotations

import mmap
import os
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

#: seconds between looks at the table while this worker is not accepting because of it
PAUSED_RECHECK_S = 0.05
#: a worker that has not published for this long is not counted (its loop is stuck or gone)
STALE_S = 3.0
#: a worker holding this many more connections than another closes one after its next response
SHED_AT = 2
#: slot layout: pid, connections held, last publication (monotonic ms), as int64
_FIELDS = 3


def _now_ms() -> int:
    return int(time.monotonic() * 1000)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ConnectionTable:
    """Connections held per worker, in memory shared by the arbiter and every worker it forks."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._mem = mmap.mmap(-1, slots * _FIELDS * 8)  # anonymous, MAP_SHARED: survives fork
        self.values = memoryview(self._mem).cast("q")
        #: (arbiter side) the worker object given each slot
        self.owners: dict[int, Any] = {}

    def assign(self, worker: Any) -> int | None:
        """(In the arbiter, before fork) a free slot for ``worker``, cleared; None if all are taken."""
        for slot in range(self.slots):
            pid = getattr(self.owners.get(slot), "pid", None)  # "[booting]" if its fork failed
            if not isinstance(pid, int) or not _alive(pid):
                self.owners[slot] = worker
                for i in range(slot * _FIELDS, (slot + 1) * _FIELDS):
                    self.values[i] = 0
                return slot
        return None

    def publish(self, slot: int, pid: int, conns: int) -> None:
        base = slot * _FIELDS
        v = self.values
        v[base] = pid
        v[base + 1] = conns
        v[base + 2] = _now_ms()

    def clear(self, slot: int) -> None:
        self.values[slot * _FIELDS] = 0

    def fewer_elsewhere(self, slot: int, conns: int, by: int = 1) -> bool:
        """Whether a live worker other than ``slot``'s holds at least ``by`` fewer connections
        than ``conns``."""
        v = self.values
        oldest = _now_ms() - int(STALE_S * 1000)
        most = conns - by
        for other in range(self.slots):
            base = other * _FIELDS
            pid = v[base]
            if other != slot and pid > 0 and v[base + 1] <= most and v[base + 2] >= oldest and _alive(pid):
                return True
        return False


class BalancedThreadWorker(ThreadWorker):
    """gunicorn's gthread worker that accepts only while no other worker holds fewer connections."""

    #: made in the arbiter by the first worker object, before any fork (see module docstring)
    table: ConnectionTable | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # runs in the arbiter
        cls = type(self)
        if cls.table is None:
            cls.table = ConnectionTable(max(8, 4 * self.cfg.workers))
        self.slot = cls.table.assign(self)
        self._balance_paused = False
        self._notified = 0.0
        self._notify_every = min(0.5, self.timeout / 4)  # self.timeout is half of --timeout

    # ------------------------------------------------------------ the table
    def _publish(self) -> None:
        if self.slot is not None and self.table is not None:
            if self.alive:
                self.table.publish(self.slot, int(self.pid), self.nr_conns)  # an int once booted
            else:  # stopping: it accepts no more, so others must not wait for it to
                self.table.clear(self.slot)

    def _others_hold_fewer(self, by: int = 1) -> bool:
        return self.slot is not None and self.table is not None and \
            self.table.fewer_elsewhere(self.slot, self.nr_conns, by)

    def run(self) -> None:
        self._publish()
        try:
            super().run()
        finally:
            if self.slot is not None and self.table is not None:
                self.table.clear(self.slot)

    def notify(self) -> None:
        """Called on every turn of the loop: publish our count; touch the heartbeat file less."""
        now = time.monotonic()
        if now - self._notified >= self._notify_every:
            self._notified = now
            super().notify()
        self._publish()

    # ------------------------------------------------------------ accepting
    def set_accept_enabled(self, enabled: bool | None) -> None:
        # gunicorn's loop calls this on every turn while it wants to accept and we do not
        self._balance_paused = bool(enabled) and self._others_hold_fewer()
        super().set_accept_enabled(bool(enabled) and not self._balance_paused)

    def accept(self, listener: Any) -> None:
        super().accept(listener)
        self._publish()
        if self._others_hold_fewer():
            self._balance_paused = True
            super().set_accept_enabled(False)

    def handle_request(self, req: Any, conn: Any) -> bool:
        """(In a pool thread) serve a request; if another worker holds :data:`SHED_AT` fewer
        connections, answer this one with ``Connection: close`` so its client reconnects (to a
        worker holding fewer, as this one does not accept meanwhile)."""
        if self.nr_conns >= SHED_AT and self._others_hold_fewer(SHED_AT):
            self.log.debug("Closing a connection after this response: another worker holds fewer")
            req.must_close = True
        return bool(super().handle_request(req, conn))

    def wait_for_and_dispatch_events(self, timeout: float | None) -> None:
        if self._balance_paused:
            timeout = PAUSED_RECHECK_S if timeout is None else min(timeout, PAUSED_RECHECK_S)
        super().wait_for_and_dispatch_events(timeout)
