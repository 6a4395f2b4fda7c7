"""VESSL's ``RunnerBase`` contract, as far as serving a runner needs it (seldon_py's own).

Served to model files as ``vessl.RunnerBase`` by :mod:`.shims` when the ``vessl`` SDK is absent.
Facts from the SDK's documented contract; written here anew.
"""

from __future__ import annotations

import abc
from typing import Any, Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class RunnerBase(abc.ABC, Generic[In, Out]):
    """Five static methods; only ``predict`` must be overridden, the others default to identity."""

    @staticmethod
    def save_model(model: Any) -> dict[str, str]:
        return None  # type: ignore[return-value]

    @staticmethod
    def load_model(props: dict[str, str] | None, artifacts: dict[str, str]) -> Any:
        return None

    @staticmethod
    def preprocess_data(data: Any) -> Any:
        return None

    @staticmethod
    def postprocess_data(data: Any) -> Any:
        return None

    @staticmethod
    @abc.abstractmethod
    def predict(model: Any, data: Any) -> Any:
        raise NotImplementedError


def register_model(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("vessl.register_model needs the real vessl SDK (pip install vessl); "
                       "seldon_py only provides RunnerBase for serving")


def register_torch_model(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("vessl.register_torch_model needs the real vessl SDK (pip install vessl); "
                       "seldon_py only provides RunnerBase for serving")
