"""The graph suite: what the executor adds per hop (issue 10), run by `run.py --suite graph`.

    python3 benchmarks/run.py --suite graph            # full: rounds 3 × 2 s, c1 and c32
    python3 benchmarks/run.py --suite graph --quick    # smoke: one 1 s round, c1 only

Each graph is started with seldon_py's own local runner (one `seldon-core-microservice` per node,
IdentityModel from benchmarks/models, plus `seldon-core-executor`), on free loopback ports:

| graph | nodes | serial hops |
|---|---|---|
| `identity` | one MODEL | 1 |
| `chain3` | MODEL → MODEL → MODEL | 3 |
| `combiner2` | COMBINER (FirstCombiner) over two MODELs | 2 (children in parallel, then aggregate) |

For every graph, protocol (REST with wrk, gRPC with grpc_load.py) and concurrency, the graph
through the executor and its first node called directly are driven in alternating rounds; per
round we take p50 latencies. **Overhead per hop** = (p50 through the executor − hops × p50 of a
direct call) ÷ hops: what the executor costs for each node call beyond what calling that node
directly costs (the target: ≤ 0.5 ms at c1). **In-process hop** = (p50 of `chain3` − p50 of
`identity`) ÷ 2, both run with `--in-process` (the executor alone, nodes as classes): the cost of
one more in-process node (target ≤ 50 µs). Medians over rounds are reported.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MODELS = BENCH / "models"

GRAPHS: dict[str, tuple[dict[str, Any], int]] = {
    "identity": ({"name": "n1", "type": "MODEL"}, 1),
    "chain3": ({"name": "n1", "type": "MODEL", "children": [
        {"name": "n2", "type": "MODEL", "children": [{"name": "n3", "type": "MODEL"}]}]}, 3),
    "combiner2": ({"name": "comb", "type": "COMBINER", "children": [
        {"name": "n1", "type": "MODEL"}, {"name": "n2", "type": "MODEL"}]}, 2),
}
CLASS_MAP = {"nodes": {
    **{n: {"class": "IdentityModel", "path": str(MODELS)} for n in ("n1", "n2", "n3")},
    "comb": {"class": "FirstCombiner", "path": str(MODELS)},
}}
EXECUTOR_GRPC = "/seldon.protos.Seldon/Predict"
NODE_GRPC = "/seldon.protos.Model/Predict"


def write_graph(tmp: Path, name: str) -> Path:
    graph, _ = GRAPHS[name]
    doc = {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
           "metadata": {"name": f"bench-{name}"},
           "spec": {"predictors": [{"name": "default", "graph": graph, "componentSpecs": []}]}}
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(doc))
    return path


class Graph:
    """One graph running under the local runner (its output goes to a log file)."""

    def __init__(self, tmp: Path, name: str, in_process: bool) -> None:
        from seldon_py.localrun.classmap import load_class_map
        from seldon_py.localrun.runner import LocalRunner
        from seldon_py.localrun.spec import load_deployment

        cmap = tmp / "classmap.json"
        cmap.write_text(json.dumps(CLASS_MAP))
        dep = load_deployment(write_graph(tmp, name), None, load_class_map(cmap))
        self.log = open(tmp / f"{name}{'-inproc' if in_process else ''}.log", "w")  # noqa: SIM115
        self.runner = LocalRunner(dep, in_process=in_process, http_port=0, grpc_port=0, out=self.log,
                                  stop_event=threading.Event(), startup_timeout=120)
        self.runner.start()
        exe = self.runner.children[-1]
        self.rest = exe.urls[0]
        self.grpc = exe.urls[1]
        first = next((c for c in self.runner.children if c.name == "n1"), None)
        self.node_rest = f"{first.urls[0]}/api/v1.0/predictions" if first else None
        self.node_grpc = first.urls[1] if first else None

    def stop(self) -> None:
        self.runner.stop()
        self.log.close()


def measure(bench: Any, grpc_load: Any, protocol: str, target: str, body_file: Path, conc: int,
            duration: float) -> float:
    """p50 latency in ms of one round."""
    if protocol == "rest":
        r = bench.run_wrk(target, body_file, conc, duration)
    else:
        method = NODE_GRPC if target.endswith("#node") else EXECUTOR_GRPC
        r = grpc_load.run(target.removesuffix("#node"), body_file, method, conc, duration, lambda: None)
    if r["errors"] or not r["requests"]:
        raise RuntimeError(f"{target}: errors {r['errors']} in {r['requests']} requests")
    return float(r["latency_us"]["p50"]) / 1000.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="run.py --suite graph", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: c1, one 1 s round")
    ap.add_argument("--graphs", default=",".join(GRAPHS), help="comma list (default all)")
    ap.add_argument("--protocols", default="rest,grpc")
    ap.add_argument("--concurrency", help="comma list (default 1,32; 1 with --quick)")
    ap.add_argument("--rounds", type=int, help="alternated rounds (default 3; 1 with --quick)")
    ap.add_argument("--duration", type=float, help="seconds per round (default 2; 1 with --quick)")
    ap.add_argument("--warmup", type=float, help="seconds of load before measuring each target (default 0.5)")
    ap.add_argument("--no-in-process", action="store_true", help="skip the in-process hop measurement")
    ap.add_argument("--out", type=Path, help="Markdown report (default benchmarks/RESULTS-graph.md; "
                    "benchmarks/out/graph-quick.md with --quick)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(BENCH))
    sys.path.insert(0, str(ROOT))
    import run as bench  # benchmarks/run.py: wrk and grpc_load drivers, payloads

    protocols = args.protocols.split(",")
    if "rest" in protocols and bench.shutil.which("wrk") is None:
        print("graph suite: `wrk` not found (sudo apt-get install -y wrk)", file=sys.stderr)
        return 2
    conc = [int(c) for c in args.concurrency.split(",")] if args.concurrency else ([1] if args.quick else [1, 32])
    rounds = args.rounds or (1 if args.quick else 3)
    duration = args.duration or (1.0 if args.quick else 2.0)
    warmup = args.warmup if args.warmup is not None else (0.3 if args.quick else 0.5)
    out = args.out or (BENCH / "out" / "graph-quick.md" if args.quick else BENCH / "RESULTS-graph.md")
    tmp = Path(tempfile.mkdtemp(prefix="graph-bench-"))
    bodies = {"rest": tmp / "body.json", "grpc": tmp / "body.bin"}
    bodies["rest"].write_bytes(bench.json_small())
    bodies["grpc"].write_bytes(bench.proto_small())
    grpc_load = bench.GrpcLoad(sys.executable)
    rows: list[dict[str, Any]] = []
    inproc: dict[str, dict[str, float]] = {}
    t0 = time.time()
    try:
        for name in args.graphs.split(","):
            hops = GRAPHS[name][1]
            bench.log(f"graph {name}: starting")
            g = Graph(tmp, name, in_process=False)
            try:
                for protocol in protocols:
                    via = g.rest if protocol == "rest" else g.grpc
                    direct = g.node_rest if protocol == "rest" else f"{g.node_grpc}#node"
                    for target in (via, direct):  # first calls open connections, fill caches
                        measure(bench, grpc_load, protocol, target, bodies[protocol], max(conc), warmup)
                    for c in conc:
                        graph_p50, direct_p50 = [], []
                        for _ in range(rounds):
                            graph_p50.append(measure(bench, grpc_load, protocol, via, bodies[protocol], c, duration))
                            direct_p50.append(
                                measure(bench, grpc_load, protocol, direct, bodies[protocol], c, duration))
                        gp, dp = statistics.median(graph_p50), statistics.median(direct_p50)
                        row = {"graph": name, "protocol": protocol, "concurrency": c, "hops": hops,
                               "graph_p50_ms": gp, "direct_p50_ms": dp, "per_hop_ms": (gp - hops * dp) / hops}
                        rows.append(row)
                        bench.log(f"  {protocol} c{c}: graph {gp:.3f} ms, direct {dp:.3f} ms, "
                                  f"overhead/hop {row['per_hop_ms']:.3f} ms")
            finally:
                g.stop()
        if not args.no_in_process:
            for name in ("identity", "chain3"):
                bench.log(f"graph {name} in-process: starting")
                g = Graph(tmp, name, in_process=True)
                try:
                    for protocol in protocols:
                        via = g.rest if protocol == "rest" else g.grpc
                        measure(bench, grpc_load, protocol, via, bodies[protocol], 1, warmup)
                        p50s = [measure(bench, grpc_load, protocol, via, bodies[protocol], 1, duration)
                                for _ in range(rounds)]
                        inproc.setdefault(protocol, {})[name] = statistics.median(p50s)
                finally:
                    g.stop()
    finally:
        grpc_load.close()
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [
        "# Graph executor: overhead per hop",
        "",
        (
            f"`python3 benchmarks/run.py --suite graph{' --quick' if args.quick else ''}` — "
            f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {rounds} round(s) × {duration:g} s after {warmup:g} s warm-up, "
            f"{(time.time() - t0) / 60:.1f} min. Method: see benchmarks/graph_suite.py."
        ),
        "",
        "| graph | protocol | in flight | hops | p50 via executor (ms) | p50 direct (ms) | overhead per hop (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['graph']} | {r['protocol']} | {r['concurrency']} | {r['hops']} | "
                     f"{r['graph_p50_ms']:.3f} | {r['direct_p50_ms']:.3f} | {r['per_hop_ms']:.3f} |")
    if inproc:
        lines += ["", "| in-process | p50 identity (ms) | p50 chain3 (ms) | cost per in-process hop (µs) |",
                  "|---|---|---|---|"]
        for protocol, v in inproc.items():
            if "identity" in v and "chain3" in v:
                hop = (v["chain3"] - v["identity"]) / 2 * 1000
                lines.append(f"| {protocol} c1 | {v['identity']:.3f} | {v['chain3']:.3f} | {hop:.0f} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    (BENCH / "out").mkdir(exist_ok=True)
    (BENCH / "out" / "graph-latest.json").write_text(json.dumps({"rows": rows, "in_process": inproc}, indent=1))
    bench.log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
