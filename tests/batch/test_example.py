"""examples/batch does what docs/drafts/batch.md says: the flowers evaluation and the Job manifests."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from tests.batch.helpers import evaluate, lines, processor
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "batch"


@pytest.mark.e2e
def test_flowers_evaluation_report(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    work = tmp_path / "batch"
    shutil.copytree(EXAMPLE, work)
    res = evaluate(["run", "flowers:predict", "--dataset", "flowers.csv", "--output-dir", "out", "--id-column", "id",
                    "--label", "species", "--prediction-key", "label", "--scores-key", "scores"], work)
    assert res.returncode == 0, res.stderr
    assert json.loads((work / "out/summary.json").read_text()) == {"misclassified": ["f089"], "errors": 1}
    report = json.loads((work / "out/report.json").read_text())
    assert report["accuracy"] == pytest.approx(89 / 90)
    assert report["confusion_matrix"] == [[30, 0, 0], [0, 30, 0], [0, 1, 29]]
    assert report["roc_auc"] > 0.99
    assert (work / "out/confusion_matrix.png").stat().st_size > 5000
    rows = lines(work / "out/results.jsonl")
    assert rows[0]["id"] == "f000" and len(rows) == 90


@pytest.mark.e2e
def test_flowers_class_in_process(tmp_path):
    work = tmp_path / "batch"
    shutil.copytree(EXAMPLE, work)
    res = processor(["--model", "flowers.FlowerClassifier", "-i", "flowers-input.txt", "-o", "out.txt", "-s", "16",
                     "-w", "2"], work)
    assert res.returncode == 0, res.stderr
    out = lines(work / "out.txt")
    assert len(out) == 90 and out[0]["data"]["names"] == ["setosa", "versicolor", "virginica"]
    assert "Total processed instances: 90 (0 failed)" in res.stderr


def test_indexed_job_manifest_shards_consistently():
    docs = list(yaml.safe_load_all((EXAMPLE / "seldon-batch-job.yaml").read_text()))
    kinds = [d["kind"] for d in docs]
    assert kinds == ["PersistentVolumeClaim", "SeldonDeployment", "Job"]
    job = docs[2]["spec"]
    assert job["completionMode"] == "Indexed" and job["parallelism"] == job["completions"] == 4
    script = job["template"]["spec"]["containers"][0]["args"][0]
    assert '--shard "$JOB_COMPLETION_INDEX/4"' in script
    env = {e["name"]: e["value"] for e in job["template"]["spec"]["containers"][0]["env"]}
    sdep = docs[1]
    assert env["SELDON_BATCH_HOST"].startswith(f"{sdep['metadata']['name']}-{sdep['spec']['predictors'][0]['name']}:")
    merge = yaml.safe_load((EXAMPLE / "seldon-batch-merge.yaml").read_text())
    cmd = merge["spec"]["template"]["spec"]["containers"][0]["command"]
    assert cmd[:2] == ["seldon-evaluate", "merge"] and [c for c in cmd if c.startswith("/assets/out/shard-")] == [
        f"/assets/out/shard-{i}.txt" for i in range(4)]
