"""The supervisor: forks the serving processes, forwards stop signals, reaps, decides the exit status.

Memory: every module the children need is imported in the supervisor before the first fork, and
the garbage collector's objects are frozen (``gc.freeze()``), so the children share those pages
copy-on-write instead of each loading its own copy (:func:`share_before_fork`).
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger("seldon_py")


@dataclass
class Child:
    name: str
    target: Callable[[], None]
    pid: int = 0


class InProcessService(Protocol):
    """A server that runs in a thread of the supervisor (the metrics endpoint)."""

    name: str
    error: BaseException | None  # set if it stopped on its own

    def start(self) -> None: ...  # raises if it cannot start

    def stop(self) -> None: ...


def share_before_fork(modules: tuple[str, ...] = ()) -> None:
    """Prepare the supervisor's memory to be shared by the children it is about to fork.

    Imports ``modules`` here, once, instead of in every child (even one that only the gRPC
    processes use: they are forked from here too), collects garbage, and freezes every object
    the garbage collector tracks (``gc.freeze()``): a collection writes to the header of each
    object it examines, which would copy the page in every child that runs a full collection.
    """
    for name in modules:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_WATCHED = {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}


def freeze_before_worker_fork(server: Any, worker: Any) -> None:
    """gunicorn ``pre_fork`` hook (in the arbiter): what the arbiter built since it was forked
    (its config, sockets, logging) is shared with the new worker like the supervisor's objects."""
    gc.freeze()


def _run_child(child: Child) -> None:
    """In the forked child: default signal dispositions, run, exit with its status."""
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    code = 0
    try:
        child.target()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        code = 0
    except BaseException as exc:  # noqa: BLE001
        logger.error("%s crashed: %s: %s", child.name, type(exc).__name__, exc, exc_info=exc)
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


class Supervisor:
    """Forks the children, forwards stop signals, reaps, and decides the exit status."""

    def __init__(self, children: list[Child], graceful_timeout: int,
                 services: list[InProcessService] | None = None) -> None:
        self.children = children
        self.grace = graceful_timeout
        self.services = list(services or [])
        self.running: list[InProcessService] = []
        self.live: dict[int, Child] = {}
        self.exit_code = 0
        self.stopping = False

    def run(self) -> int:
        signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)  # threads started below inherit the mask
        try:
            for child in self.children:
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _run_child(child)
                child.pid = pid
                self.live[pid] = child
                logger.debug("started %s (pid %d)", child.name, pid)
            self._start_services()  # threads only after the last fork
            self._loop()
        finally:
            self._stop_services()
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _WATCHED)
        return self.exit_code

    def _start_services(self) -> None:
        for service in self.services:
            try:
                service.start()
            except Exception as exc:  # noqa: BLE001 - as if a child had crashed
                logger.error("%s crashed: %s: %s", service.name, type(exc).__name__, exc)
                self.exit_code = 1
                return
            self.running.append(service)

    def _stop_services(self) -> None:
        while self.running:
            service = self.running.pop()
            try:
                service.stop()
            except Exception as exc:  # noqa: BLE001
                logger.error("stopping %s failed: %s: %s", service.name, type(exc).__name__, exc)

    def _check_services(self) -> None:
        for service in self.running:
            if service.error is not None and not self.stopping and not self.exit_code:
                logger.error("%s stopped unexpectedly (%s: %s): stopping the service", service.name,
                             type(service.error).__name__, service.error)
                self.exit_code = 1

    def _loop(self) -> None:
        deadline: float | None = None
        if self.exit_code:
            deadline = self._stop_all()
        while self.live:
            timeout = 1.0 if deadline is None else max(0.05, min(1.0, deadline - time.monotonic()))
            info = signal.sigtimedwait(_WATCHED, timeout)
            if info is not None and info.si_signo in _STOP_SIGNALS and not self.stopping:
                logger.info("Received %s: draining and stopping", signal.Signals(info.si_signo).name)
                deadline = self._stop_all()
            self._reap()
            self._check_services()
            if self.live and not self.stopping and self.exit_code:
                deadline = self._stop_all()
            if deadline is not None and time.monotonic() >= deadline and self.live:
                for pid, child in list(self.live.items()):
                    logger.error("%s (pid %d) did not stop in time: killing it", child.name, pid)
                    self._signal(pid, signal.SIGKILL)
                deadline = time.monotonic() + 5

    def _stop_all(self) -> float:
        self.stopping = True
        for pid in list(self.live):
            self._signal(pid, signal.SIGTERM)
        self._stop_services()
        return time.monotonic() + self.grace + 5

    @staticmethod
    def _signal(pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def _reap(self) -> None:
        while self.live:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.live.clear()
                return
            if pid == 0:
                return
            child = self.live.pop(pid, None)
            if child is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            if self.stopping:
                logger.info("%s stopped (exit %d)", child.name, code)
            else:
                logger.error("%s exited unexpectedly (exit %d): stopping the service", child.name, code)
                self.exit_code = 1
