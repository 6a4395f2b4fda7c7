"""Inference graphs without I/O: the spec (:mod:`.spec`), the messages passed between nodes
(:mod:`.messages`), the walker (:mod:`.walker`) and the built-in implementations (:mod:`.builtins`).
The executor (:mod:`seldon_py.executor`) supplies the node callers that do the I/O."""
