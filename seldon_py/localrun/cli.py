"""``seldon-core-graph run deployment.yaml``: run a SeldonDeployment's graph on this machine."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from ..util.signals import event_setter
from .classmap import ClassMap, GraphConfigError, load_class_map
from .runner import LocalRunner, RunError, describe
from .spec import Deployment, load_deployment

PROG = "seldon-core-graph"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise GraphConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Run a SeldonDeployment's inference graph locally, without Kubernetes.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser(
        "run",
        help="start one microservice per graph node plus the executor, on loopback ports",
        description=(
            "Start one seldon-core-microservice per graph node and seldon-core-executor in front of "
            "them (or, with --in-process, the executor alone running every node's class), print the "
            "URLs, and stop everything on Ctrl-C or SIGTERM. A node's class comes from --class-map, "
            "else from the folder next to the deployment file named after its container image "
            "(myorg/transformer:0.1 -> ./transformer/, whose .s2i/environment sets MODEL_NAME)."
        ),
    )
    run.add_argument("deployment", help="SeldonDeployment file (YAML or JSON)")
    run.add_argument("--predictor", default=None, help="predictor to run when the deployment has several")
    run.add_argument("--class-map", default=None,
                     help='YAML/JSON {"nodes": {name: {class, path, parameters}}, "images": {image: {...}}}')
    run.add_argument("--in-process", action="store_true", help="run the whole graph in the executor process")
    run.add_argument("--http-port", type=int, default=9000, help="executor REST port, 0 = any free port (default 9000)")
    run.add_argument("--grpc-port", type=int, default=5000, help="executor gRPC port, 0 = any free port (default 5000)")
    run.add_argument("--host", default="127.0.0.1",
                     help="address the executor listens on (default 127.0.0.1; 0.0.0.0 for other machines)")
    run.add_argument("--startup-timeout", type=float, default=60.0, help="seconds to wait for readiness (default 60)")
    run.add_argument("--grace", type=float, default=20.0,
                     help="seconds each process gets to stop after SIGTERM before it is killed (default 20)")
    run.add_argument("--dry-run", action="store_true", help="print the processes that would run, as JSON, and exit")
    compose = sub.add_parser(
        "compose",
        help="write a compose file that runs the graph as containers (one per node plus the executor)",
        description=(
            "Write a compose file (podman-compose or docker compose) running each graph node in the "
            "seldon-py image with its folder mounted, and the executor in front of them, wired as the "
            "Seldon operator wires a pod. Nodes are found as for `run`."
        ),
    )
    compose.add_argument("deployment", help="SeldonDeployment file (YAML or JSON)")
    compose.add_argument("--predictor", default=None, help="predictor to run when the deployment has several")
    compose.add_argument("--class-map", default=None, help="as for `run`")
    compose.add_argument("-o", "--output", default=None,
                         help="file to write (default: standard output); folder paths are relative to it")
    return p


def load_map(path: str | None) -> ClassMap:
    return load_class_map(path) if path else ClassMap()


def write_compose(args: argparse.Namespace, dep: Deployment) -> int:
    """``compose``: print or write the compose file for the deployment."""
    from pathlib import Path

    from .compose import render

    out = Path(args.output) if args.output else None
    command = f"{PROG} compose {args.deployment}" + (f" -o {args.output}" if out else "")
    text = render(dep, (out.parent if out else Path.cwd()).resolve(), command)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        print(f"{PROG}: wrote {out}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(args_list)
        if args.command == "compose":
            return write_compose(args, load_deployment(args.deployment, args.predictor, load_map(args.class_map)))
        for port in (args.http_port, args.grpc_port):
            if not 0 <= port <= 65535:
                raise GraphConfigError(f"{port} is not a TCP port")
        if args.startup_timeout <= 0 or args.grace < 0:
            raise GraphConfigError("--startup-timeout must be positive and --grace not negative")
        dep = load_deployment(args.deployment, args.predictor, load_map(args.class_map))
    except GraphConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()
    runner = LocalRunner(dep, in_process=args.in_process, http_port=args.http_port, grpc_port=args.grpc_port,
                         startup_timeout=args.startup_timeout, grace=args.grace, stop_event=stop,
                         host=args.host)
    if args.dry_run:
        try:
            print(json.dumps(describe(runner.plan()), indent=2))
        except RunError as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 1
        finally:
            runner.stop()
        return 0

    on_signal = event_setter(stop)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        runner.start()
        print(runner.summary(), flush=True)
        runner.wait()
        runner.say(f"{PROG}: stopping")
    except RunError as exc:
        if stop.is_set() and not runner.started:
            runner.say(f"{PROG}: interrupted while starting: stopping")
        else:
            print(f"{PROG}: error: {exc}", file=sys.stderr, flush=True)
            code = 1
    finally:
        runner.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code == 0:
        runner.say(f"{PROG}: stopped")
    return code


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
