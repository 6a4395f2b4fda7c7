"""Stand-in for ``rafiki.model.knob`` (seldon_py)."""

from seldon_py.conventions._rafiki_api import (  # noqa: F401
    ArchKnob,
    BaseKnob,
    CategoricalKnob,
    FixedKnob,
    FloatKnob,
    IntegerKnob,
    KnobValue,
    PolicyKnob,
)
