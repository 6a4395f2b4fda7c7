"""The multiprocess directory: where every serving process writes its metric values.

prometheus_client's multiprocess mode keeps each process's values in memory-mapped files
``<type>_<pid>.db`` inside ``$PROMETHEUS_MULTIPROC_DIR``; the metrics server merges all of them at
scrape time. This module owns that directory's life:

* :meth:`MultiprocessDir.create` (in the supervisor, before any fork) makes a fresh private
  directory and removes directories left behind by instances that were killed. Its path is
  handed down explicitly (the composition root gives it to each serving process's
  :class:`~.recorder.ServiceMetrics`, to the metrics server and to the gunicorn hook); nothing
  is exported through ``os.environ`` and prometheus_client's global value class is left alone;
* :func:`process_exited` (called only by the gunicorn arbiter's ``child_exit`` hook, i.e. for
  REST workers) folds the dead worker's counters and histograms into ``<type>_archive.db`` and
  drops its live gauges, so values survive REST worker recycling (``--max-requests``) while the
  number of files (and the scrape cost) stays bounded. gRPC processes are not folded: they are
  reaped by the supervisor, and any of them exiting stops the whole service, so their files live
  and die with the directory;
* :func:`collect_lock` is held (shared) while a scrape reads the files and (exclusive) while a
  dead process's files are folded, so a scrape never counts a value twice or not at all.

No prometheus_client import at module level (only :func:`_fold` reads its file format).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator

logger = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "seldon-py-metrics-"
_CREATING = ".creating-" + PREFIX
_OWNER = ".owner"  # flock'ed (exclusive) for the life of the instance that owns the directory
_LOCK = ".lock"  # shared while scraping, exclusive while folding a dead process's files
ARCHIVE = "archive"  # the "pid" part of the file names that hold dead processes' values


class MultiprocessDir:
    """A private ``PROMETHEUS_MULTIPROC_DIR`` for one service instance."""

    def __init__(self, path: str, owner_fd: int) -> None:
        self.path = path
        self._owner_fd = owner_fd
        self._creator = os.getpid()

    @classmethod
    def create(cls, base: str | None = None) -> MultiprocessDir:
        """Make the directory (and only that: the environment is not touched).

        It is created inside ``base``, else inside a ``PROMETHEUS_MULTIPROC_DIR`` the operator set
        (treated as a parent directory), else in ``$TMPDIR``.
        """
        parent = base or os.environ.get(ENV) or tempfile.gettempdir()
        os.makedirs(parent, exist_ok=True)
        remove_stale(parent)
        staging = tempfile.mkdtemp(prefix=_CREATING, dir=parent)
        fd = os.open(os.path.join(staging, _OWNER), os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"{os.getpid()}\n".encode())
        path = os.path.join(parent, PREFIX + os.path.basename(staging)[len(_CREATING):])
        os.rename(staging, path)  # visible to remove_stale only once it is locked
        logger.debug("metrics directory %s", path)
        return cls(path, fd)

    def remove(self) -> None:
        """Delete the directory (only in the process that created it)."""
        if os.getpid() != self._creator:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        try:
            os.close(self._owner_fd)
        except OSError:
            pass


def remove_stale(parent: str) -> None:
    """Delete ``seldon-py-metrics-*`` directories whose owner is gone (its flock is free)."""
    for path in glob.glob(os.path.join(parent, PREFIX + "*")):
        try:
            fd = os.open(os.path.join(path, _OWNER), os.O_RDWR)
        except OSError:
            continue  # not ours, or already gone
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # alive
        logger.info("removing metrics directory %s left by a stopped instance", path)
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)


@contextlib.contextmanager
def collect_lock(path: str, exclusive: bool = False) -> Iterator[None]:
    fd = os.open(os.path.join(path, _LOCK), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def files_of(pid: int, path: str) -> list[str]:
    """The value files written by process ``pid`` (prometheus_client's and ours)."""
    return glob.glob(os.path.join(path, f"*_{pid}.db")) + glob.glob(
        os.path.join(path, f"*_{pid}.req.db")
    )


def process_exited(pid: int, path: str | None) -> None:
    """Fold the files of a serving process that has exited (and been reaped) into the archive.

    Counters, histograms and summaries are added to ``<type>_archive.db``; ``max``/``min``/
    ``mostrecent``/``sum`` gauges are merged by their rule; ``live*`` gauges (in-flight requests)
    are dropped; per-process ``all`` gauges are left alone, as prometheus_client documents.
    Never raises: metrics must not take the server down.
    """
    if not path or not os.path.isdir(path):
        return
    try:
        files = files_of(pid, path)
        if not files:
            return
        with collect_lock(path, exclusive=True):
            for name in files:
                _fold(name, path)
    except Exception as exc:  # noqa: BLE001
        logger.error("could not fold the metrics of exited process %d: %s: %s", pid,
                     type(exc).__name__, exc)


def _fold(filename: str, path: str) -> None:
    from prometheus_client.mmap_dict import MmapedDict

    parts = os.path.basename(filename).split("_")
    typ = parts[0]
    mode = ""
    if typ == "gauge":
        mode = parts[1]
        if mode.startswith("live"):
            os.remove(filename)
            return
        if mode == "all":
            return
        target = f"gauge_{mode}_{ARCHIVE}.db"
    else:
        target = f"{typ}_{ARCHIVE}.db"
    entries = list(MmapedDict.read_all_values_from_file(filename))
    archive = MmapedDict(os.path.join(path, target))
    try:
        known = {key for key, _, _ in archive.read_all_values()}
        for key, value, timestamp, _ in entries:
            old, old_ts = archive.read_value(key)
            new, new_ts = old + value, 0.0
            if mode == "mostrecent":
                new, new_ts = (value, timestamp) if key not in known or timestamp > old_ts else (old, old_ts)
            elif mode == "max":
                new = value if key not in known else max(old, value)
            elif mode == "min":
                new = value if key not in known else min(old, value)
            archive.write_value(key, new, new_ts)
    finally:
        archive.close()
    os.remove(filename)
