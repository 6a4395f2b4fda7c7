"""``seldon-core-graph``: run a SeldonDeployment's graph locally (one microservice per node + executor).

:mod:`.spec` resolves nodes to classes (pure), :mod:`.classmap` reads and writes the class-map
file shared with the executor's in-process mode, :mod:`.runner` owns the processes, :mod:`.cli`
parses the command line.
"""
