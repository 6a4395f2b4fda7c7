"""Stand-in for ``ts.metrics``."""
