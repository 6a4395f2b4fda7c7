"""The Rafiki / SINGA-auto model API, as far as serving a model file needs it (seldon_py's own).

Served to model files as ``rafiki.model`` / ``singa_auto.model`` by :mod:`.shims` when neither
package is installed. Facts from Rafiki's and SINGA-auto's documented model API; written here anew.
"""

from __future__ import annotations

import abc
import logging
from types import SimpleNamespace
from typing import Any

import numpy as np

__all__ = [
    "ArchKnob",
    "BaseKnob",
    "BaseModel",
    "CategoricalKnob",
    "CategoricalValue",
    "FixedKnob",
    "FloatKnob",
    "IntegerKnob",
    "KnobConfig",
    "KnobValue",
    "Knobs",
    "Params",
    "PolicyKnob",
    "logger",
    "utils",
]

POLICIES = ("SHARE_PARAMS", "EARLY_STOP", "SKIP_TRAIN", "QUICK_EVAL", "DOWNSCALE")

_log = logging.getLogger("rafiki.model")


class KnobValue:
    """One categorical value (int, float, bool or str)."""

    def __init__(self, value: str | float | bool) -> None:
        if not isinstance(value, (str, int, float, bool)):
            raise TypeError("knob values must be int, float, bool or str")
        self._value = value

    @property
    def value(self) -> Any:
        return self._value

    @property
    def dtype(self) -> type:
        return type(self._value)

    def __repr__(self) -> str:
        return f"KnobValue({self._value!r})"


CategoricalValue = str | int | float | bool | KnobValue


def _unwrap(v: Any) -> Any:
    return v.value if isinstance(v, KnobValue) else v


class BaseKnob(abc.ABC):  # noqa: B024 - abstract in Rafiki's API, without abstract methods
    """A knob type: the search space of one hyperparameter."""

    @property
    def value_type(self) -> type:
        raise NotImplementedError


class CategoricalKnob(BaseKnob):
    def __init__(self, values: list[CategoricalValue]) -> None:
        if not values:
            raise ValueError("CategoricalKnob needs at least one value")
        self._values = [v if isinstance(v, KnobValue) else KnobValue(v) for v in values]

    @property
    def values(self) -> list[KnobValue]:
        return self._values

    @property
    def value_type(self) -> type:
        return self._values[0].dtype


class FixedKnob(BaseKnob):
    def __init__(self, value: CategoricalValue) -> None:
        self._value = value if isinstance(value, KnobValue) else KnobValue(value)

    @property
    def value(self) -> Any:
        return self._value.value

    @property
    def value_type(self) -> type:
        return self._value.dtype


class PolicyKnob(BaseKnob):
    def __init__(self, policy: str) -> None:
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}")
        self._policy = policy

    @property
    def policy(self) -> str:
        return self._policy

    @property
    def value_type(self) -> type:
        return bool


class IntegerKnob(BaseKnob):
    def __init__(self, value_min: int, value_max: int, is_exp: bool = False) -> None:
        if not isinstance(value_min, int) or not isinstance(value_max, int) or value_min > value_max:
            raise ValueError("IntegerKnob needs int value_min <= value_max")
        self._value_min, self._value_max, self._is_exp = value_min, value_max, is_exp

    value_min = property(lambda self: self._value_min)
    value_max = property(lambda self: self._value_max)
    is_exp = property(lambda self: self._is_exp)

    @property
    def value_type(self) -> type:
        return int


class FloatKnob(BaseKnob):
    def __init__(self, value_min: float, value_max: float, is_exp: bool = False) -> None:
        if float(value_min) > float(value_max):
            raise ValueError("FloatKnob needs value_min <= value_max")
        self._value_min, self._value_max, self._is_exp = float(value_min), float(value_max), is_exp

    value_min = property(lambda self: self._value_min)
    value_max = property(lambda self: self._value_max)
    is_exp = property(lambda self: self._is_exp)

    @property
    def value_type(self) -> type:
        return float


class ArchKnob(BaseKnob):
    def __init__(self, items: list[list[CategoricalValue]]) -> None:
        self._items = [[v if isinstance(v, KnobValue) else KnobValue(v) for v in vs] for vs in items]

    @property
    def items(self) -> list[list[KnobValue]]:
        return self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def value_type(self) -> type:
        return list


KnobConfig = dict[str, BaseKnob]
Knobs = dict[str, Any]
Params = dict[str, str | int | float | np.ndarray]


class BaseModel(abc.ABC):
    """A Rafiki / SINGA-auto model template: built with knob values, loaded with trained parameters."""

    def __init__(self, **knobs: Any) -> None:  # noqa: B027 - optional, as in Rafiki's API
        pass

    @staticmethod
    @abc.abstractmethod
    def get_knob_config() -> KnobConfig:
        raise NotImplementedError

    @abc.abstractmethod
    def train(self, dataset_path: str, shared_params: Params | None = None, **train_args: Any) -> None:
        raise NotImplementedError

    @abc.abstractmethod
    def evaluate(self, dataset_path: str) -> float:
        raise NotImplementedError

    @abc.abstractmethod
    def predict(self, queries: list[Any]) -> list[Any]:
        raise NotImplementedError

    @abc.abstractmethod
    def dump_parameters(self) -> Params:
        raise NotImplementedError

    @abc.abstractmethod
    def load_parameters(self, params: Params) -> None:
        raise NotImplementedError

    def destroy(self) -> None:  # noqa: B027 - optional, as in Rafiki's API
        pass

    @staticmethod  # noqa: B027 - optional, as in Rafiki's API
    def teardown() -> None:
        pass


class _Logger:
    """``utils.logger``: what a model logs during training goes to Python logging here."""

    def log(self, msg: str = "", **metrics: Any) -> None:
        _log.info("%s %s", msg, metrics if metrics else "")

    def define_plot(self, title: str, metrics: list[str], x_axis: str | None = None) -> None:
        pass

    def define_loss_plot(self) -> None:
        pass

    def log_loss(self, loss: float, epoch: int) -> None:
        _log.info("loss %s at epoch %s", loss, epoch)


class _NotServing:
    """A development-time helper (dataset loading, local tuning): importable, not callable here."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return _NotServing(f"{self._name}.{attr}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{self._name} needs the real rafiki / singa-auto package; "
                           f"seldon_py's stand-in only serves models")


logger = _Logger()
dataset = _NotServing("utils.dataset")
utils = SimpleNamespace(logger=logger, dataset=dataset)


def test_model_class(*args: Any, **kwargs: Any) -> Any:
    """``rafiki.model.dev.test_model_class``: a local tuning run, which needs the real package."""
    return _NotServing("test_model_class")(*args, **kwargs)


def tune_model(*args: Any, **kwargs: Any) -> Any:
    return _NotServing("tune_model")(*args, **kwargs)


def make_predictions(*args: Any, **kwargs: Any) -> Any:
    return _NotServing("make_predictions")(*args, **kwargs)


class ModelDependency:
    TENSORFLOW = "tensorflow"
    KERAS = "Keras"
    PYTORCH = "torch"
    TORCHVISION = "torchvision"
    SCIKIT_LEARN = "scikit-learn"
    SINGA = "singa"
    XGBOOST = "xgboost"


class TaskType:
    IMAGE_CLASSIFICATION = "IMAGE_CLASSIFICATION"
    POS_TAGGING = "POS_TAGGING"
    TABULAR_CLASSIFICATION = "TABULAR_CLASSIFICATION"
    TABULAR_REGRESSION = "TABULAR_REGRESSION"
    SPEECH_RECOGNITION = "SPEECH_RECOGNITION"
