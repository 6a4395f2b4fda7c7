"""Fixtures for the metrics tests: a private multiprocess directory and scraping helpers."""

from __future__ import annotations

import pytest

from seldon_py.metrics import MultiprocessDir
from seldon_py.metrics.names import deployment_label_values

DEFAULTS = deployment_label_values("mydep", "mymodel", "repo/img:0.3", "mypred", {"version": "v7"})


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """Prometheus text → {(sample name, frozenset(labels)): value}; also checks it parses."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[tuple[str, frozenset], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate sample {key}"
            out[key] = s.value
    return out


def value(samples: dict, name: str, **labels: str) -> float | None:
    """The one sample called ``name`` whose labels include ``labels``."""
    hits = [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls]
    assert len(hits) <= 1, f"{name} {labels}: {len(hits)} samples"
    return hits[0] if hits else None


@pytest.fixture
def mpdir(tmp_path):
    d = MultiprocessDir.create(str(tmp_path / "mp"))
    yield d
    d.remove()


@pytest.fixture
def scrape(mpdir):
    from seldon_py.metrics.server import Exposition

    expo = Exposition(mpdir.path)

    def do() -> dict:
        body, _ = expo.render("")
        return parse(body.decode())

    return do


@pytest.fixture
def recorder(mpdir):
    from seldon_py.metrics.recorder import ServiceMetrics

    return ServiceMetrics(mpdir.path, DEFAULTS)
