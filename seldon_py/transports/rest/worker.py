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
nothing queued with it. A paused worker looks at the table again every :data:`PAUSED_RECHECK_S`,
and at once when it holds fewer connections than when it paused (not on every turn of its loop:
that cost a system call per look, two per request); a slot whose worker is gone (its pid no longer exists) or has not
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

import ctypes
import errno
import json
import mmap
import os
import selectors
import socket
import ssl
import struct
import time
from collections import deque
from functools import partial
from typing import Any

from gunicorn import util
from gunicorn.arbiter import Arbiter
from gunicorn.workers import gthread
from gunicorn.workers.gthread import TConn, ThreadWorker

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
        self._recheck_at = 0.0  # paused: when to look at the table again
        self._paused_holding = 0  # paused: the connections held then
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
        if enabled and self._balance_paused and self.nr_conns >= self._paused_holding \
                and time.monotonic() < self._recheck_at:
            return  # paused a moment ago, holding as many: stay paused until the next look
        if enabled and self._others_hold_fewer():
            self._pause_accepting()
            return
        self._balance_paused = False
        super().set_accept_enabled(bool(enabled))

    def _pause_accepting(self) -> None:
        self._balance_paused = True
        self._recheck_at = time.monotonic() + PAUSED_RECHECK_S
        self._paused_holding = self.nr_conns
        ThreadWorker.set_accept_enabled(self, False)

    def accept(self, listener: Any) -> None:
        super().accept(listener)
        self._publish()
        if self._others_hold_fewer():
            self._pause_accepting()

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


# ====================================================================== reading requests
#: a request's head (request line and headers) must have arrived this many seconds after its
#: first byte, or after the connection was accepted; else 408 (or a silent close if nothing came)
HEAD_TIMEOUT_S = 10.0
#: the largest head accepted (gunicorn's own limits: a 1 MiB request line, 100 fields of 8 KiB)
HEAD_MAX_BYTES = 2 << 20
#: a body up to this size is read by the event loop together with the head (larger bodies are
#: read by the pool thread, each read bounded by :data:`BODY_READ_TIMEOUT_S`)
PREREAD_BODY_BYTES = 64 << 10
#: bytes asked for per read in the loop (below glibc's mmap threshold: no mmap per read)
RECV_BYTES = 64 << 10
#: a pool thread waits at most this long for each read of a request body
BODY_READ_TIMEOUT_S = 10.0
#: closing after an error: the loop discards what the client still sends for this long / this much,
#: so the kernel does not reset the connection before the client has read the answer
LINGER_S = 2.0
LINGER_BYTES = 1 << 20

_HEAD_END = b"\r\n\r\n"


def error_response_bytes(status: int, phrase: str, message: str, reason: str) -> bytes:
    """A complete HTTP/1.1 response carrying the Seldon JSON error body, closing the connection."""
    body = json.dumps({"status": {"status": 1, "info": message, "code": -1, "reason": reason}},
                      sort_keys=True, separators=(",", ":")).encode() + b"\n"  # the app's wire form
    return (f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode("latin-1") + body


def _content_length(lower: bytes) -> int | None:
    """The Content-Length of a complete head (``lower``: lowercased) when it has exactly one
    well-formed one and no Transfer-Encoding; else None (gunicorn's parser then decides, and
    answers errors)."""
    if b"\ntransfer-encoding:" in lower:
        return None
    found: int | None = None
    start = 0
    while True:
        i = lower.find(b"\ncontent-length:", start)
        if i < 0:
            return found
        if found is not None:
            return None
        end = lower.find(b"\r\n", i + 1)
        value = lower[i + 16:end].strip()
        if not value.isdigit() or len(value) > 18:
            return None
        found = int(value)
        start = end


def _request_line_ok(line: bytes | bytearray) -> bool:
    """Whether a request line could be valid HTTP/1.x (else gunicorn's parser answers it at once)."""
    return line.rstrip().endswith((b" HTTP/1.1", b" HTTP/1.0")) or not line.strip()


class _Reading:
    """A connection whose request head (and small body) the event loop is reading."""

    __slots__ = ("conn", "buf", "deadline", "need", "watched")

    def __init__(self, conn: Any, buf: bytes, deadline: float) -> None:
        self.conn = conn
        self.buf = bytearray(buf)
        self.deadline = deadline
        #: registered with the loop's poller (and in its deadline queue)
        self.watched = False
        #: total bytes wanted before hand-over, once the head is known (head + small body)
        self.need = 0


class _Lingering:
    """A connection being closed: the answer is sent, the rest of the request is discarded."""

    __slots__ = ("sock", "deadline", "left")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.left = LINGER_BYTES


class ServingWorker(BalancedThreadWorker):
    """:class:`BalancedThreadWorker` whose event loop reads requests before a thread is given one.

    gunicorn's gthread worker hands a connection to a pool thread as soon as it has a byte to
    read; the thread then reads the head with blocking reads. A client sending its headers a byte
    a second holds that thread for as long as it likes, and ``--threads`` such clients stop the
    worker answering anyone, health probes included. Here the worker's event loop reads each
    request's head (and a body up to :data:`PREREAD_BODY_BYTES`) with non-blocking reads, and a
    pool thread gets the connection only once all of that is in memory, so a thread is never
    idle-waiting on a head. Limits, all answered from the loop with the Seldon JSON error body:

    * the head must be complete :data:`HEAD_TIMEOUT_S` after the connection was accepted, or
      after the first byte of a kept-alive connection's next request (408; a connection that sent
      nothing is just closed);
    * a head larger than :data:`HEAD_MAX_BYTES` → 431;
    * a ``Content-Length`` larger than ``--max-payload-size`` → 413 before any of the body is read;
      a chunked body is stopped by the app as soon as it passes the limit (413).

    Larger bodies are read by the pool thread, each read bounded by :data:`BODY_READ_TIMEOUT_S`
    (408), as is each write of the answer (:func:`set_io_timeouts`). Connections closed after an
    error are closed lingering, from the loop (never blocking it).

    Every error gunicorn answers itself (bad request line, bad headers, ``Expect``, limits) is
    answered with the Seldon JSON error body too (:meth:`handle_error`).

    Each connection's socket is a :class:`ClientSocket`: an answer's head goes out in the same
    send as its body, and the socket is never switched between blocking and non-blocking per
    request (the loop reads it with ``MSG_DONTWAIT``).

    Stopping (:class:`DrainingArbiter` does the listener's part): connections the kernel has
    already accepted when the worker is told to stop are accepted and answered (with
    ``Connection: close``), not reset.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_payload_bytes: int | None = getattr(self.app, "max_payload_bytes", None)
        self._reading: deque[_Reading] = deque()
        self._lingering: deque[_Lingering] = deque()

    def init_process(self) -> None:
        """(In the forked worker, before its threads start) fewer malloc arenas: see
        :mod:`seldon_py.util.malloc`."""
        from ...util.malloc import limit_arenas

        limit_arenas()
        super().init_process()

    # ------------------------------------------------------------ the WSGI app
    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = _chunked_errors_are_client_errors(self.wsgi)

    # ------------------------------------------------------------ accepting and reading
    def accept(self, listener: Any) -> None:
        try:
            sock, addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self._adopt(sock, addr, listener)
        self._publish()
        if self._others_hold_fewer():
            self._pause_accepting()

    def _adopt(self, sock: socket.socket, addr: Any, listener: Any) -> None:
        """A freshly accepted connection: read its first request in the loop."""
        self.nr_conns += 1
        sock = ClientSocket.adopt(sock)
        set_io_timeouts(sock, BODY_READ_TIMEOUT_S)
        self._start_reading(TConn(self.cfg, sock, addr, listener.getsockname()), b"")

    def on_client_socket_readable(self, conn: Any, client: Any) -> None:
        """A kept-alive connection has its next request coming: read it in the loop."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start_reading(conn, conn.parser.unreader.take_buffered() if conn.parser else b"", readable=True)

    def _start_reading(self, conn: Any, buf: bytes, readable: bool = False) -> None:
        """Read ``conn``'s next request in the loop; ``readable``: the socket is known to have
        data, so it is read at once (saves a turn of the loop for a kept-alive connection)."""
        state = _Reading(conn, buf, time.monotonic() + HEAD_TIMEOUT_S)
        if readable:
            if self._read(state):
                return
        elif buf and self._settled(state):
            return
        self._reading.append(state)
        state.watched = True
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, state))

    def _on_readable(self, state: _Reading, _sock: Any) -> None:
        self._read(state)

    def _read(self, state: _Reading) -> bool:
        """One non-blocking read; True when ``state`` is settled (handed over, refused or dropped)."""
        try:
            data = state.conn.sock.recv(RECV_BYTES, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            data = b""
        if not data:  # the client went away
            self._stop_reading(state)
            self._drop(state.conn)
            return True
        state.buf += data
        return self._settled(state)

    def _settled(self, state: _Reading) -> bool:
        """Hand ``state`` over or refuse it if its buffer allows; True if it did either (the
        connection is no longer watched by the loop then)."""
        try:
            done = self._complete(state)
        except _Refused as refused:
            self._stop_reading(state)
            self._refuse(state.conn, refused.response)
            return True
        if done:
            self._stop_reading(state)
            self._hand_over(state)
        return done

    def _complete(self, state: _Reading) -> bool:
        """Whether ``state`` holds enough to hand over; raises :class:`_Refused` to answer an error."""
        buf = state.buf
        if state.need:
            return len(buf) >= state.need
        end = buf.find(_HEAD_END)
        if end < 0:
            if b"\n\n" in buf:
                return True  # bare-LF head: complete; gunicorn's parser decides on it
            first = buf.find(b"\n")
            if first >= 0 and not _request_line_ok(buf[:first]):
                raise _Refused(error_response_bytes(
                    400, "Bad Request", "malformed request line (expected: METHOD /path HTTP/1.1)",
                    "MICROSERVICE_BAD_DATA"))
            if len(buf) > HEAD_MAX_BYTES:
                raise _Refused(error_response_bytes(
                    431, "Request Header Fields Too Large",
                    f"the request line and headers are larger than {HEAD_MAX_BYTES} bytes",
                    "MICROSERVICE_BAD_DATA"))
            return False
        head_len = end + len(_HEAD_END)
        head = bytes(buf[:head_len]).lower()
        length = _content_length(head)
        limit = self.max_payload_bytes
        if length is not None and limit is not None and length > limit:
            raise _Refused(error_response_bytes(
                413, "Payload Too Large",
                f"Request body is larger than the limit of {limit} bytes (Content-Length {length};"
                " set --max-payload-size / SELDON_MAX_PAYLOAD_SIZE)",
                "MICROSERVICE_PAYLOAD_TOO_LARGE"))
        if length is None or length > PREREAD_BODY_BYTES or b"\nexpect:" in head:
            return True  # chunked or large bodies are read by the pool thread
        state.need = head_len + length
        return len(buf) >= state.need

    def _stop_reading(self, state: _Reading) -> None:
        """The loop stops watching ``state`` (before its socket is handed over or closed)."""
        if not state.watched:
            return
        state.watched = False
        try:
            self.poller.unregister(state.conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        try:
            self._reading.remove(state)
        except ValueError:
            pass

    def _hand_over(self, state: _Reading) -> None:
        conn = state.conn
        conn.init()  # builds the parser (plain HTTP/1.x: reads nothing)
        conn.parser.unreader.unread(bytes(state.buf))
        state.buf = bytearray()
        conn.data_ready = True
        self.enqueue_req(conn)

    def _drop(self, conn: Any) -> None:
        self.nr_conns -= 1
        conn.close()

    def _refuse(self, conn: Any, response: bytes) -> None:
        """Answer an error from the loop and close lingering."""
        try:
            conn.sock.send(response, socket.MSG_DONTWAIT)  # a fresh socket's buffer takes it whole
        except OSError:
            pass
        self.nr_conns -= 1
        self._linger(conn.sock)

    def _linger(self, sock: socket.socket) -> None:
        try:
            sock.setblocking(False)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            util.close(sock)
            return
        state = _Lingering(sock, time.monotonic() + LINGER_S)
        self._lingering.append(state)
        self.poller.register(sock, selectors.EVENT_READ, partial(self._on_lingering, state))

    def _on_lingering(self, state: _Lingering, _sock: Any) -> None:
        try:
            data = state.sock.recv(64 << 10)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        state.left -= len(data)
        if not data or state.left <= 0:
            self._end_linger(state)

    def _end_linger(self, state: _Lingering) -> None:
        try:
            self.poller.unregister(state.sock)
        except (KeyError, ValueError, OSError):
            pass
        try:
            self._lingering.remove(state)
        except ValueError:
            pass
        util.close(state.sock)

    def murder_pending(self) -> None:
        """(Every turn of the loop) also: time out heads and lingering closes."""
        super().murder_pending()
        now = time.monotonic()
        while self._reading and self._reading[0].deadline <= now:
            state = self._reading[0]
            self._stop_reading(state)
            if state.buf.strip():
                self._refuse(state.conn, error_response_bytes(
                    408, "Request Timeout",
                    f"the request was not received within {HEAD_TIMEOUT_S:g} s", "MICROSERVICE_BAD_DATA"))
            else:
                self._drop(state.conn)
        while self._lingering and self._lingering[0].deadline <= now:
            self._end_linger(self._lingering[0])

    def wait_for_and_dispatch_events(self, timeout: float | None) -> None:
        if self._reading or self._lingering:
            timeout = 0.5 if timeout is None else min(timeout, 0.5)
        super().wait_for_and_dispatch_events(timeout)

    def finish_request(self, conn: Any, fs: Any) -> None:
        """As gunicorn's, but: a pipelined next request is read by the loop too, and a connection
        to close is closed lingering from the loop (gunicorn's graceful close blocks the loop for
        up to 2 s)."""
        try:
            result = fs.result() if not fs.cancelled() else False
        except Exception:  # noqa: BLE001 - as gunicorn: close it
            result = False
        if result:
            ahead = conn.parser.unreader.take_buffered()
            if ahead:
                self._start_reading(conn, ahead)
            else:
                self._keep_alive(conn)
            return
        self.nr_conns -= 1
        self._linger(conn.sock)

    def _keep_alive(self, conn: Any) -> None:
        """Wait for the connection's next request in the loop, as gunicorn's ``finish_request``
        does, but leave the socket in blocking mode (:class:`ClientSocket`)."""
        conn.set_timeout()
        if not self.alive:  # stopping: a request that comes meanwhile is answered, then closed
            linger = gthread.STOP_KEEPALIVE_LINGER  # type: ignore[attr-defined]  # not in the stubs yet
            conn.timeout = min(conn.timeout, time.monotonic() + linger)
        self.keepalived_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn))

    def handle_request(self, req: Any, conn: Any) -> bool:
        """(In a pool thread) as gunicorn's, with the answer's head and body sent together
        (:meth:`ClientSocket.hold_first_send`)."""
        sock = conn.sock
        sock.hold_first_send()
        try:
            keep = super().handle_request(req, conn)
        except BaseException:
            sock.drop_held()  # what was held belongs to an answer that will not be completed
            raise
        sock.flush_held()
        return keep

    def _keepalive_after(self, conn: Any, keepalive: bool) -> bool:
        """Keep the connection only if what the app left of the body is small: a refused body
        (413 on a chunked upload) is not read on; the connection is closed lingering instead.
        A body the app read to its end needs nothing (gunicorn's drain would still switch the
        socket's timeout twice)."""
        if not keepalive:
            return False
        body = getattr(conn.parser.mesg, "body", None)
        if body is not None and not getattr(body, "failed", True) and getattr(body.reader, "length", None) == 0 \
                and not body.buf.tell():
            return True
        return bool(conn.parser.finish_body(deadline=time.monotonic() + 1.0, max_bytes=PREREAD_BODY_BYTES))

    # ------------------------------------------------------------ stopping
    def set_accept_enabled(self, enabled: bool | None) -> None:
        if not enabled and not self.alive:
            self._accept_queued()
        super().set_accept_enabled(enabled)

    def _accept_queued(self) -> None:
        """(Stopping) take the connections the kernel has already accepted for our listeners and
        answer them (with ``Connection: close``): closing the listener would reset them. When the
        whole server stops, :class:`DrainingArbiter` has made the listeners ignore new connection
        attempts first, so this queue only shrinks."""
        for listener in self.sockets:
            try:
                listener.setblocking(False)
            except OSError:
                continue
            while True:
                try:
                    sock, addr = listener.accept()
                except OSError:
                    break
                self._adopt(sock, addr, listener)

    # ------------------------------------------------------------ errors
    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """Errors gunicorn answers itself, as the Seldon JSON error body (never HTML, and a
        client's fault never as 500)."""
        status, phrase, message, reason = _gunicorn_error(exc)
        if status >= 500:
            self.log.exception("Error handling request")
        else:
            self.log.info("Invalid request from %s: %s", (addr or ("",))[0], message)
        try:
            util.write_nonblock(client, error_response_bytes(status, phrase, message, reason))
        except Exception:  # noqa: BLE001 - the client is gone
            self.log.debug("Failed to send error message.")


def set_io_timeouts(sock: socket.socket, seconds: float) -> bool:
    """Bound every blocking read and write on ``sock`` to ``seconds`` without progress, in the
    kernel (``SO_RCVTIMEO``/``SO_SNDTIMEO``), once per connection: a pool thread reading a body
    the loop did not read, or writing an answer, waits at most that long (a stalled body → 408).
    A read or write that times out raises :class:`BlockingIOError`. Python's own ``settimeout``
    per request did the same at the cost of a ``poll`` before every read and write and two more
    mode switches per request (~20% of the small-request rate). Returns whether the kernel took it."""
    whole = int(seconds)
    timeval = struct.pack("ll", whole, int((seconds - whole) * 1_000_000))
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
    except OSError:
        return False
    return True


#: an answer's head is sent together with its body when the body is at most this large (larger:
#: two sends, rather than copying the body once more)
COALESCE_MAX_BYTES = 256 << 10


class ClientSocket(socket.socket):
    """A client connection's socket, as the worker uses it.

    * It stays in blocking mode for good: the event loop reads it with ``MSG_DONTWAIT`` (the
      poller does not care about the mode), and :meth:`setblocking` only makes the system call
      when the mode actually changes. gunicorn switches the mode twice per kept-alive request
      (non-blocking for its poller, blocking for the thread) and its parser sets the timeout it
      already has once more: three ``ioctl`` calls for nothing. :meth:`settimeout` likewise.
    * :meth:`hold_first_send` keeps the next :meth:`sendall` (gunicorn's response head) back, to go
      out with the next one (the body) in a single send, or at :meth:`flush_held`. gunicorn sends
      the head and the body of every answer separately: two TCP segments, two wake-ups of the
      client, for a small answer about 10% of the whole request's cost.
    """

    __slots__ = ("_holding", "_held")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._holding = False
        self._held = b""

    @classmethod
    def adopt(cls, sock: socket.socket) -> ClientSocket:
        """The same connection (``sock`` is detached, not closed) as a :class:`ClientSocket`."""
        return cls(sock.family, sock.type, sock.proto, fileno=sock.detach())

    def setblocking(self, flag: bool) -> None:
        if self.gettimeout() != (None if flag else 0.0):
            super().setblocking(flag)

    def settimeout(self, value: float | None) -> None:
        if self.gettimeout() != value:
            super().settimeout(value)

    def hold_first_send(self) -> None:
        self._holding = True

    def sendall(self, data: Any, flags: int = 0) -> None:
        if self._holding:
            self._holding = False
            self._held = bytes(data)
            return
        held = self._held
        if held:
            self._held = b""
            if len(data) <= COALESCE_MAX_BYTES:
                data = held + data
            else:
                super().sendall(held)
        super().sendall(data, flags)

    def flush_held(self) -> None:
        """Send what :meth:`hold_first_send` kept back, if it is still held; stop holding."""
        self._holding = False
        held = self._held
        if held:
            self._held = b""
            super().sendall(held)

    def drop_held(self) -> None:
        self._holding = False
        self._held = b""


def body_timeout() -> Exception:
    """The error for a request body that stopped arriving (408, JSON like every other)."""
    from ...errors import SeldonMicroserviceException

    return SeldonMicroserviceException(
        f"the request body stopped arriving (nothing for {BODY_READ_TIMEOUT_S:g} s)", status_code=408)


def _chunked_errors_are_client_errors(app: Any) -> Any:
    """The WSGI app, where a malformed chunked body (found while the app reads it) is answered
    400 like any other malformed request, not 500."""

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        if "HTTP_TRANSFER_ENCODING" in environ:
            environ["wsgi.input"] = _ChunkedInput(environ["wsgi.input"])
        return app(environ, start_response)

    return wsgi


class _ChunkedInput:
    """``wsgi.input`` of a chunked request: gunicorn's parse errors become a 400."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def _call(self, name: str, *args: Any) -> Any:
        from gunicorn.http.errors import ParseException

        from ...errors import BadRequest

        try:
            return getattr(self._raw, name)(*args)
        except ParseException as exc:
            raise BadRequest(f"malformed chunked request body: {type(exc).__name__}: {exc}") from None
        except (TimeoutError, BlockingIOError):  # BlockingIOError: the kernel's SO_RCVTIMEO
            raise body_timeout() from None
        except OSError as exc:  # gunicorn's NoMoreData: the client stopped mid-body
            raise BadRequest(f"the chunked request body ended early: {exc}") from None

    def read(self, *args: Any) -> Any:
        return self._call("read", *args)

    def readline(self, *args: Any) -> Any:
        return self._call("readline", *args)

    def readlines(self, *args: Any) -> Any:
        return self._call("readlines", *args)

    def __iter__(self) -> Any:
        return iter(self.readline, b"")


class _Refused(Exception):
    def __init__(self, response: bytes) -> None:
        super().__init__()
        self.response = response


def _gunicorn_error(exc: BaseException) -> tuple[int, str, str, str]:
    """(status, phrase, message, reason) for an error raised by gunicorn's request parser."""
    from gunicorn.http import errors as e

    bad = "MICROSERVICE_BAD_DATA"
    text = str(exc) or type(exc).__name__
    response_errors = tuple(getattr(e, name) for name in ("InvalidResponseHeader", "InvalidResponseHeaderName")
                            if hasattr(e, name))  # gunicorn >= 23
    if response_errors and isinstance(exc, response_errors):
        return 500, "Internal Server Error", f"invalid response header: {text}", "MICROSERVICE_INTERNAL_ERROR"
    if isinstance(exc, e.LimitRequestLine):
        return 414, "URI Too Long", f"request line too long: {text}", bad
    if isinstance(exc, e.LimitRequestHeaders):
        return 431, "Request Header Fields Too Large", f"too many or too large headers: {text}", bad
    if isinstance(exc, e.ExpectationFailed):
        return 417, "Expectation Failed", f"unsupported Expect header: {text}", bad
    if isinstance(exc, e.UnsupportedTransferCoding):
        return 501, "Not Implemented", f"unsupported Transfer-Encoding: {text}", bad
    if isinstance(exc, e.ForbiddenProxyRequest):
        return 403, "Forbidden", "request forbidden", bad
    if isinstance(exc, e.ConfigurationProblem):
        return 500, "Internal Server Error", text, "MICROSERVICE_INTERNAL_ERROR"
    if isinstance(exc, (e.ParseException, ssl.SSLError, ValueError, UnicodeError)):
        return 400, "Bad Request", f"malformed request: {type(exc).__name__}: {text}", bad
    return 500, "Internal Server Error", "internal error while reading the request", "MICROSERVICE_INTERNAL_ERROR"




# ====================================================================== stopping the server
#: classic BPF: one instruction, "return 0" (keep no byte of any packet)
_DROP_ALL = struct.pack("HBBI", 0x06, 0, 0, 0)  # BPF_RET | BPF_K, k = 0


def refuse_new_connections(listener: socket.socket) -> bool:
    """Make a listening TCP socket drop every incoming connection attempt (SYN) from now on,
    while the connections already in its accept queue stay there to be accepted.

    Closing a listener resets every connection the kernel has accepted but the server has not;
    with this filter attached first, the queue can be emptied before the close, and a client
    that tries to connect meanwhile sees its SYN go unanswered (it retries, then is refused once
    the socket is closed) instead of being accepted and reset. Linux only; False if not applied."""
    if os.uname().sysname != "Linux":
        return False
    program = ctypes.create_string_buffer(_DROP_ALL)
    fprog = struct.pack("HL", 1, ctypes.addressof(program))
    try:
        listener.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_ATTACH_FILTER", 26), fprog)
    except OSError:
        return False
    return True


class DrainingArbiter(Arbiter):
    """gunicorn's arbiter; stopping, it first makes the listeners refuse new connections
    (:func:`refuse_new_connections`), so the workers can answer every connection already queued
    (:meth:`ServingWorker._accept_queued`) before the last copy of the listener is closed."""

    def stop(self, graceful: bool = True) -> None:
        if graceful:
            for listener in self.LISTENERS:
                sock = getattr(listener, "sock", None)
                if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                    refuse_new_connections(sock)
        super().stop(graceful)
