"""The protocol-neutral runtime: the user object, its method table, load/readiness, batching and
custom-metrics recording. Nothing here knows a protocol's message shapes."""
