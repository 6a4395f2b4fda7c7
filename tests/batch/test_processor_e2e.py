"""seldon-batch-processor against a real seldon-core-microservice (REST and gRPC) and in process."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.batch.helpers import index_of, kill, lines, popen, processor, wait_for_file, write_lines

pytestmark = pytest.mark.e2e

IDENT = """
class Ident:
    def predict(self, X, names=None, meta=None):
        return X
"""

FLAKY = """
class Flaky:
    def __init__(self):
        self.calls = 0
    def predict(self, X, names=None, meta=None):
        self.calls += 1
        if self.calls <= 2:
            raise RuntimeError(f"warming up (call {self.calls})")
        return X
"""

# blocks on the row whose first value is 25 until the release file exists (set by the test)
BLOCKER = """
import os, pathlib, time
class Blocker:
    def predict(self, X, names=None, meta=None):
        if X[0][0] == 25:
            release = pathlib.Path(os.environ["RELEASE_FILE"])
            if not release.exists():
                pathlib.Path(os.environ["REACHED_FILE"]).touch()
                while not release.exists():
                    time.sleep(0.05)
        return X
"""

GOOD = [f"[[{i}, {i + 0.5}]]" for i in range(7)]
INPUT = GOOD[:4] + ["not json"] + GOOD[4:]  # 8 lines, line 4 is bad


def check_output(path: Path, n: int, bad: set[int], batch_id: str = "BID") -> list[dict]:
    out = lines(path)
    assert len(out) == n
    assert [index_of(x) for x in out] == list(range(n))
    for i, line in enumerate(out):
        if i in bad:
            assert set(line) == {"status", "meta"}
            assert line["status"]["info"] == "FAILURE" and line["status"]["status"] == 1 and line["status"]["reason"]
            assert line["meta"]["batch_id"] == batch_id and line["meta"]["batch_index"] == i
            assert line["meta"]["batch_instance_id"]
        else:
            tags = line["meta"]["tags"]
            assert tags["batch_id"] == batch_id and tags["batch_index"] == i and tags["batch_instance_id"]
    return out


@pytest.mark.parametrize("transport", ["rest", "grpc"])
@pytest.mark.parametrize("batch_size", ["1", "3"])
def test_order_counts_tags_and_error_lines(start_service, tmp_path, transport, batch_size):
    svc = start_service({"Ident.py": IDENT}, ["Ident"])
    port = svc.http_port if transport == "rest" else svc.grpc_port
    src = write_lines(tmp_path / "in.txt", INPUT)
    res = processor(["-d", "x", "-g", "seldon", "-h", f"127.0.0.1:{port}", "-t", transport, "-i", str(src),
                     "-o", str(tmp_path / "out.txt"), "-u", "BID", "-w", "3", "-s", batch_size, "--progress", "log"],
                    tmp_path)
    assert res.returncode == 0, res.stderr
    out = check_output(tmp_path / "out.txt", 8, {4})
    values = [x["data"]["ndarray"] for i, x in enumerate(out) if i != 4]
    assert [[float(v) for v in row[0]] for row in values] == [[i, i + 0.5] for i in range(7)]
    assert "Total processed instances: 8 (1 failed)" in res.stderr
    assert "8 rows: 7 succeeded, 1 failed" in res.stderr


def test_tensor_mini_batches_over_grpc(start_service, tmp_path):
    svc = start_service({"Ident.py": IDENT}, ["Ident"])
    src = write_lines(tmp_path / "in.txt", GOOD)
    res = processor(["-d", "x", "-g", "seldon", "-h", f"127.0.0.1:{svc.grpc_port}", "--transport", "grpc",
                     "-p", "tensor", "-s", "4", "-i", str(src), "-o", str(tmp_path / "out.txt"), "-u", "BID"], tmp_path)
    assert res.returncode == 0, res.stderr
    out = check_output(tmp_path / "out.txt", 7, set())
    assert out[5]["data"]["tensor"] == {"shape": [1, 2], "values": [5.0, 5.5]}
    assert out[5]["meta"]["tags"]["batch_instance_id"].endswith("-item-1")


@pytest.mark.parametrize("transport", ["rest", "grpc"])
@pytest.mark.parametrize("batch_size", ["1", "2"])
def test_tftensor_lines(start_service, tmp_path, transport, batch_size):
    svc = start_service({"Ident.py": IDENT}, ["Ident"])
    port = svc.http_port if transport == "rest" else svc.grpc_port
    src = write_lines(tmp_path / "in.txt", GOOD[:3])
    res = processor(["-d", "x", "-g", "seldon", "-h", f"127.0.0.1:{port}", "--transport", transport, "-p", "tftensor",
                     "-s", batch_size, "-i", str(src), "-o", str(tmp_path / "out.txt"), "-u", "BID"], tmp_path)
    assert res.returncode == 0, res.stderr
    out = check_output(tmp_path / "out.txt", 3, set())
    assert out[2]["data"]["tftensor"]["dtype"] == "DT_DOUBLE"
    from seldon_py.protocol.seldon.tftensor import tftensor_json_to_array

    assert [tftensor_json_to_array(x["data"]["tftensor"]).tolist() for x in out] == [[[i, i + 0.5]] for i in range(3)]
    assert [d["size"] for d in out[2]["data"]["tftensor"]["tensorShape"]["dim"]] in ([1, 2], ["1", "2"])


def test_transient_failures_are_retried(start_service, tmp_path):
    svc = start_service({"Flaky.py": FLAKY}, ["Flaky", "--grpc-workers", "0"])
    src = write_lines(tmp_path / "in.txt", GOOD)
    args = ["-d", "x", "-g", "seldon", "-h", f"127.0.0.1:{svc.http_port}", "-i", str(src), "-u", "BID"]
    res = processor([*args, "-o", str(tmp_path / "out.txt"), "-r", "3"], tmp_path)
    assert res.returncode == 0, res.stderr
    check_output(tmp_path / "out.txt", 7, set())  # the first row failed twice, then worked

    svc2 = start_service({"Flaky.py": FLAKY}, ["Flaky", "--grpc-workers", "0"])
    args[5] = f"127.0.0.1:{svc2.http_port}"
    res = processor([*args, "-o", str(tmp_path / "out2.txt"), "-r", "2"], tmp_path)
    assert res.returncode == 0, res.stderr
    out = check_output(tmp_path / "out2.txt", 7, {0})  # two tries were not enough for row 0
    assert "HTTP 500" in out[0]["status"]["reason"] and "warming up (call 2)" in out[0]["status"]["reason"]
    assert "Total processed instances: 7 (1 failed)" in res.stderr


def test_string_json_raw_and_feedback_lines(start_service, tmp_path):
    svc = start_service({"Ident.py": IDENT}, ["Ident", "--grpc-workers", "0"])
    base = ["-d", "x", "-g", "seldon", "-h", f"127.0.0.1:{svc.http_port}", "-u", "BID"]
    cases = {
        "str": ['"abc"', '"d e"'],
        "json": ['{"a": 1}', "[1, 2]"],
        "raw": ['{"data": {"names": ["a", "b"], "ndarray": [[1, 2]]}, "meta": {"tags": {"x": 1}}}',
                '{"strData": "hi"}'],
    }
    for data_type, items in cases.items():
        src = write_lines(tmp_path / f"{data_type}.txt", items)
        res = processor([*base, "-a", data_type, "-i", str(src), "-o", str(tmp_path / f"{data_type}.out")], tmp_path)
        assert res.returncode == 0, res.stderr
        out = check_output(tmp_path / f"{data_type}.out", 2, set())
        if data_type == "str":
            assert [x["strData"] for x in out] == ["abc", "d e"]
        elif data_type == "json":
            # a dict comes back as jsonData; a list returned by predict becomes data (Seldon's rule)
            assert out[0]["jsonData"] == {"a": 1} and "data" in out[1]
        else:
            assert out[0]["meta"]["tags"]["x"] == 1 and out[1]["strData"] == "hi"
    fb = write_lines(tmp_path / "fb.txt", ['{"request": {"data": {"ndarray": [[1, 2]]}}, "reward": 1}'])
    res = processor([*base, "-a", "raw", "-m", "feedback", "-i", str(fb), "-o", str(tmp_path / "fb.out")], tmp_path)
    assert res.returncode == 0, res.stderr
    check_output(tmp_path / "fb.out", 1, set())


def test_in_process_gives_the_same_answers_as_the_server(start_service, tmp_path):
    svc = start_service({"Ident.py": IDENT}, ["Ident", "--grpc-workers", "0"])
    src = write_lines(tmp_path / "in.txt", INPUT)
    common = ["-i", str(src), "-u", "BID", "-s", "2", "-w", "2"]
    r1 = processor(["-d", "x", "-g", "seldon", "-h", f"127.0.0.1:{svc.http_port}", *common,
                    "-o", str(tmp_path / "rest.txt")], tmp_path)
    r2 = processor(["--model", "Ident", *common, "-o", str(tmp_path / "local.txt")], tmp_path)
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    rest, local = check_output(tmp_path / "rest.txt", 8, {4}), check_output(tmp_path / "local.txt", 8, {4})
    assert [x.get("data") for x in rest] == [x.get("data") for x in local]
    fb = write_lines(tmp_path / "fb.txt",
                     ['{"request": {"data": {"ndarray": [[1, 2]]}}, "reward": 1}', '{"reward": "x"}'])
    res = processor(["--model", "Ident", "-a", "raw", "-m", "feedback", "-i", str(fb), "-o", str(tmp_path / "fb.out"),
                     "-u", "BID"], tmp_path)
    assert res.returncode == 0, res.stderr
    out = check_output(tmp_path / "fb.out", 2, {1})
    assert "Invalid JSON" in out[1]["status"]["reason"]


def test_in_process_model_errors_are_one_line(tmp_path):
    src = write_lines(tmp_path / "in.txt", GOOD)
    (tmp_path / "Broken.py").write_text("class Broken:\n    def load(self):\n        raise OSError('no weights')\n")
    res = processor(["--model", "Broken", "-i", str(src), "-o", str(tmp_path / "o")], tmp_path)
    assert res.returncode == 2 and "load() failed: OSError: no weights" in res.stderr and "Traceback" not in res.stderr
    res = processor(["--model", "Missing", "-i", str(src), "-o", str(tmp_path / "o")], tmp_path)
    assert res.returncode == 2 and "error:" in res.stderr and "Missing" in res.stderr and "Traceback" not in res.stderr
    (tmp_path / "Ident.py").write_text(IDENT)
    res = processor(["--model", "Ident", "--model-convention", "nosuch", "-i", str(src), "-o", str(tmp_path / "o")],
                    tmp_path)
    assert res.returncode == 2 and "nosuch" in res.stderr and "Traceback" not in res.stderr


def test_usage_errors_are_one_line(tmp_path):
    src = write_lines(tmp_path / "in.txt", GOOD)
    res = processor(["-d", "x", "-t", "0.5", "-i", str(src), "-o", str(tmp_path / "o")], tmp_path)
    assert res.returncode == 2 and "use --batch-interval 0.5" in res.stderr
    res = processor(["-d", "x", "-i", str(src), "-o", str(src)], tmp_path)
    assert res.returncode == 2 and "the output path is the input file" in res.stderr
    assert src.read_text().count("\n") == 7
    res = processor(["-d", "x", "-m", "feedback", "-i", str(src), "-o", str(tmp_path / "o")], tmp_path)
    assert res.returncode == 2 and "needs --data-type raw" in res.stderr
    res = processor(["-i", str(src), "-o", str(tmp_path / "o")], tmp_path, SELDON_BATCH_DEPLOYMENT_NAME="")
    assert res.returncode == 2 and "--deployment-name" in res.stderr
    res = processor(["-d", "x", "-i", str(src), "-o", str(tmp_path / "o")], tmp_path, SELDON_BATCH_WORKERS="many")
    assert res.returncode == 2 and "SELDON_BATCH_WORKERS" in res.stderr
    res = processor(["-d", "x", "-i", str(src), "-o", str(tmp_path / "o"), "-w", "100000"], tmp_path)
    assert res.returncode == 2 and "at most 1024 workers" in res.stderr
    assert not (tmp_path / "o").exists()  # nothing written before the options are checked
    assert "Traceback" not in res.stderr


def test_unreachable_deployment_gives_error_lines_not_a_crash(tmp_path):
    from tests.conftest import free_port

    src = write_lines(tmp_path / "in.txt", GOOD[:3])
    res = processor(["-d", "x", "-g", "seldon", "-h", f"127.0.0.1:{free_port()}", "-r", "2", "-i", str(src),
                     "-o", str(tmp_path / "out.txt"), "-u", "BID"], tmp_path)
    assert res.returncode == 0, res.stderr
    out = check_output(tmp_path / "out.txt", 3, {0, 1, 2})
    assert "ConnectionRefusedError" in out[0]["status"]["reason"]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_resume_after_a_kill_loses_and_duplicates_nothing(tmp_path, sig):
    (tmp_path / "Blocker.py").write_text(BLOCKER)
    n = 60
    src = write_lines(tmp_path / "in.txt", [f"[[{i}, 0]]" for i in range(n)])
    out = tmp_path / "out.txt"
    reached, release = tmp_path / "reached", tmp_path / "release"
    args = ["--model", "Blocker", "-i", str(src), "-o", str(out), "-w", "2", "--commit-rows", "5",
            "--progress", "none"]
    extra = {"REACHED_FILE": str(reached), "RELEASE_FILE": str(release)}
    proc = popen("seldon_py.batch.processor", args, tmp_path, **extra)
    try:
        wait_for_file(reached, proc)
        if sig == signal.SIGTERM:  # Kubernetes stopping the pod: commit and exit 130 without waiting
            os.killpg(proc.pid, signal.SIGTERM)
            assert proc.wait(60) == 130
            assert "Interrupted: run the same command again" in proc.stdout.read()
    finally:
        kill(proc)
    journal = (tmp_path / "out.txt.journal").read_text().splitlines()
    committed = int(journal[-1].split()[0])
    assert 0 < committed <= 25 and not journal[-1].startswith("done")
    batch_id = json.loads(journal[0])["batch_id"]

    release.touch()
    res = processor(args, tmp_path, **extra)
    assert res.returncode == 0, res.stderr
    assert f"{committed} rows already done" in res.stderr
    result = check_output(out, n, set(), batch_id=batch_id)
    assert [x["data"]["ndarray"][0][0] for x in result] == list(range(n))
    assert f"Total processed instances: {n} (0 failed)" in res.stderr


@pytest.mark.skipif(not os.path.exists("/tmp/seldon-ref-venv/bin/seldon-batch-processor"),
                    reason="reference seldon-core 1.19 not installed")
def test_same_lines_as_the_reference_processor(start_service, tmp_path):
    import subprocess

    svc = start_service({"Ident.py": IDENT}, ["Ident", "--grpc-workers", "0"])
    src = write_lines(tmp_path / "in.txt", INPUT)
    common = ["-d", "x", "-g", "seldon", "-h", f"127.0.0.1:{svc.http_port}", "-i", str(src), "-u", "BID", "-w", "3"]
    ref = subprocess.run(["/tmp/seldon-ref-venv/bin/seldon-batch-processor", *common, "-o", str(tmp_path / "ref.txt")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert ref.returncode == 0, ref.stderr
    ours = processor([*common, "-o", str(tmp_path / "ours.txt")], tmp_path)
    assert ours.returncode == 0, ours.stderr
    theirs = sorted(lines(tmp_path / "ref.txt"), key=index_of)  # the reference writes in completion order
    mine = lines(tmp_path / "ours.txt")
    assert len(theirs) == len(mine) == 8
    for a, b in zip(theirs, mine, strict=True):
        assert a.keys() == b.keys()
        assert a["meta"].keys() == b["meta"].keys()
        if "status" in a:
            assert a["status"] == b["status"]
        else:
            assert a["data"]["names"] == b["data"]["names"]
            assert [float(v) for v in a["data"]["ndarray"][0]] == [float(v) for v in b["data"]["ndarray"][0]]
            assert a["meta"]["tags"].keys() == b["meta"]["tags"].keys()


def test_processor_shards_merge_in_input_order_and_evaluate_once(tmp_path):
    from tests.batch.helpers import evaluate

    (tmp_path / "Ident.py").write_text(IDENT)
    (tmp_path / "ev.py").write_text("def ev(rows):\n    return [r['index'] for r in rows]\n")
    src = write_lines(tmp_path / "in.txt", INPUT)
    for i in range(3):
        res = processor(["--model", "Ident", "-i", str(src), "-o", str(tmp_path / f"shard-{i}.txt"), "-u", "BID",
                         "--shard", f"{i}/3"], tmp_path)
        assert res.returncode == 0, res.stderr
    assert [index_of(x) for x in lines(tmp_path / "shard-1.txt")] == [1, 4, 7]
    res = evaluate(["merge", *(str(tmp_path / f"shard-{i}.txt") for i in range(3)), "-o", str(tmp_path / "merged"),
                    "--evaluate", "ev:ev"], tmp_path)
    assert res.returncode == 0, res.stderr
    check_output(tmp_path / "merged" / "results.jsonl", 8, {4})
    assert json.loads((tmp_path / "merged" / "summary.json").read_text()) == [0, 1, 2, 3, 5, 6, 7]
    assert "8 rows (1 failed)" in res.stderr


def test_in_process_serves_a_model_written_for_another_server(tmp_path):
    """--model goes through the same convention loader as seldon-core-microservice (here a
    Starwhale predict function, detected by its decorator)."""
    (tmp_path / "swone.py").write_text(
        "from seldon_py.batch.starwhale_compat import evaluation\n\n"
        "@evaluation.predict\n"
        "def predict(data):\n"
        "    return {'double': data.x * 2}\n")
    src = write_lines(tmp_path / "in.txt", ['{"x": 1}', '{"x": 21}'])
    res = processor(["--model", "swone.predict", "-a", "json", "-i", str(src), "-o", str(tmp_path / "out.txt"),
                     "-u", "BID"], tmp_path)
    assert res.returncode == 0, res.stderr
    out = check_output(tmp_path / "out.txt", 2, set())
    assert [x["jsonData"] for x in out] == [{"double": 2}, {"double": 42}]
