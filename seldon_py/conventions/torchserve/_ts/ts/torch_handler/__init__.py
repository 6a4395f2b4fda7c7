"""Stand-in for ``ts.torch_handler``."""
