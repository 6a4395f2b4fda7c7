"""Generated protobuf/gRPC code of the Seldon prediction protocol.

Do not edit: regenerate with ``python scripts/gen_proto.py`` from ``proto/``.

``prediction_pb2`` registers ``seldon.protos.*`` and ``tensorflow.*`` (TensorProto and
friends) in protobuf's default descriptor pool under the file names Seldon Core and
TensorFlow use (``proto/prediction.proto``, ``tensorflow/core/framework/*.proto``).
Such files can be registered only once per process, so if TensorFlow or seldon_core is
installed it is imported first and its registration reused; see ``_compat``.
"""

from seldon_py.proto._compat import preload_foreign_protos as _preload_foreign_protos

_preload_foreign_protos()
