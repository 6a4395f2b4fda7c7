"""Which serving processes batch: only those with more than one thread (see Microservice.batching)."""

from __future__ import annotations

import pytest

from seldon_py.model.reflection import reflect
from seldon_py.runtime.runtime import NullRecorder
from seldon_py.server import Microservice
from seldon_py.settings import parse_settings


class Model:
    def predict(self, X, names):
        return X


def service(*flags: str) -> Microservice:
    ms = Microservice(parse_settings(["Model", *flags], {}, ""), recorder_factory=NullRecorder)
    ms.dispatch = reflect(Model())
    return ms


def test_off_unless_asked():
    ms = service("--threads", "8", "--grpc-threads", "8")
    assert ms.batching(8) is None
    assert ms.make_dataplane().batcher is None
    assert ms.batching_warnings() == []


def test_on_for_processes_with_threads():
    ms = service("--max-batch-size", "16", "--max-batch-latency-ms", "5", "--threads", "16", "--grpc-threads", "1")
    assert ms.batching(16) == (16, 0.005)
    assert ms.make_dataplane().batcher is not None  # REST: 16 threads
    assert ms.make_dataplane(ms.settings.grpc_threads).batcher is None  # gRPC: 1 thread
    (warning,) = ms.batching_warnings()
    assert "no effect on gRPC" in warning and "--grpc-threads" in warning


@pytest.mark.parametrize("flags, expect", [
    (("--threads", "1", "--grpc-workers", "0"), ["no effect on REST"]),
    (("--threads", "4", "--grpc-threads", "32"), ["larger than --threads 4"]),
    (("--threads", "32", "--grpc-threads", "32"), []),
])
def test_warnings_say_what_to_set(flags, expect):
    ms = service("--max-batch-size", "32", *flags)
    warnings = ms.batching_warnings()
    assert len(warnings) == len(expect)
    for text, part in zip(warnings, expect, strict=True):
        assert part in text
