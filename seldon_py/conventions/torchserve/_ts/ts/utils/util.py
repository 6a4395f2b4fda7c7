"""Stand-in for ``ts.utils.util``: the exception handlers raise, and two helpers they use."""

import inspect
import json
import os
from typing import Any


class PredictionException(Exception):
    """Raised by a handler to fail the request with ``error_code`` as the HTTP status."""

    def __init__(self, message: str, error_code: int = 500) -> None:
        self.message = message
        self.error_code = error_code
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message} : {self.error_code}"


def list_classes_from_module(module: Any, parent_class: Any = None) -> list:
    """The classes ``module`` defines itself (optionally only subclasses of ``parent_class``)."""
    classes = [m for _, m in inspect.getmembers(module, inspect.isclass) if m.__module__ == module.__name__]
    if parent_class is not None:
        classes = [c for c in classes if issubclass(c, parent_class)]
    return classes


def load_label_mapping(mapping_file_path: str) -> Any:
    """The ``index_to_name.json`` mapping of a model folder, or None when it has none."""
    if not os.path.isfile(mapping_file_path):
        return None
    with open(mapping_file_path, encoding="utf-8") as fh:
        mapping = json.load(fh)
    if not isinstance(mapping, dict):
        raise TypeError('index->name JSON mapping should be in "class": "label" format.')
    return mapping
