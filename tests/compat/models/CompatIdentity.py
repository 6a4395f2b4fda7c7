"""Plain identity model: only predict. Every other endpoint uses the wrapper's fallbacks."""


class CompatIdentity:
    def predict(self, X, names, meta=None):
        return X
