"""Stand-in for ``singa_auto.model`` (seldon_py): ``BaseModel``, the knob classes, ``KnobValue``,
``utils`` (``utils.logger`` logs through Python logging; ``utils.dataset`` helpers raise when
called) and the ``Params``/``Knobs``/``KnobConfig`` type names."""

from seldon_py.conventions._rafiki_api import (
    ArchKnob,
    BaseKnob,
    BaseModel,
    CategoricalKnob,
    CategoricalValue,
    FixedKnob,
    FloatKnob,
    IntegerKnob,
    KnobConfig,
    Knobs,
    KnobValue,
    Params,
    PolicyKnob,
    dataset,
    logger,
    utils,
)

__all__ = [
    "ArchKnob", "BaseKnob", "BaseModel", "CategoricalKnob", "CategoricalValue", "FixedKnob", "FloatKnob",
    "IntegerKnob", "KnobConfig", "KnobValue", "Knobs", "Params", "PolicyKnob", "dataset", "logger", "utils",
]
