"""Generated code; see seldon_py.proto."""
