"""Stand-in for ``ts.utils``."""
