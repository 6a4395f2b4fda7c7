"""Transformer without predict: input x2, output x3."""


class CompatTransformer:
    def transform_input(self, X, names, meta=None):
        return X * 2

    def transform_output(self, X, names, meta=None):
        return X * 3
