"""The graph executor (``seldon-core-executor``): serves a SeldonDeployment predictor's graph over
REST and gRPC, calling each node remotely (:mod:`.clients`), in this process (:mod:`.inprocess`) or
as a built-in; walking is :mod:`seldon_py.graph`'s. Composition root: :mod:`.main`."""
