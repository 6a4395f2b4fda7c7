class IdentityModel:
    def predict(self, X, names, meta=None):
        return X
