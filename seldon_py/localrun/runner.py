"""Start, watch and stop the processes of a locally run graph.

Every child runs in its own process group (so Ctrl-C in the terminal reaches only the runner,
which then stops the children in order) and, on Linux, gets SIGTERM if the runner dies without
cleaning up. Stopping sends SIGTERM to each group, waits up to the grace period, then SIGKILLs
whatever is left of each group: nothing stays behind.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .classmap import dump_class_map
from .spec import Deployment, node_env, with_local_endpoints

MAX_LOG_LINE = 64 * 1024
HOST = "127.0.0.1"


class RunError(Exception):
    """The graph could not be started or a process died; one line naming the node."""


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (each socket held until all are chosen)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def find_command(name: str) -> str:
    """A console script installed with this Python (its bin dir first), else from PATH."""
    local = Path(sys.executable).parent / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise RunError(f"command {name!r} not found next to {sys.executable} or on PATH (pip install seldon-py)")
    return found


def http_status(port: int, path: str, timeout: float = 2.0, host: str = HOST) -> int | None:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def tcp_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def die_with_parent_hook() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when the runner dies (PR_SET_PDEATHSIG).

    libc is looked up here, in the parent: the hook itself only makes the one system call, so it
    imports nothing and takes no lock between fork and exec.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    sigterm = int(signal.SIGTERM)

    def hook() -> None:  # pragma: no cover - runs in the child
        prctl(1, sigterm)  # PR_SET_PDEATHSIG

    return hook


@dataclass
class Child:
    name: str
    label: str
    cmd: list[str]
    cwd: str
    env: dict[str, str]
    ready: Callable[[], bool]
    proc: subprocess.Popen[bytes] | None = None
    pump: threading.Thread | None = None
    urls: list[str] = field(default_factory=list)
    is_node: bool = True

    def what(self) -> str:
        return f"node {self.name!r} ({self.label})" if self.is_node else self.label


class LocalRunner:
    """Runs the graph: ``start()`` (raises :class:`RunError`), ``wait()``, ``stop()``."""

    def __init__(
        self,
        dep: Deployment,
        *,
        in_process: bool = False,
        http_port: int = 9000,
        grpc_port: int = 5000,
        startup_timeout: float = 60.0,
        grace: float = 20.0,
        out: IO[str] | None = None,
        stop_event: threading.Event | None = None,
        host: str = HOST,
    ) -> None:
        self.dep = dep
        self.host = host
        self.in_process = in_process
        self.http_port, self.grpc_port = http_port, grpc_port
        self.startup_timeout = startup_timeout
        self.grace = grace
        self.out = out if out is not None else sys.stderr
        self.stopping = stop_event or threading.Event()
        self.children: list[Child] = []
        self.workdir: str | None = None
        self._out_lock = threading.Lock()
        self._preexec = die_with_parent_hook()
        self.started = False  # every process ready

    # ------------------------------------------------------------------ plan
    def plan(self) -> list[Child]:
        """The processes to start: one per node (unless in-process), then the executor."""
        self.workdir = tempfile.mkdtemp(prefix="seldon-graph-")
        base_env = {k: v for k, v in os.environ.items()
                    if k not in ("ENGINE_PREDICTOR", "PREDICTIVE_UNIT_PARAMETERS", "PREDICTIVE_UNIT_ID")}
        # every port in one go: ports chosen by separate calls could coincide, and with SO_REUSEPORT
        # two servers on one port would not even fail, they would share the traffic
        nodes_ports = 0 if self.in_process else 3 * len(self.dep.nodes)
        pool = [p for p in free_ports(nodes_ports + 4) if p not in (self.http_port, self.grpc_port)]
        self.http_port = self.http_port or pool.pop()
        self.grpc_port = self.grpc_port or pool.pop()
        children: list[Child] = []
        pred_name = str(self.dep.predictor.get("name") or "default")
        if self.in_process:
            cmap = Path(self.workdir) / "classmap.json"
            cmap.write_text(dump_class_map({n.name: n.class_entry() for n in self.dep.nodes}))
            # the nodes' own environment (s2i, container env) reaches the one process
            env = dict(base_env)
            for node in self.dep.nodes:
                env.update(node.env)
            deployment_file = str(self.dep.path.resolve())
            extra = ["--class-map", str(cmap)]
        else:
            env = dict(base_env)
            ports: dict[str, tuple[int, int]] = {}
            microservice = find_command("seldon-core-microservice")
            for node in self.dep.nodes:
                http, grpc, metrics = pool.pop(), pool.pop(), pool.pop()
                ports[node.name] = (http, grpc)
                cmd = [microservice, node.cls, "--service-type", node.service_type, "--host", HOST,
                       "--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics)]
                child = Child(node.name, f"{node.cls} ({node.source})", cmd, node.path,
                              {**base_env, **node_env(self.dep, node, http, grpc, metrics)},
                              self._node_ready(http, grpc))
                child.urls = [f"http://{HOST}:{http}", f"{HOST}:{grpc}"]
                children.append(child)
            path = Path(self.workdir) / "deployment.json"
            path.write_text(json.dumps(with_local_endpoints(self.dep, ports, HOST), indent=2) + "\n")
            deployment_file = str(path)
            extra = []
        executor = find_command("seldon-core-executor")
        cmd = [executor, "--file", deployment_file, "--predictor", pred_name, "--host", self.host,
               "--http_port", str(self.http_port), "--grpc_port", str(self.grpc_port), *extra]
        exe = Child("executor", "seldon-core-executor" + (" (in-process)" if self.in_process else ""), cmd,
                    str(self.dep.path.resolve().parent), env, self._executor_ready(), is_node=False)
        shown = "localhost" if self.host in ("0.0.0.0", "::", "", HOST) else self.host
        exe.urls = [f"http://{shown}:{self.http_port}/api/v1.0/predictions", f"{shown}:{self.grpc_port}"]
        children.append(exe)
        return children

    def _node_ready(self, http: int, grpc: int) -> Callable[[], bool]:
        return lambda: http_status(http, "/health/ping") == 200 and tcp_open(grpc)

    def _executor_ready(self) -> Callable[[], bool]:
        probe = HOST if self.host in ("0.0.0.0", "::", "") else self.host
        return lambda: (http_status(self.http_port, "/ready", host=probe) == 200
                        and tcp_open(self.grpc_port, host=probe))

    # ------------------------------------------------------------------ processes
    def say(self, text: str) -> None:
        with self._out_lock:
            self.out.write(text + "\n")
            self.out.flush()

    def _pump(self, child: Child, stream: IO[bytes], width: int) -> None:
        prefix = f"{child.name:<{width}} | "
        for raw in iter(lambda: stream.readline(MAX_LOG_LINE), b""):
            self.say(prefix + raw.decode("utf-8", "replace").rstrip("\n"))
        stream.close()

    def _spawn(self, child: Child, width: int) -> None:
        try:
            child.proc = subprocess.Popen(
                child.cmd, cwd=child.cwd, env=child.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=self._preexec,  # noqa: PLW1509
            )
        except OSError as exc:
            raise RunError(f"node {child.name!r}: cannot start {child.cmd[0]}: {exc.strerror or exc}") from None
        assert child.proc.stdout is not None
        child.pump = threading.Thread(target=self._pump, args=(child, child.proc.stdout, width),
                                      name=f"log-{child.name}", daemon=True)
        child.pump.start()

    def _wait_ready(self, batch: list[Child]) -> None:
        deadline = time.monotonic() + self.startup_timeout
        pending = list(batch)
        while pending:
            for child in list(pending):
                assert child.proc is not None
                code = child.proc.poll()
                if code is not None:
                    raise RunError(f"{child.what()} exited with status {code} before it was ready")
                if child.ready():
                    pending.remove(child)
            if not pending:
                return
            if self.stopping.is_set():
                raise RunError("interrupted while starting")
            if time.monotonic() > deadline:
                names = ", ".join(repr(c.name) for c in pending)
                raise RunError(f"not ready after {self.startup_timeout:g}s: {names}")
            self.stopping.wait(0.1)

    def start(self) -> None:
        """Start every node, wait until all are ready, then the executor; RunError on failure."""
        self.children = self.plan()
        width = max(len(c.name) for c in self.children)
        nodes, executor = self.children[:-1], self.children[-1]
        for child in nodes:
            self.say(f"seldon-core-graph: starting node {child.name!r}: {child.label}")
            self._spawn(child, width)
        self._wait_ready(nodes)
        self.say(f"seldon-core-graph: starting {executor.label}")
        self._spawn(executor, width)
        self._wait_ready([executor])
        self.started = True

    def wait(self) -> None:
        """Until stop is requested (returns) or a process exits (raises RunError)."""
        while not self.stopping.wait(0.2):
            for child in self.children:
                if child.proc is not None and child.proc.poll() is not None:
                    raise RunError(f"{child.what()} exited with status {child.proc.returncode}")

    def stop(self) -> None:
        """SIGTERM every process group (executor first), wait the grace period, SIGKILL the rest."""
        started = [c for c in reversed(self.children) if c.proc is not None]
        for child in started:
            self._signal(child, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for child in started:
            assert child.proc is not None
            try:
                child.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"seldon-core-graph: {child.name!r} did not stop in {self.grace:g}s: killing it")
        for child in started:
            self._signal(child, signal.SIGKILL)  # the group: workers and anything orphaned
            assert child.proc is not None
            try:
                child.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            if child.pump is not None:
                child.pump.join(5)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    @staticmethod
    def _signal(child: Child, sig: int) -> None:
        assert child.proc is not None
        try:
            os.killpg(child.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def summary(self) -> str:
        exe = self.children[-1]
        lines = [f"seldon-core-graph: {self.dep.name}/{self.dep.predictor.get('name') or 'default'} is ready",
                 f"  REST  {exe.urls[0]}", f"  gRPC  {exe.urls[1]}"]
        for child in self.children[:-1]:
            lines.append(f"  node {child.name}: {child.urls[0]} (gRPC {child.urls[1]})")
        if self.in_process:
            lines.append(f"  nodes in-process: {', '.join(n.name for n in self.dep.nodes) or '(none)'}")
        if self.dep.builtin:
            lines.append(f"  built-in nodes (in the executor): {', '.join(self.dep.builtin)}")
        lines.append("Press Ctrl-C to stop.")
        return "\n".join(lines)


def describe(children: list[Child]) -> list[dict[str, Any]]:
    """What would be started (for --dry-run and tests)."""
    return [{"name": c.name, "cmd": c.cmd, "cwd": c.cwd} for c in children]
