"""Signal handlers that are safe when a second signal interrupts the first."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def event_setter(event: threading.Event) -> Callable[[int, Any], None]:
    """A signal handler that sets ``event`` once.

    ``Event.set`` takes the event's lock. A second signal that arrives while the first handler is
    inside ``set`` (``pkill`` plus the supervisor forwarding the same SIGTERM do that) runs its
    handler on the same thread, which then waits for the lock that thread already holds: the
    process hung forever instead of draining. Only the first signal sets the event here; later ones
    return at once."""
    first = threading.Lock()

    def handler(signum: int, frame: Any) -> None:
        if first.acquire(blocking=False):
            event.set()

    return handler
