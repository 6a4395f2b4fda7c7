"""Stand-in for ``starwhale`` (seldon_py): ``evaluation`` (``predict``, ``evaluate``,
``PipelineHandler``), ``PipelineHandler``, ``Context``, ``handler``. Datasets, ``Image``/``Text`` types
and the model/job APIs need the real package."""

from seldon_py.conventions._starwhale_api import Context, PipelineHandler, evaluation, handler

__all__ = ["Context", "PipelineHandler", "evaluation", "handler"]
