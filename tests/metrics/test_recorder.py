"""ServiceMetrics in-process and across forked processes: names, labels, buckets, conflicts,
feedback, request metrics, exact counts, folding of exited processes."""

from __future__ import annotations

import math
import os
import threading
import traceback
import types

import pytest

from seldon_py.errors import BadMetric
from seldon_py.metrics import mpdir as mpdir_mod
from seldon_py.metrics import names
from seldon_py.metrics.names import deployment_label_values
from seldon_py.metrics.recorder import ServiceMetrics
from tests.metrics.conftest import DEFAULTS, value

D = {k: DEFAULTS[k] for k in names.DEPLOYMENT_LABELS}


def in_child(fn) -> int:
    """Run ``fn`` in a forked process; wait for it; return its pid (it must succeed)."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            fn()
        except BaseException:  # noqa: BLE001
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return pid


def counter(key, v, **tags):
    return {"key": key, "type": "COUNTER", "value": v, **({"tags": tags} if tags else {})}


def gauge(key, v, **tags):
    return {"key": key, "type": "GAUGE", "value": v, **({"tags": tags} if tags else {})}


def timer(key, v, **tags):
    return {"key": key, "type": "TIMER", "value": v, **({"tags": tags} if tags else {})}


# ----------------------------------------------------------------------------- names and labels
def test_custom_metrics_are_named_and_labelled_like_the_reference(recorder, scrape):
    recorder.record([counter("mycounter", 1, lbl="a"), gauge("mygauge", 100), timer("mytimer", 20.2)],
                    "predict")
    recorder.record([counter("mycounter", 2, lbl="a")], "predict")
    s = scrape()
    full = {"lbl": "a", "method": "predict", **D}
    assert s[("mycounter_total", frozenset(full.items()))] == 3
    assert s[("mygauge", frozenset({"method": "predict", **D}.items()))] == 100
    timer_labels = {"method": "predict", **D}
    assert s[("mytimer_count", frozenset(timer_labels.items()))] == 1
    assert s[("mytimer_sum", frozenset(timer_labels.items()))] == pytest.approx(0.0202)
    les = [dict(ls)["le"] for (n, ls) in s if n == "mytimer_bucket"]
    assert len(les) == 51 and "+Inf" in les
    # exactly the strings Seldon Core 1.19 exposes (observed), including the last-digit quirks
    for observed in ("0.001", "0.0012341553253454693", "0.02347185009632733", "24.30812344597087",
                     "29.999999999999996"):
        assert observed in les
    assert value(s, "mytimer_bucket", le="0.019018554321561593") == 0
    assert value(s, "mytimer_bucket", le="0.02347185009632733") == 1
    assert not any("worker_id" in dict(ls) for (_, ls) in s)


def test_timer_buckets_are_50_log_spaced_bounds_from_1ms_to_30s():
    b = names.TIMER_BUCKETS
    assert len(b) == 50 and b[0] == 0.001 and b[-1] == pytest.approx(30)
    ratios = [b[i + 1] / b[i] for i in range(49)]
    assert max(ratios) - min(ratios) < 1e-12


def test_unset_environment_gives_not_implemented_and_defaults_override_tags(mpdir, scrape):
    labels = deployment_label_values(None, None, None, None, None)
    assert set(labels.values()) == {"NOT_IMPLEMENTED"} and tuple(labels) == names.DEPLOYMENT_LABELS
    m = ServiceMetrics(mpdir.path, labels)
    m.record([counter("c", 1, model_name="mine", deployment_name="x", other="y")], "router")
    s = scrape()
    assert value(s, "c_total", other="y", method="router", model_name="NOT_IMPLEMENTED",
                 deployment_name="NOT_IMPLEMENTED") == 1


@pytest.mark.parametrize("image,name,version", [
    ("repo/img:0.3", "repo/img", "0.3"),
    ("host:5000/img:1", "host:5000/img", "1"),
    ("host:5000/img", "host:5000/img", "NOT_IMPLEMENTED"),
    ("img@sha256:abc", "img", "sha256:abc"),
    (None, "NOT_IMPLEMENTED", "NOT_IMPLEMENTED"),
])
def test_image_labels(image, name, version):
    labels = deployment_label_values("d", "u", image, "p", {"version": "v"})
    assert (labels["model_image"], labels["model_version"]) == (name, version)
    assert (labels["image_name"], labels["image_version"]) == (name, version)
    assert labels["seldon_deployment_name"] == labels["deployment_name"] == "d"
    assert labels["predictor_version"] == "v"


def test_counter_key_ending_in_total_is_the_same_family(recorder, scrape):
    recorder.record([counter("hits_total", 1)], "predict")
    recorder.record([counter("hits", 2)], "predict")
    assert value(scrape(), "hits_total", method="predict") == 3


# ----------------------------------------------------------------------------- conflicts
def test_a_key_keeps_its_type(recorder, scrape):
    recorder.record([counter("k", 1)], "predict")
    with pytest.raises(BadMetric) as exc:
        recorder.record([gauge("k", 5)], "predict")
    msg = str(exc.value)
    assert exc.value.reason == "MICROSERVICE_BAD_METRIC" and exc.value.status_code == 500
    assert "'k'" in msg and "GAUGE" in msg and "COUNTER" in msg and "one type" in msg
    recorder.record([counter("k", 1)], "predict")  # still usable
    assert value(scrape(), "k_total", method="predict") == 2


def test_a_key_keeps_its_tag_names(recorder):
    recorder.record([counter("k", 1, a="1")], "predict")
    recorder.record([counter("k", 1, a="2")], "predict")  # other values are fine
    with pytest.raises(BadMetric, match="same tag names"):
        recorder.record([counter("k", 1, b="1")], "predict")
    with pytest.raises(BadMetric, match="same tag names"):
        recorder.record([counter("k", 1)], "predict")


def test_conflicts_are_detected_across_processes(mpdir, recorder):
    in_child(lambda: ServiceMetrics(mpdir.path, DEFAULTS).record([timer("shared", 5)], "predict"))
    with pytest.raises(BadMetric, match="TIMER"):
        recorder.record([counter("shared", 1)], "predict")


@pytest.mark.parametrize("first,second", [
    (counter("x", 1), gauge("x_total", 1)),
    (gauge("x_total", 1), counter("x", 1)),
    (timer("t", 1), gauge("t_count", 1)),
    (gauge("t_bucket", 1), timer("t", 1)),
    (None, gauge("seldon_api_model_requests_total", 1)),
    (None, counter("seldon_api_model_request_duration_seconds", 1)),
    (None, gauge("process_open_fds", 1)),
    (None, counter("seldon_api_model_feedback", 1, extra="tag")),
])
def test_exposed_names_never_collide(recorder, scrape, first, second):
    if first:
        recorder.record([first], "predict")
    with pytest.raises(BadMetric, match="was recorded first"):
        recorder.record([second], "predict")
    scrape()  # the exposition stays valid (parse() rejects duplicates)


def test_a_bad_batch_records_nothing(recorder, scrape):
    recorder.record([gauge("g", 1)], "predict")
    with pytest.raises(BadMetric):
        recorder.record([counter("ok", 1), counter("g", 1)], "predict")
    assert not value(scrape(), "ok_total")  # its series may exist, at 0


def test_non_finite_counter_and_timer_values_are_rejected(recorder, scrape):
    for bad in (counter("c", math.inf), counter("c", math.nan), timer("t", math.nan)):
        with pytest.raises(BadMetric, match="not finite"):
            recorder.record([bad], "predict")
    recorder.record([gauge("g", math.nan)], "predict")
    assert math.isnan(value(scrape(), "g"))


def test_reserved_label_names_are_bad_metrics(recorder):
    with pytest.raises(BadMetric):
        recorder.record([timer("t", 1, le="x")], "predict")


# ----------------------------------------------------------------------------- feedback
def test_feedback_counts_every_feedback_and_sums_every_finite_reward(recorder, scrape):
    for reward in (0, 1.5, 0.0, -1, -0.25, math.nan, math.inf):
        recorder.feedback(reward)
    s = scrape()
    fb = {"method": "feedback", **D}
    assert s[("seldon_api_model_feedback_total", frozenset(fb.items()))] == 7
    # negatives included, so reward_total / feedback_total is the mean of the finite rewards
    assert s[("seldon_api_model_feedback_reward_total", frozenset(fb.items()))] == 0.25


def test_feedback_series_exist_before_any_feedback(recorder, scrape):
    assert value(scrape(), "seldon_api_model_feedback_total") == 0


def test_a_user_counter_named_like_the_feedback_counter_shares_it(recorder, scrape):
    recorder.feedback(1)
    recorder.record([counter("seldon_api_model_feedback", 2)], "feedback")
    assert value(scrape(), "seldon_api_model_feedback_total") == 3


# ----------------------------------------------------------------------------- request metrics
def test_request_metrics(recorder, scrape):
    recorder.request_started("rest", "/predict")
    recorder.request_started("rest", "/predict")
    assert value(scrape(), names.REQUESTS_IN_FLIGHT, endpoint="/predict") == 2
    recorder.request_finished("rest", "/predict", "200", 0.0007, 100, 300)
    recorder.request_finished("rest", "/predict", "500", 2.0, 5000, 0)
    recorder.request_started("grpc", "/seldon.protos.Model/Predict")
    recorder.request_finished("grpc", "/seldon.protos.Model/Predict", "OK", 0.002, 10, 20)
    s = scrape()
    ok = dict(transport="rest", endpoint="/predict", code="200")
    assert value(s, "seldon_api_model_requests_total", **ok) == 1
    assert value(s, "seldon_api_model_requests_total", transport="rest", code="500") == 1
    assert value(s, "seldon_api_model_requests_total", transport="grpc", code="OK") == 1
    assert value(s, names.REQUESTS_IN_FLIGHT, endpoint="/predict") == 0
    assert value(s, names.REQUEST_DURATION + "_count", **ok) == 1
    assert value(s, names.REQUEST_DURATION + "_sum", **ok) == pytest.approx(0.0007)
    assert value(s, names.REQUEST_DURATION + "_bucket", le="0.0005", **ok) == 0
    assert value(s, names.REQUEST_DURATION + "_bucket", le="0.001", **ok) == 1
    assert value(s, names.REQUEST_DURATION + "_bucket", le="+Inf", **ok) == 1
    assert value(s, names.REQUEST_SIZE + "_count", transport="rest", endpoint="/predict") == 2
    assert value(s, names.REQUEST_SIZE + "_sum", transport="rest", endpoint="/predict") == 5100
    assert value(s, names.REQUEST_SIZE + "_bucket", transport="rest", le="256.0") == 1
    assert value(s, names.RESPONSE_SIZE + "_bucket", le="256.0", **ok) == 0
    assert value(s, names.RESPONSE_SIZE + "_bucket", le="1024.0", **ok) == 1
    labels = dict(next(ls for (n, ls) in s if n == "seldon_api_model_requests_total"))
    assert set(labels) == {"transport", "endpoint", "code", *names.REQUEST_DEPLOYMENT_LABELS}
    assert labels["deployment_name"] == "mydep" and labels["predictor_version"] == "v7"


def test_request_value_files_grow_past_their_first_mapping(recorder, scrape):
    for i in range(120):  # ~35 entries of ~400 bytes each: far beyond the initial 64 KiB
        recorder.request_started("rest", f"/e{i}")
        recorder.request_finished("rest", f"/e{i}", "200", 0.01, 1, 1)
    s = scrape()
    assert sum(v for (n, _), v in s.items() if n == "seldon_api_model_requests_total") == 120
    assert os.path.getsize(recorder._req_histogram.filename) > 1 << 16


# ----------------------------------------------------------------------------- across processes
def test_counts_are_exact_across_processes_and_threads(mpdir, scrape):
    procs, threads, per_thread = 4, 8, 200

    def child() -> None:
        m = ServiceMetrics(mpdir.path, DEFAULTS)
        barrier = threading.Barrier(threads)

        def work() -> None:
            barrier.wait()
            for _ in range(per_thread):
                m.request_started("rest", "/predict")
                m.record([counter("hits", 1), timer("lat", 1.0)], "predict")
                m.request_finished("rest", "/predict", "200", 0.001, 10, 10)
                m.feedback(1)

        ts = [threading.Thread(target=work) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    pids = []
    for _ in range(procs):
        pid = os.fork()
        if pid == 0:
            try:
                child()
            finally:
                os._exit(0)
        pids.append(pid)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    total = procs * threads * per_thread
    s = scrape()
    assert value(s, "hits_total") == total
    assert value(s, "lat_count") == total
    assert value(s, "seldon_api_model_requests_total") == total
    assert value(s, names.REQUEST_DURATION + "_count") == total
    assert value(s, "seldon_api_model_feedback_total") == total
    assert value(s, "seldon_api_model_feedback_reward_total") == total
    # the dead children are still "in flight" until their exit is reported
    for pid in pids:
        mpdir_mod.process_exited(pid, mpdir.path)
    s = scrape()
    assert value(s, "hits_total") == total and not value(s, names.REQUESTS_IN_FLIGHT)
    assert value(s, "seldon_api_model_requests_total") == total


def test_exited_processes_are_folded_into_the_archive(mpdir, scrape):
    def worker(n: int):
        def run() -> None:  # in a forked child: its clock says n, so the gauges' timestamps are 1..5
            import seldon_py.metrics.recorder as rec

            rec.time = types.SimpleNamespace(time=lambda: float(n))  # type: ignore[assignment]
            m = ServiceMetrics(mpdir.path, DEFAULTS)
            m.record([counter("c", n), timer("t", 10), gauge("g", n)], "predict")
            m.request_started("rest", "/predict")  # dies "in flight"
            m.request_finished("rest", "/predict", "200", 0.01, 1, 1)
            m.request_started("rest", "/predict")
        return run

    for n in range(1, 6):
        pid = in_child(worker(n))
        mpdir_mod.process_exited(pid, mpdir.path)
        assert mpdir_mod.files_of(pid, mpdir.path) == []
    dbs = sorted(f for f in os.listdir(mpdir.path) if f.endswith(".db"))
    assert all("archive" in f for f in dbs), dbs
    s = scrape()
    assert value(s, "c_total") == 15
    assert value(s, "t_count") == 5 and value(s, "t_sum") == pytest.approx(0.05)
    assert value(s, "g") == 5  # the most recent set
    assert value(s, "seldon_api_model_requests_total") == 5
    assert not value(s, names.REQUESTS_IN_FLIGHT)  # dead processes' in-flight requests are dropped
    # a live process setting the gauge later wins over the archived value
    m = ServiceMetrics(mpdir.path, DEFAULTS)
    m.record([gauge("g", -1), counter("c", 1)], "predict")
    s = scrape()
    assert value(s, "g") == -1 and value(s, "c_total") == 16


def test_process_exited_without_a_directory_or_files_changes_nothing(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    mpdir_mod.process_exited(12345, None)  # no directory at all
    other = tmp_path / "counter_999.db"  # another process's file
    other.write_bytes(b"\0" * 8)
    mpdir_mod.process_exited(12345, str(tmp_path))
    mpdir_mod.process_exited(12345, str(tmp_path / "missing"))
    assert sorted(os.listdir(tmp_path)) == ["counter_999.db"] and other.read_bytes() == b"\0" * 8
    assert not [r for r in caplog.records if r.levelno >= 30]


def test_a_fold_that_fails_is_logged_and_does_not_raise(tmp_path, caplog):
    (tmp_path / "counter_12345.db").mkdir()  # named like a value file, but cannot be read as one
    mpdir_mod.process_exited(12345, str(tmp_path))
    errors = [r.getMessage() for r in caplog.records if r.levelno >= 40]
    assert len(errors) == 1 and errors[0].startswith("could not fold the metrics of exited process 12345: ")
