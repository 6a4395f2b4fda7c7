"""health_status returns a dict; init_metadata returns a valid metadata dict; predict is identity."""


class CompatHealthMeta:
    def predict(self, X, names, meta=None):
        return X

    def health_status(self):
        return {"status": "ok", "load": [1, 2.5]}

    def init_metadata(self):
        return {
            "name": "my-model",
            "versions": ["v1"],
            "platform": "sk",
            "inputs": [{"messagetype": "tensor", "schema": {"names": ["a", "b"], "shape": [2]}}],
            "outputs": [{"name": "out", "datatype": "FP32", "shape": [1]}],
            "custom": {"author": "me"},
        }
