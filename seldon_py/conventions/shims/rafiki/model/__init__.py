"""Stand-in for ``rafiki.model`` (seldon_py): ``BaseModel``, the knob classes, ``KnobValue``,
``utils`` (``utils.logger`` logs through Python logging; ``utils.dataset`` helpers raise when called) and the ``Params``/``Knobs``/``KnobConfig``
type names."""

from seldon_py.conventions._rafiki_api import *
from seldon_py.conventions._rafiki_api import __all__  # noqa: F401
