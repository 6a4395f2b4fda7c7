"""VESSL ``RunnerBase`` runners served as Seldon models.

A runner is a class of static methods: ``load_model(props, artifacts)`` once, then for every request
``postprocess_data(predict(model, preprocess_data(data)))``; a method the runner does not override
acts as identity (as VESSL's own server treats its ``use_default`` list).

* **Detection:** a class with ``RunnerBase`` in its MRO and a static ``predict``; or, by shape,
  static ``predict(model, data)`` and ``load_model(props, artifacts)``; or a model folder holding
  ``vessl.manifest.yaml`` (then ``vessl_runner`` names the class: the pickled runner is not loaded).
* **props / artifacts:** parameters ``vessl_props`` / ``vessl_artifacts`` (JSON objects), else the
  manifest's ``model.save_output`` / ``artifacts`` in the model folder (parameter ``model_dir``, else
  the working directory, which is where VESSL serves from). A runner without ``load_model`` gets the
  model the manifest's ``model.save_path`` holds, unpickled as VESSL does (your own file).
* **Input:** what VESSL's server passes: the request body as ``bytes`` (``jsonData``/``ndarray`` as
  their JSON text, ``strData`` UTF-8, ``binData`` as is), so ``json.loads(data.decode())`` works;
  a *typed* runner (``RunnerBase[In, Out]`` with a pydantic ``In``) gets ``In.model_validate(jsonData)``
  and a failed validation answers 400 naming the fields. ``vessl_input=value`` passes the decoded
  value instead (numpy rows for ``ndarray``, which lets adaptive batching join requests).
* **Output:** pydantic models and dicts → ``jsonData``, ``str`` → ``strData``, ``bytes`` → ``binData``,
  arrays, tensors and lists → ``data``.
"""

from __future__ import annotations

import json
import logging
import pickle
import typing
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadRequest
from ._common import (
    ConventionError,
    as_seldon_result,
    find_base,
    is_static,
    json_param,
    local_classes,
    model_dir,
    overrides,
    pick_class,
    positional_names,
)
from .base import Target

logger = logging.getLogger(__name__)

MANIFEST = "vessl.manifest.yaml"
PARAMETERS = ("vessl_props", "vessl_artifacts", "vessl_runner", "vessl_input", "model_dir")
INPUT_MODES = ("body", "value")


def is_runner(cls: Any) -> bool:
    if not isinstance(cls, type) or not is_static(cls, "predict"):
        return False
    if find_base(cls, "RunnerBase") is not None:
        return True
    return (is_static(cls, "load_model")
            and positional_names(getattr(cls, "predict")) == ["model", "data"]  # noqa: B009 - cls is a type
            and len(positional_names(getattr(cls, "load_model")) or []) == 2)  # noqa: B009


def input_model(cls: type) -> Any:
    """The pydantic input type a typed runner declares (``RunnerBase[In, Out]``), or None."""
    for klass in cls.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            origin = typing.get_origin(base)
            if origin is not None and getattr(origin, "__name__", "") == "RunnerBase":
                args = typing.get_args(base)
                if args and isinstance(args[0], type) and hasattr(args[0], "model_validate"):
                    return args[0]
    return None


def read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        import yaml
    except ModuleNotFoundError:
        raise ConventionError(f"reading {path} needs PyYAML: pip install 'seldon-py[vessl]'") from None
    try:
        manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConventionError(f"cannot read {path}: {exc}") from None
    if not isinstance(manifest, dict):
        raise ConventionError(f"{path} is not a VESSL manifest (not a mapping)")
    return manifest


class VesslConvention:
    name = "vessl"

    def detect(self, target: Target) -> bool:
        if target.path is not None:
            return target.path.is_dir() and (target.path / MANIFEST).is_file()
        if target.attr is None:
            return bool(local_classes(target.module, is_runner))  # a module: its own runner class(es)
        return is_runner(target.attr)

    def adapt(self, target: Target, parameters: dict[str, Any]) -> VesslModel:
        unknown = sorted(set(parameters) - set(PARAMETERS))
        if unknown:
            raise ConventionError(f"VESSL runner: unknown parameter(s) {', '.join(unknown)}; "
                                  f"accepted: {', '.join(PARAMETERS)}")
        folder = model_dir(parameters, target.path)
        manifest = read_manifest(folder) or {}
        cls: Any = target.attr
        if target.path is not None:
            cls = self._runner_from_folder(folder, parameters)
        elif cls is None:
            cls = pick_class(target.spec, target.module, is_runner, "VESSL runner")
        if not is_runner(cls):
            raise ConventionError(f"{target.spec} is not a VESSL runner (a RunnerBase subclass with a static predict)")
        mode = str(parameters.get("vessl_input", "body"))
        if mode not in INPUT_MODES:
            raise ConventionError(f"parameter 'vessl_input' must be one of {', '.join(INPUT_MODES)}, got {mode!r}")
        model_cfg: dict[str, Any] = manifest["model"] if isinstance(manifest.get("model"), dict) else {}
        props = json_param(parameters, "vessl_props")
        if props is None:
            props = model_cfg.get("save_output")
        artifacts = json_param(parameters, "vessl_artifacts")
        if artifacts is None:
            artifacts = manifest.get("artifacts") or {}
        if not isinstance(artifacts, dict):
            raise ConventionError("VESSL artifacts must be a mapping of local path to remote path")
        saved = model_cfg.get("save_path")
        return VesslModel(cls, props, artifacts, folder / saved if saved else None, mode)

    @staticmethod
    def _runner_from_folder(folder: Path, parameters: dict[str, Any]) -> Any:
        spec = parameters.get("vessl_runner")
        if not spec:
            raise ConventionError(
                f"{folder} is a VESSL model folder: name its runner class with the parameter "
                f"vessl_runner=module.Class (seldon_py does not unpickle vessl.runner.pkl)"
            )
        import importlib
        import sys

        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
        module_name, _, cls_name = str(spec).rpartition(".")
        try:
            return getattr(importlib.import_module(module_name), cls_name)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConventionError(f"vessl_runner {spec!r}: {type(exc).__name__}: {exc}") from exc


class VesslModel:
    """A Seldon user object running a VESSL runner class."""

    def __init__(self, runner: Any, props: Any, artifacts: dict[str, str], saved_model: Path | None,
                 input_mode: str = "body") -> None:
        self.runner = runner
        self.props = props
        self.artifacts = artifacts
        self.saved_model = saved_model
        self.input_mode = input_mode
        base = find_base(runner, "RunnerBase")
        self.in_type = input_model(runner)
        # reflect once: which steps the runner really provides (the others are identity)
        self.uses_load_model = overrides(runner, base, "load_model")
        self.pre = runner.preprocess_data if overrides(runner, base, "preprocess_data") else None
        self.post = runner.postprocess_data if overrides(runner, base, "postprocess_data") else None
        self.model: Any = None

    def __repr__(self) -> str:
        return f"VesslModel({self.runner.__module__}.{self.runner.__qualname__})"

    def load(self) -> None:
        if self.uses_load_model:
            self.model = self.runner.load_model(self.props, self.artifacts)
        elif self.saved_model is not None:
            if not self.saved_model.is_file():
                raise ConventionError(f"the VESSL model file {self.saved_model} is missing")
            with open(self.saved_model, "rb") as fh:  # the runner's own registered model, as VESSL does
                self.model = pickle.load(fh)
        logger.info("VESSL runner %s loaded (%s)", self.runner.__qualname__,
                    "load_model" if self.uses_load_model else "no load_model")

    def _input(self, X: Any) -> Any:
        if self.in_type is not None:
            value = X.tolist() if isinstance(X, np.ndarray) else X
            try:
                return self.in_type.model_validate(value)
            except Exception as exc:  # noqa: BLE001 - pydantic.ValidationError, without importing pydantic
                errors = getattr(exc, "errors", None)
                detail = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ())) or '(root)'}: {e.get('msg')}"
                    for e in errors()
                ) if callable(errors) else str(exc)
                raise BadRequest(f"input does not match {self.in_type.__name__}: {detail}") from None
        if self.input_mode == "value":
            return X
        if isinstance(X, (bytes, bytearray)):
            return bytes(X)
        if isinstance(X, str):
            return X.encode("utf-8")
        if isinstance(X, np.ndarray):
            X = X.tolist()
        return json.dumps(X).encode("utf-8")

    def predict(self, X: Any, names: list[str], meta: dict[str, Any] | None = None) -> Any:
        data = self._input(X)
        if self.pre is not None:
            data = self.pre(data)
        out = self.runner.predict(self.model, data)
        if self.post is not None:
            out = self.post(out)
        return as_seldon_result(out)
