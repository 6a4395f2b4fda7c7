"""Stand-in for ``ts.torch_handler.base_handler`` (used when it cannot be imported: no
``torchserve``, or no ``torch``).

The same life cycle as TorchServe's ``BaseHandler``: ``initialize`` reads the manifest and loads
``serializedFile`` from the model folder (TorchScript, or ``modelFile``'s single ``nn.Module`` with
a state dict; both need ``torch``), ``handle`` runs ``preprocess`` → ``inference`` →
``postprocess`` (``explain_handle`` when the ``explain`` header is ``"True"``) and records
``HandlerTime``. Without ``torch`` the defaults pass data through unchanged, so subclasses that
override the three steps (the usual custom handler) need no ``torch`` at all.
"""

import importlib
import importlib.util
import logging
import os
import time
from typing import Any

logger = logging.getLogger(__name__)


def _torch() -> Any:
    if importlib.util.find_spec("torch") is None:
        return None
    return importlib.import_module("torch")


class BaseHandler:
    """Base class of TorchServe handlers; override ``preprocess``/``inference``/``postprocess``."""

    def __init__(self) -> None:
        self.model: Any = None
        self.mapping: Any = None
        self.device: Any = None
        self.initialized = False
        self.context: Any = None
        self.model_pt_path: Any = None
        self.manifest: Any = None
        self.map_location: Any = None
        self.explain = False
        self.target = 0
        self.model_yaml_config: Any = {}

    def initialize(self, context: Any) -> None:
        """Load ``serializedFile`` (if the manifest names one) and the label mapping."""
        self.context = context
        if context is not None and getattr(context, "model_yaml_config", None) is not None:
            self.model_yaml_config = context.model_yaml_config
        properties = context.system_properties
        model_dir = properties.get("model_dir") or "."
        torch = _torch()
        gpu = properties.get("gpu_id")
        if torch is not None and gpu is not None and torch.cuda.is_available():
            self.map_location, self.device = "cuda", torch.device(f"cuda:{gpu}")
        else:
            self.map_location = "cpu"
            self.device = torch.device("cpu") if torch is not None else "cpu"
        self.manifest = context.manifest or {}
        model = self.manifest.get("model", {}) if isinstance(self.manifest, dict) else {}
        serialized = model.get("serializedFile")
        if serialized:
            self.model_pt_path = os.path.join(model_dir, serialized)
            if torch is None:
                raise RuntimeError(
                    f"the model file {serialized} needs torch to load: install torch, or override initialize()"
                )
            model_file = model.get("modelFile")
            if model_file:
                self.model = self._load_pickled_model(model_dir, model_file, self.model_pt_path)
            else:
                self.model = torch.jit.load(self.model_pt_path, map_location=self.map_location)
            self.model.eval()
        util = importlib.import_module("ts.utils.util")
        self.mapping = util.load_label_mapping(os.path.join(model_dir, "index_to_name.json"))
        self.initialized = True

    def _load_pickled_model(self, model_dir: str, model_file: str, model_pt_path: str) -> Any:
        import inspect

        torch = _torch()
        module_name = os.path.splitext(os.path.basename(model_file))[0]
        module = importlib.import_module(module_name)
        classes = [c for _, c in inspect.getmembers(module, inspect.isclass) if c.__module__ == module.__name__]
        if len(classes) != 1:
            raise ValueError(f"Expected only one class as model definition. {classes}")
        model: Any = classes[0]()
        state_dict = torch.load(model_pt_path, map_location=self.device, weights_only=True)
        model.load_state_dict(state_dict)
        return model.to(self.device)

    def preprocess(self, data: Any) -> Any:
        torch = _torch()
        return torch.as_tensor(data, device=self.device) if torch is not None else data

    def inference(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        if self.model is None:
            return data
        torch = _torch()
        if torch is None:
            return self.model(data, *args, **kwargs)
        with torch.inference_mode():
            return self.model(data.to(self.device) if hasattr(data, "to") else data, *args, **kwargs)

    def postprocess(self, data: Any) -> Any:
        return data.tolist() if hasattr(data, "tolist") else data

    def explain_handle(self, data_preprocess: Any, raw_data: Any) -> Any:
        return None

    def _is_explain(self) -> bool:
        if self.context and self.context.get_request_header(0, "explain") == "True":
            self.explain = True
            return True
        return False

    def handle(self, data: Any, context: Any) -> Any:
        """``preprocess`` → ``inference`` → ``postprocess`` (or ``explain_handle``); records HandlerTime."""
        start = time.time()
        self.context = context
        pre = self.preprocess(data)
        if self._is_explain():
            output = self.explain_handle(pre, data)
        else:
            output = self.postprocess(self.inference(pre))
        metrics = getattr(context, "metrics", None)
        if metrics is not None:
            metrics.add_time("HandlerTime", round((time.time() - start) * 1000, 2), None, "ms")
        return output
