"""Generated protobuf/gRPC code of the Seldon prediction protocol.

Do not edit: regenerate with ``python scripts/gen_proto.py`` from ``proto/``.

``prediction_pb2`` registers ``seldon.protos.*`` and ``tensorflow.*`` (TensorProto and
friends) in protobuf's default descriptor pool under the file names Seldon Core and
TensorFlow use (``proto/prediction.proto``, ``tensorflow/core/framework/*.proto``).
Such files can be registered only once per process: if TensorFlow or seldon_core registered
them first, their registration is reused (see ``_compat``). Importing this package imports
nothing else; to make TensorFlow or seldon_core importable *after* it, call
:func:`preload_foreign_protos` first (the server does, before it imports the user's class).
"""

from seldon_py.proto._compat import preload_foreign_protos

__all__ = ["preload_foreign_protos"]
