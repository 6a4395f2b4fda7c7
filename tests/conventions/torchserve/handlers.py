"""Handler sources used by the TorchServe tests, written as TorchServe's documentation writes them."""

# The custom handler of TorchServe's docs ("Custom handler with class level entry point"), verbatim
# in shape: __init__ without super(), preprocess reading data[0]["data"] or ["body"].
DOCS_CLASS = '''
from ts.torch_handler.base_handler import BaseHandler


class ModelHandler(BaseHandler):
    """
    A custom model handler implementation.
    """

    def __init__(self):
        self._context = None
        self.initialized = False
        self.explain = False
        self.target = 0

    def initialize(self, context):
        """
        Initialize model. This will be called during model loading time
        :param context: Initial context contains model server system properties.
        :return:
        """
        self._context = context
        self.initialized = True
        self.model_name = context.model_name

    def preprocess(self, data):
        """
        Transform raw input into model input data.
        :param batch: list of raw requests, should match batch size
        :return: list of preprocessed model input data
        """
        # Take the input data and make it inference ready
        preprocessed_data = data[0].get("data")
        if preprocessed_data is None:
            preprocessed_data = data[0].get("body")

        return preprocessed_data

    def inference(self, model_input):
        """
        Internal inference methods
        :param model_input: transformed model input data
        :return: list of inference output in NDArray
        """
        # Do some inference call to engine here and return output
        model_output = {"marker": "ts-class", "model": self.model_name, "input": model_input}
        return model_output

    def postprocess(self, inference_output):
        """
        Return inference result.
        :param inference_output: list of inference output
        :return: list of predict results
        """
        # Take output from network and post-process to desired format
        postprocess_output = [inference_output]
        return postprocess_output

    def handle(self, data, context):
        """
        Invoke by TorchServe for prediction request.
        Do pre-processing of data, prediction using model and postprocessing of prediciton output
        :param data: Input data for prediction
        :param context: Initial context contains model server system properties.
        :return: prediction output
        """
        model_input = self.preprocess(data)
        model_output = self.inference(model_input)
        return self.postprocess(model_output)
'''

# "Custom handler with module level entry point" from TorchServe's docs.
DOCS_MODULE = '''
# module level entry point
import json

_initialized = []


def handle(data, context):
    if not _initialized:
        _initialized.append(context.system_properties["model_dir"])
    if data is None:
        return None
    out = []
    for row in data:
        body = row.get("data") or row.get("body")
        if isinstance(body, (bytes, bytearray)):
            body = body.decode("utf-8")
        out.append({"marker": "ts-module", "echo": body})
    return out
'''

# A BaseHandler subclass overriding preprocess/inference/postprocess, exercising batching, the
# context (headers, response status and content type), PredictionException and metrics.
SCALER = '''
import json

from ts.torch_handler.base_handler import BaseHandler
from ts.utils.util import PredictionException


class Scaler(BaseHandler):
    def initialize(self, context):
        self.context = context
        self.factor = int(context.model_yaml_config.get("handler", {}).get("factor", 10))
        self.batch_size = context.system_properties["batch_size"]
        self.initialized = True

    def preprocess(self, data):
        rows = []
        for row in data:
            body = row.get("data") if row.get("data") is not None else row.get("body")
            if isinstance(body, (bytes, bytearray)):
                body = json.loads(body)
            rows.append(body)
        return rows

    def inference(self, rows):
        metrics = self.context.metrics
        metrics.add_counter("ts_rows", len(rows), None)
        metrics.add_time("ts_batch_ms", 5, None, "ms", [], "HISTOGRAM")
        for row in rows:
            if row == "boom":
                raise RuntimeError("the model exploded")
            if row == "reject":
                raise PredictionException("rejected by the model", 422)
        return rows

    def postprocess(self, rows):
        out = []
        for idx, row in enumerate(rows):
            if row == "teapot":
                self.context.set_response_status(418, "I'm a teapot", idx)
                out.append("short and stout")
            elif row == "text":
                self.context.set_response_content_type(idx, "text/plain")
                out.append("plain text")
            elif row == "header":
                out.append({"header": self.context.get_request_header(idx, "X-Trace")})
            elif isinstance(row, list):
                out.append({"scaled": [v * self.factor for v in row], "batch": len(rows)})
            else:
                out.append({"echo": row, "batch": len(rows)})
        return out
'''

CONFIG_YAML = """
batchSize: 4
maxBatchDelay: 5000
handler:
  factor: 10
"""
