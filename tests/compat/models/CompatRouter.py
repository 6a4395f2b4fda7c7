"""Router always choosing child 1; no predict (so /predict uses the empty fallback)."""


class CompatRouter:
    def route(self, X, names):
        return 1
