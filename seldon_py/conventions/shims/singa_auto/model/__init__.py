"""Stand-in for ``singa_auto.model`` (seldon_py): ``BaseModel``, the knob classes, ``KnobValue``,
``utils`` (``utils.logger`` logs through Python logging) and the ``Params``/``Knobs``/``KnobConfig``
type names."""

from seldon_py.conventions._rafiki_api import *  # noqa: F401,F403
from seldon_py.conventions._rafiki_api import __all__  # noqa: F401
