"""Process metrics of the whole microservice: the supervisor and every process below it.

The usual ``process_*`` metrics describe one process; here that would be the supervisor (whose
thread serves the metrics), which says little about the model. This collector sums them over the
supervisor's process tree (supervisor, REST arbiter and workers, gRPC processes, custom service)
read from ``/proc`` at scrape time:

* ``process_cpu_seconds_total`` — user+system CPU of the live processes **plus** that of their
  exited, reaped children (``cutime``/``cstime``), so recycled workers' CPU is not lost and the
  counter never goes down;
* ``process_resident_memory_bytes`` / ``process_virtual_memory_bytes`` — sums of RSS / VSZ
  (pages shared after fork are counted once per process, so RSS over-counts);
* ``process_open_fds`` — sum; ``process_max_fds`` and ``process_start_time_seconds`` — of the
  supervisor; ``seldon_api_model_processes`` — how many processes the tree has.

Linux only (nothing is reported without ``/proc``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from . import names

_PROC = "/proc"


def _stat(pid: int | str, proc: str) -> list[str] | None:
    try:
        with open(f"{proc}/{pid}/stat", "rb") as fh:
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after the last ')'
    return data[data.rfind(")") + 2:].split()  # index 0 = field 3 (state)


def descendants(root: int, proc: str = _PROC) -> list[tuple[int, list[str]]]:
    """``root`` and all processes below it, with their stat fields (from field 3 on)."""
    stats: dict[int, list[str]] = {}
    children: dict[int, list[int]] = {}
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        fields = _stat(entry, proc)
        if fields is None:
            continue
        pid = int(entry)
        stats[pid] = fields
        children.setdefault(int(fields[1]), []).append(pid)
    out: list[tuple[int, list[str]]] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            out.append((pid, stats[pid]))
            todo.extend(children.get(pid, ()))
    return out


def _boot_time(proc: str) -> float:
    with open(f"{proc}/stat", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


def _max_fds(pid: int, proc: str) -> float | None:
    try:
        with open(f"{proc}/{pid}/limits", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Max open files"):
                    return float(line.split()[3])
    except (OSError, ValueError, IndexError):
        pass
    return None


class ProcessTreeCollector:
    """A prometheus_client collector (``collect()``) over the tree rooted at ``root_pid``."""

    def __init__(self, root_pid: int, proc: str = _PROC) -> None:
        self.root = root_pid
        self.proc = proc
        self._ticks = float(os.sysconf("SC_CLK_TCK"))
        self._page = float(os.sysconf("SC_PAGE_SIZE"))

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        if not os.path.isdir(f"{self.proc}/{self.root}"):
            return []
        tree = descendants(self.root, self.proc)
        if not tree:
            return []
        cpu = rss = vsz = fds = 0.0
        for pid, f in tree:
            # fields (1-based): 14 utime 15 stime 16 cutime 17 cstime 23 vsize 24 rss
            cpu += sum(float(x) for x in f[11:15]) / self._ticks
            vsz += float(f[20])
            rss += float(f[21]) * self._page
            try:
                fds += len(os.listdir(f"{self.proc}/{pid}/fd"))
            except OSError:
                pass
        where = "summed over the microservice's processes"
        out: list[Any] = [
            CounterMetricFamily("process_cpu_seconds", f"Total user and system CPU time in seconds, {where}", cpu),
            GaugeMetricFamily("process_resident_memory_bytes", f"Resident memory size in bytes, {where}", rss),
            GaugeMetricFamily("process_virtual_memory_bytes", f"Virtual memory size in bytes, {where}", vsz),
            GaugeMetricFamily("process_open_fds", f"Number of open file descriptors, {where}", fds),
            GaugeMetricFamily(names.PROCESSES, "Number of processes of the microservice", len(tree)),
        ]
        root_fields = tree[0][1]
        try:
            start = _boot_time(self.proc) + float(root_fields[19]) / self._ticks
            out.append(GaugeMetricFamily("process_start_time_seconds",
                                         "Start time of the microservice since unix epoch in seconds", start))
        except (OSError, ValueError):
            pass
        max_fds = _max_fds(self.root, self.proc)
        if max_fds is not None:
            out.append(GaugeMetricFamily("process_max_fds",
                                         "Maximum number of open file descriptors (of the supervisor)", max_fds))
        return out

