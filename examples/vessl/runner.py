"""A VESSL runner, written as VESSL's documentation writes them (no seldon_py import)."""

import json

import vessl


class LinearRunner(vessl.RunnerBase):
    @staticmethod
    def load_model(props, artifacts):
        # props: what save_model returned at registration, read from vessl.manifest.yaml
        return [float(w) for w in json.loads(props["weights"])]

    @staticmethod
    def preprocess_data(data):
        # data: the request body as bytes, as VESSL's server passes it
        return json.loads(data.decode())

    @staticmethod
    def predict(model, data):
        return [sum(w * x for w, x in zip(model, row, strict=True)) for row in data]

    @staticmethod
    def postprocess_data(data):
        return {"predictions": data}
