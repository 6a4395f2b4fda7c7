"""The metrics HTTP server (in a thread): path, 404, content negotiation, gzip, access log filter;
and the process-tree collector."""

from __future__ import annotations

import gzip
import logging
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from seldon_py.metrics.process import ProcessTreeCollector
from seldon_py.metrics.server import Exposition, MetricsHTTPServer
from tests.metrics.conftest import parse, value


@pytest.fixture
def serve(mpdir, recorder):
    servers = []

    def start(path="/metrics", **kw):
        srv = MetricsHTTPServer(("127.0.0.1", 0), Exposition(mpdir.path, os.getpid()), path, **kw)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    recorder.record([{"key": "c", "type": "COUNTER", "value": 2}], "predict")
    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def get(url, headers=None, method="GET"):
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_text_exposition_on_the_metrics_path_only(serve):
    base = serve()
    code, headers, body = get(base + "/metrics")
    assert code == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    s = parse(body.decode())
    assert value(s, "c_total") == 2
    assert value(s, "seldon_api_model_processes") >= 1 and value(s, "process_cpu_seconds_total") > 0
    assert get(base + "/metrics?x=1")[0] == 200
    assert get(base + "/")[0] == 404
    assert get(base + "/prometheus")[0] == 404
    code, _, body = get(base + "/metrics", method="HEAD")
    assert code == 200 and body == b""


def test_operator_path_and_openmetrics_negotiation(serve):
    base = serve("/prometheus")
    assert get(base + "/metrics")[0] == 404
    code, headers, body = get(base + "/prometheus", {
        "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"})
    assert code == 200 and headers["Content-Type"].startswith("application/openmetrics-text")
    text = body.decode()
    assert text.endswith("# EOF\n") and "c_total" in text
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    assert any(f.name == "c" for f in text_string_to_metric_families(text))


def test_gzip_when_accepted(serve):
    code, headers, body = get(serve() + "/metrics", {"Accept-Encoding": "gzip"})
    assert code == 200 and headers.get("Content-Encoding") == "gzip"
    assert b"c_total" in gzip.decompress(body)


@pytest.mark.parametrize("filter_metrics,scrape_logged", [(True, False), (False, True)])
def test_access_log_of_the_metrics_path_is_filtered(serve, caplog, filter_metrics, scrape_logged):
    base = serve(access_log=True, filter_metrics=filter_metrics)
    with caplog.at_level(logging.INFO, logger="seldon_py.metrics.access"):
        get(base + "/metrics")
        get(base + "/elsewhere")
    lines = [r.getMessage() for r in caplog.records if r.name == "seldon_py.metrics.access"]
    assert any("/elsewhere" in line and "404" in line for line in lines)
    assert any("/metrics" in line for line in lines) == scrape_logged


def test_no_access_log_unless_enabled(serve, caplog):
    base = serve()
    with caplog.at_level(logging.INFO, logger="seldon_py.metrics.access"):
        get(base + "/elsewhere")
    assert not [r for r in caplog.records if r.name == "seldon_py.metrics.access"]


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_process_metrics_cover_the_whole_tree():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        fams = {f.name: f for f in ProcessTreeCollector(os.getpid()).collect()}
        assert fams["seldon_api_model_processes"].samples[0].value >= 2
        own = ProcessTreeCollector(child.pid).collect()
        single = {f.name: f.samples[0].value for f in own}
        assert single["seldon_api_model_processes"] == 1
        assert fams["process_resident_memory_bytes"].samples[0].value > single["process_resident_memory_bytes"]
        assert set(fams) >= {"process_cpu_seconds", "process_virtual_memory_bytes", "process_open_fds",
                             "process_max_fds", "process_start_time_seconds"}
    finally:
        child.kill()
        child.wait()
    assert ProcessTreeCollector(child.pid).collect() == []  # gone: nothing, no error
