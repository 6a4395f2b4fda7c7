"""Batch benchmark: our seldon-batch-processor vs Seldon Core 1.19's, rows/s side by side.

One seldon_py microservice (benchmarks/models/IdentityModel.py; REST with 8 threads, gRPC with 8
threads) serves both processors; every point runs ours and the reference alternately, ``--rounds``
times each, over the same input file, and reports the best rows/s of each (wall time of the whole
command, start-up included, so use enough ``--rows``) and their ratio. The in-process mode
(``--model``, no server) is measured at the same settings next to ours through REST.

Points: transport rest|grpc × --workers 1|8 × --batch-size 1|32. The reference fails every row of a
gRPC mini-batch (``'tags'``): its failed rows are counted and shown, its rows/s there is not a like
for like number.

    python3 benchmarks/batch.py                 # full run → benchmarks/out/batch.md (+ .json)
    python3 benchmarks/batch.py --quick         # smoke run: few rows, one round
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DEFAULT_REF = Path(os.environ.get("SELDON_REF_VENV", "/tmp/seldon-ref-venv"))


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Server:
    def __init__(self, python: str, log: Path) -> None:
        self.http, self.grpc, self.metrics = free_ports(3)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [python, "-m", "seldon_py.cli", "IdentityModel", "--host", "127.0.0.1", "--http-port", str(self.http),
             "--grpc-port", str(self.grpc), "--metrics-port", str(self.metrics), "--threads", "8",
             "--grpc-threads", "8", "--log-level", "WARNING"],
            cwd=BENCH / "models", env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/health/ping", timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the microservice did not start, see {log}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def run_one(argv: list[str], out: Path, rows: int, cwd: Path, env: dict[str, str]) -> dict[str, float]:
    if out.exists():
        out.unlink()
    journal = Path(str(out) + ".journal")
    if journal.exists():
        journal.unlink()
    started = time.perf_counter()
    res = subprocess.run([*argv, "-o", str(out)], cwd=cwd, env=env, capture_output=True, text=True, timeout=3600,
                         check=False)
    elapsed = time.perf_counter() - started
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({res.returncode}):\n{res.stderr[-2000:]}")
    lines = out.read_text().splitlines()
    failed = sum('"FAILURE"' in x for x in lines)
    return {"seconds": elapsed, "rows_per_s": rows / elapsed, "lines": len(lines), "failed": failed}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=5000, help="input lines (default 5000)")
    ap.add_argument("--rounds", type=int, default=2, help="alternated runs per point and tool (best kept)")
    ap.add_argument("--workers", default="1,8")
    ap.add_argument("--batch-sizes", default="1,32")
    ap.add_argument("--transports", default="rest,grpc")
    ap.add_argument("--quick", action="store_true", help="smoke run: 200 rows, 1 round")
    ap.add_argument("--ref-venv", type=Path, default=DEFAULT_REF)
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--out", type=Path, default=BENCH / "out" / "batch.md")
    args = ap.parse_args(argv)
    if args.quick:
        args.rows, args.rounds = 200, 1
    ref = args.ref_venv / "bin" / "seldon-batch-processor"
    use_ref = not args.no_reference and ref.exists()
    if not args.no_reference and not use_ref:
        print(f"reference not found at {ref}: measuring ours only", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env = {k: v for k, v in env.items() if not k.startswith("SELDON_BATCH_")}
    results = []
    with tempfile.TemporaryDirectory(prefix="seldon-batch-bench-") as tmp:
        work = Path(tmp)
        src = work / "input.txt"
        src.write_text("".join(f"[[{i}.0, {i % 7}.5, 1.25, -3.0]]\n" for i in range(args.rows)))
        server = Server(sys.executable, args.out.with_suffix(".server.log"))
        try:
            for transport in args.transports.split(","):
                port = server.http if transport == "rest" else server.grpc
                for w in args.workers.split(","):
                    for b in args.batch_sizes.split(","):
                        common = ["-d", "bench", "-g", "seldon", "-h", f"127.0.0.1:{port}", "--transport", transport,
                                  "-i", str(src), "-w", w, "-s", b, "-u", "bench"]
                        systems = {"ours": [sys.executable, "-m", "seldon_py.batch.processor", *common,
                                            "--progress", "none"]}
                        if use_ref:
                            systems["reference"] = [str(ref), *common]
                        if transport == "rest":
                            systems["in_process"] = [sys.executable, "-m", "seldon_py.batch.processor",
                                                     "--model", "IdentityModel", "-i", str(src), "-w", w, "-s", b,
                                                     "-u", "bench", "--progress", "none"]
                        best: dict[str, dict[str, float]] = {}
                        for _ in range(args.rounds):
                            for name, cmd in systems.items():
                                r = run_one(cmd, work / f"{name}.out", args.rows, BENCH / "models", env)
                                if name not in best or r["rows_per_s"] > best[name]["rows_per_s"]:
                                    best[name] = r
                        point = {"transport": transport, "workers": int(w), "batch_size": int(b), **{
                            f"{k}_{m}": v[m] for k, v in best.items() for m in ("rows_per_s", "failed")}}
                        results.append(point)
                        print(json.dumps(point), file=sys.stderr)
        finally:
            server.stop()
    lines = ["# Batch processor benchmark", "",
             (f"{args.rows} rows of 4 floats, IdentityModel on one seldon_py microservice (REST and gRPC with 8 "
             f"threads), best of {args.rounds} alternated runs, wall time of the whole command (start-up included). "
             "`in process` = ours with `--model IdentityModel`, no server."), "",
             ("| transport | workers | batch | ours rows/s | reference rows/s | ours/ref | ref failed rows "
             "| in process rows/s | in process / ours |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for p in results:
        ours, theirs = p["ours_rows_per_s"], p.get("reference_rows_per_s")
        ratio = f"{ours / theirs:.2f}×" if theirs else "–"
        inproc = p.get("in_process_rows_per_s")
        lines.append(
            f"| {p['transport']} | {p['workers']} | {p['batch_size']} | {ours:.0f} | "
            f"{f'{theirs:.0f}' if theirs else '–'} | {ratio} | {int(p.get('reference_failed', 0))} | "
            f"{f'{inproc:.0f}' if inproc else '–'} | {f'{inproc / ours:.2f}×' if inproc else '–'} |")
    args.out.write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
