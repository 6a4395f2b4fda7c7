"""Per-request cost of the REST request-metrics hook (observe_requests + ServiceMetrics).

Moved out of the test suite (a timed assertion fails on a busy machine and passes on a fast one):
`python benchmarks/request_hook.py` prints the overhead against the bare WSGI call. Typically
~2.5 µs on a 2-core box; ~10 µs would mean per-value locking or syscalls crept in.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

from seldon_py.metrics.mpdir import MultiprocessDir


def main() -> None:
    with tempfile.TemporaryDirectory() as base:
        mp = MultiprocessDir.create(base)  # before prometheus_client is imported
        try:
            from seldon_py.metrics.names import deployment_label_values
            from seldon_py.metrics.recorder import ServiceMetrics
            from seldon_py.runtime.runtime import NullObserver
            from seldon_py.transports.rest.app import observe_requests

            labels = deployment_label_values("NOT_IMPLEMENTED", None, None, "NOT_IMPLEMENTED", {})
            recorder = ServiceMetrics(mp.path, labels)

            def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
                start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "42")])
                return [b"x" * 42]

            def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
                return None

            env = {"PATH_INFO": "/predict", "CONTENT_LENGTH": "30", "REQUEST_METHOD": "POST"}
            observed = observe_requests(app, recorder, frozenset({"/predict"}))
            null = observe_requests(app, NullObserver(), frozenset({"/predict"}))

            def per_call(fn: Any, n: int = 20000) -> float:
                best = float("inf")
                for _ in range(5):
                    t = time.perf_counter()
                    for _ in range(n):
                        fn(env, start_response)
                    best = min(best, (time.perf_counter() - t) / n)
                return best

            bare = per_call(app)
            print(f"request metrics overhead: {(per_call(observed) - bare) * 1e6:.2f} µs per request "
                  f"(hook with a null observer: {(per_call(null) - bare) * 1e6:.2f} µs)")
        finally:
            mp.remove()


if __name__ == "__main__":
    main()
