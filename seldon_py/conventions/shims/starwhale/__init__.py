"""Stand-in for ``starwhale`` (seldon_py): ``evaluation`` (``predict``, ``evaluate``,
``PipelineHandler``), ``PipelineHandler``, ``Context``, ``handler``, ``multi_classification``;
``dataset``, ``Dataset`` and ``Evaluation`` import but raise when used. The data types (``Image``,
``Text``...), jobs and the model API need the real package."""

from seldon_py.conventions._starwhale_api import (
    Context,
    Dataset,
    Evaluation,
    PipelineHandler,
    dataset,
    evaluation,
    handler,
    multi_classification,
)

__all__ = ["Context", "Dataset", "Evaluation", "PipelineHandler", "dataset", "evaluation", "handler",
           "multi_classification"]
