"""seldon_py's stand-in for TorchServe's ``ts`` package (used when ``torchserve`` is not installed)."""

__version__ = "0.12.0"
