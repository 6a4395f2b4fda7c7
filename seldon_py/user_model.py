"""Compatibility: the README (and Seldon Core) promise ``seldon_py.user_model``; the API lives in
:mod:`seldon_py.model.api`."""

from .errors import SeldonMicroserviceException, SeldonNotImplementedError
from .model.api import (
    SeldonComponent,
    SeldonResponse,
    create_counter,
    create_gauge,
    create_timer,
)

__all__ = [
    "SeldonComponent",
    "SeldonMicroserviceException",
    "SeldonNotImplementedError",
    "SeldonResponse",
    "create_counter",
    "create_gauge",
    "create_timer",
]
