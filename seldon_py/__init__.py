"""seldon_py: serve a plain Python class as a Seldon Core 1.x compatible microservice.

The public surface a model author needs is re-exported here; the server itself is started with
the ``seldon-core-microservice`` command (``seldon_py.cli``).
"""

from .errors import SeldonMicroserviceException, SeldonNotImplementedError
from .model.api import (
    SeldonComponent,
    SeldonResponse,
    create_counter,
    create_gauge,
    create_timer,
)

__version__ = "0.1.0"

__all__ = [
    "SeldonComponent",
    "SeldonResponse",
    "SeldonMicroserviceException",
    "SeldonNotImplementedError",
    "create_counter",
    "create_gauge",
    "create_timer",
    "__version__",
]
