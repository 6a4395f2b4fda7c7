"""seldon_py's equivalents of the parts of TorchServe's ``ts`` package that handlers import.

Served as the top-level ``ts`` modules only where the real ones cannot be imported (see
:mod:`seldon_py.conventions.torchserve.loader`); never put on ``sys.path`` directly.
"""
