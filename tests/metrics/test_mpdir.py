"""The multiprocess directory: private, handed down explicitly, stale ones removed, gone at exit."""

from __future__ import annotations

import os
import signal
import sys

from seldon_py.metrics import MultiprocessDir
from seldon_py.metrics.mpdir import ENV, PREFIX


def test_create_touches_neither_the_environment_nor_prometheus_client(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    from prometheus_client import values

    value_class = values.ValueClass
    d = MultiprocessDir.create(str(tmp_path))
    try:
        assert os.path.isdir(d.path) and os.path.basename(d.path).startswith(PREFIX)
        assert ENV not in os.environ
        assert values.ValueClass is value_class
    finally:
        d.remove()
    assert not os.path.exists(d.path) and ENV not in os.environ
    assert values.ValueClass is value_class


def test_an_operator_set_directory_is_used_as_the_parent(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(tmp_path))
    d = MultiprocessDir.create()
    try:
        assert os.path.dirname(d.path) == str(tmp_path)
    finally:
        d.remove()
    assert os.environ[ENV] == str(tmp_path)


def test_each_instance_gets_its_own_directory(tmp_path):
    a = MultiprocessDir.create(str(tmp_path))
    b = MultiprocessDir.create(str(tmp_path))
    try:
        assert a.path != b.path and os.path.isdir(a.path)  # b's stale sweep kept the live a
    finally:
        b.remove()
        a.remove()


def _dir_in_child(base: str, then_sleep: bool) -> tuple[int, str]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            d = MultiprocessDir.create(base)
            os.write(w, d.path.encode())
            os.close(w)
            if then_sleep:
                signal.pause()
        finally:
            os._exit(0)  # without remove(): as if killed
    os.close(w)
    path = os.read(r, 4096).decode()
    os.close(r)
    return pid, path


def test_directories_of_dead_instances_are_removed_live_ones_kept(tmp_path):
    live_pid, live = _dir_in_child(str(tmp_path), then_sleep=True)
    dead_pid, dead = _dir_in_child(str(tmp_path), then_sleep=False)
    os.waitpid(dead_pid, 0)
    unrelated = tmp_path / (PREFIX + "not-ours")  # no owner file: left alone
    unrelated.mkdir()
    try:
        assert os.path.isdir(dead) and os.path.isdir(live)
        d = MultiprocessDir.create(str(tmp_path))
        d.remove()
        assert not os.path.exists(dead)
        assert os.path.isdir(live) and unrelated.is_dir()
    finally:
        os.kill(live_pid, signal.SIGKILL)
        os.waitpid(live_pid, 0)


def test_only_the_creating_process_removes(tmp_path):
    d = MultiprocessDir.create(str(tmp_path))
    pid = os.fork()
    if pid == 0:
        d.remove()
        os._exit(0)
    os.waitpid(pid, 0)
    try:
        assert os.path.isdir(d.path)
    finally:
        d.remove()


def test_importing_the_package_does_not_import_prometheus_client():
    import subprocess

    code = ("import sys, seldon_py.server, seldon_py.metrics, seldon_py.metrics.mpdir; "
            "print('prometheus_client' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert out.stdout.strip() == "False"
