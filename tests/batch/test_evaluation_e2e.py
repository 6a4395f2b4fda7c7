"""seldon-evaluate as a real process: Starwhale decorators (real package and ours), plain functions,
datasets, fail_on_error, resume after SIGKILL, shard + merge, evaluate and the report."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.batch.helpers import evaluate, kill, lines, popen, wait_for_file

pytestmark = pytest.mark.e2e

HAVE_STARWHALE = False
try:
    HAVE_STARWHALE = importlib.util.find_spec("starwhale") is not None and \
        importlib.util.find_spec("pkg_resources") is not None
except ImportError:
    pass

# x in 0..19; label = x >= 10; the model says x >= 8, so rows 8 and 9 are false positives
BODY = """
def _one(d):
    return {"label": int(d["x"] >= 8), "scores": [1 - d["x"] / 20, d["x"] / 20]}

@DECORATE_PREDICT
def predict(data, external):
    if isinstance(data, list):
        assert all(d.x == d["x"] for d in data)
        return [_one(d) for d in data]
    assert external["index"] == data.x
    return _one(data)

@DECORATE_EVALUATE
def evaluate(results):
    rows = list(results)
    return {"n": len(rows), "correct": sum(r["output"]["label"] == r["input"]["label"] for r in rows),
            "first_ids": [r["id"] for r in rows[:3]]}
"""


def model_source(kind: str, predict_opts: str = "batch_size=3, replicas=2") -> str:
    if kind == "plain":
        return BODY.replace("@DECORATE_PREDICT\n", "").replace("@DECORATE_EVALUATE\n", "")
    head = "from starwhale import evaluation\n" if kind == "starwhale" else \
        "from seldon_py.batch.starwhale_compat import evaluation\n"
    return head + BODY.replace("DECORATE_PREDICT", f"evaluation.predict({predict_opts})") \
        .replace("DECORATE_EVALUATE", "evaluation.evaluate(needs=[predict])")


def dataset(tmp_path: Path, n: int = 20, fmt: str = "jsonl") -> Path:
    if fmt == "csv":
        path = tmp_path / "ds.csv"
        path.write_text("x,label,note\n" + "".join(f"{i},{int(i >= 10)},row {i}\n" for i in range(n)))
    else:
        path = tmp_path / "ds.jsonl"
        path.write_text("".join(json.dumps({"x": i, "label": int(i >= 10), "note": f"row {i}"}) + "\n"
                                for i in range(n)))
    return path


def check_results(out: Path, n: int = 20) -> list[dict]:
    rows = lines(out / "results.jsonl")
    assert [r["_index"] for r in rows] == list(range(n))
    assert all(r["output"]["label"] == int(r["input/x"] >= 8) for r in rows)
    return rows


@pytest.mark.parametrize("kind", [
    pytest.param("starwhale", marks=pytest.mark.skipif(not HAVE_STARWHALE, reason="starwhale not installed")),
    "compat",
])
def test_decorated_functions_run_unchanged(tmp_path, kind):
    (tmp_path / "m.py").write_text(model_source(kind, 'batch_size=3, replicas=2, log_dataset_features=["x"]'))
    ds = dataset(tmp_path)
    res = evaluate(["run", "m:predict", "--dataset", str(ds), "-o", str(tmp_path / "out"),
                    "--label", "label", "--prediction-key", "label", "--scores-key", "scores.1"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "batch_size 3, replicas 2" in res.stderr  # read from the decorator
    rows = check_results(tmp_path / "out")
    assert "input/note" not in rows[0] and "input/label" in rows[0]  # log_dataset_features (+ the label)
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert summary == {"n": 20, "correct": 18, "first_ids": [0, 1, 2]}
    report = json.loads((tmp_path / "out/report.json").read_text())
    # truth: 10 negatives, 10 positives; predicted positive: 12 (x >= 8) → tp 10, fp 2, tn 8
    assert report["accuracy"] == pytest.approx(18 / 20)
    assert report["per_class"]["1"]["precision"] == pytest.approx(10 / 12)
    assert report["per_class"]["1"]["recall"] == 1.0
    assert report["per_class"]["0"]["recall"] == pytest.approx(8 / 10)
    assert report["confusion_matrix"] == [[8, 2], [0, 10]]
    assert report["roc_auc"] == 1.0  # the score x/20 orders every positive above every negative
    assert (tmp_path / "out/confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    run_summary = json.loads((tmp_path / "out/run_summary.json").read_text())
    assert run_summary["rows"] == 20 and run_summary["failed"] == 0 and run_summary["calls"] == 7


def test_plain_function_with_csv_and_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow.parquet")
    (tmp_path / "m.py").write_text(model_source("plain"))
    ds = dataset(tmp_path, fmt="csv")
    res = evaluate(["run", "m:predict", "--dataset", str(ds), "-o", str(tmp_path / "out"), "--evaluate", "m:evaluate",
                    "--replicas", "3", "--parquet", "yes"], tmp_path)
    assert res.returncode == 0, res.stderr
    rows = check_results(tmp_path / "out")
    assert rows[3]["input/note"] == "row 3" and rows[3]["input/x"] == 3
    assert json.loads((tmp_path / "out/summary.json").read_text())["correct"] == 18
    table = pa.read_table(tmp_path / "out/results.parquet").to_pylist()
    assert [r["_index"] for r in table] == list(range(20))
    assert table[9]["output"]["label"] == 1


FAILING = """
import os
def predict(data):
    if data["x"] == 7 and not os.path.exists("fixed"):
        raise ValueError("cannot do seven")
    return data["x"] * 2
"""


def test_fail_on_error_stops_and_the_rerun_continues_at_the_failed_row(tmp_path):
    (tmp_path / "m.py").write_text(FAILING)
    ds = dataset(tmp_path)
    args = ["run", "m:predict", "--dataset", str(ds), "-o", str(tmp_path / "out")]
    res = evaluate(args, tmp_path)
    assert res.returncode == 1
    assert "row 7" in res.stderr and "cannot do seven" in res.stderr and "Traceback" not in res.stderr
    assert [r["_index"] for r in lines(tmp_path / "out/results.jsonl")] == list(range(7))
    (tmp_path / "fixed").touch()
    res = evaluate(args, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "7 rows already done" in res.stderr
    rows = lines(tmp_path / "out/results.jsonl")
    assert [r["output"] for r in rows] == [2 * i for i in range(20)]


def test_without_fail_on_error_the_failed_row_is_recorded_and_evaluate_skips_it(tmp_path):
    (tmp_path / "m.py").write_text(FAILING + "\ndef ev(results):\n    return [r['index'] for r in results]\n")
    ds = dataset(tmp_path, 10)
    res = evaluate(["run", "m:predict", "--dataset", str(ds), "-o", str(tmp_path / "out"),
                    "--fail-on-error", "false", "--evaluate", "m:ev"], tmp_path)
    assert res.returncode == 0, res.stderr
    rows = lines(tmp_path / "out/results.jsonl")
    assert len(rows) == 10 and rows[7]["error"] == "ValueError: cannot do seven" and "output" not in rows[7]
    assert json.loads((tmp_path / "out/summary.json").read_text()) == [0, 1, 2, 3, 4, 5, 6, 8, 9]
    assert "10 rows: 9 succeeded, 1 failed" in res.stderr


BLOCKING = """
import os, pathlib, time
def predict(data):
    if data["x"] == 33 and not pathlib.Path("release").exists():
        pathlib.Path("reached").touch()
        while not pathlib.Path("release").exists():
            time.sleep(0.05)
    return {"label": int(data["x"] >= 8)}
"""


def test_resume_after_sigkill(tmp_path):
    (tmp_path / "m.py").write_text(BLOCKING)
    ds = dataset(tmp_path, 50)
    args = ["run", "m:predict", "--dataset", str(ds), "-o", str(tmp_path / "out"), "--replicas", "2",
            "--commit-rows", "4", "--progress", "none"]
    proc = popen("seldon_py.batch.evaluation", args, tmp_path)
    try:
        wait_for_file(tmp_path / "reached", proc)
    finally:
        kill(proc)
    journal = (tmp_path / "out/results.jsonl.journal").read_text().splitlines()
    committed = int(journal[-1].split()[0])
    assert 0 < committed <= 33
    (tmp_path / "release").touch()
    res = evaluate(args, tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"{committed} rows already done" in res.stderr
    rows = lines(tmp_path / "out/results.jsonl")
    assert [r["_index"] for r in rows] == list(range(50))


def test_shards_then_merge_equal_one_run(tmp_path):
    (tmp_path / "m.py").write_text(model_source("compat"))
    ds = dataset(tmp_path, 23)
    for i in range(3):
        res = evaluate(["run", "m:predict", "--dataset", str(ds), "-o", str(tmp_path / f"shard{i}"),
                        "--shard", f"{i}/3"], tmp_path)
        assert res.returncode == 0, res.stderr
        assert "merge" in res.stderr and not (tmp_path / f"shard{i}/summary.json").exists()
    assert [r["_index"] for r in lines(tmp_path / "shard1/results.jsonl")] == list(range(1, 23, 3))
    res = evaluate(["merge", *(str(tmp_path / f"shard{i}") for i in range(3)), "-o", str(tmp_path / "merged"),
                    "--evaluate", "m:evaluate", "--label", "label", "--prediction-key", "label"], tmp_path)
    assert res.returncode == 0, res.stderr
    check_results(tmp_path / "merged", 23)
    summary = json.loads((tmp_path / "merged/summary.json").read_text())
    assert summary == {"n": 23, "correct": 21, "first_ids": [0, 1, 2]}
    assert json.loads((tmp_path / "merged/report.json").read_text())["accuracy"] == pytest.approx(21 / 23)
    # a shard given twice is refused
    res = evaluate(["merge", str(tmp_path / "shard0"), str(tmp_path / "shard0"), "-o", str(tmp_path / "m2")],
                   tmp_path)
    assert res.returncode == 2 and "more than one shard" in res.stderr


def test_bad_targets_and_datasets_are_one_line_errors(tmp_path):
    ds = dataset(tmp_path, 3)
    for args, message in [
        (["run", "nomodule:predict", "--dataset", str(ds), "-o", "o"], "cannot import 'nomodule'"),
        (["run", "m:predict", "--dataset", "missing.jsonl", "-o", "o"], "does not exist"),
        (["run", "m:predict", "--dataset", str(ds), "-o", "o", "--shard", "3/3"], "0 <= i < n"),
    ]:
        (tmp_path / "m.py").write_text("def predict(d):\n    return 1\n")
        res = evaluate(args, tmp_path)
        assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr, res.stderr
