"""Registration of the generated proto files in protobuf's default descriptor pool.

Not generated; the generated ``*_pb2`` modules call :func:`add_serialized_file` instead of
``descriptor_pool.Default().AddSerializedFile`` (``scripts/gen_proto.py`` rewrites that line).

Why: the default pool refuses a second file with the same name or symbols but different content
(upb: ``TypeError: Couldn't build proto file into descriptor pool: duplicate file name
tensorflow/core/framework/tensor_shape.proto``). Our files use the real names
(``proto/prediction.proto``, ``tensorflow/core/framework/*.proto``), as do Seldon Core's
``seldon_core.proto`` and TensorFlow's own ``tensorflow.core.framework`` modules. So when one of
those registered a file first, we reuse its descriptors (and so its message classes) instead of
failing, after checking that every message and field we define exists there with the same number
and type (extra fields on their side are fine: the wire format is the same).

The other order — ``seldon_py.proto`` first, then TensorFlow or ``seldon_core.proto`` — fails
inside *their* import, which we cannot change. :func:`preload_foreign_protos` imports those
packages' proto modules first when they are installed; it is an explicit step, never an import
side effect: the server's composition root takes it before it imports the user's class (which
may import TensorFlow at any later time), a library user who needs it calls it.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool

log = logging.getLogger(__name__)

#: Modules that register the same proto files as we do, imported first when installed.
#: TensorFlow before seldon_core: seldon_core.proto itself imports TensorFlow's modules first.
FOREIGN_PROTO_MODULES = ("tensorflow.core.framework.tensor_pb2", "seldon_core.proto.prediction_pb2")


def preload_foreign_protos() -> None:
    """Import the :data:`FOREIGN_PROTO_MODULES` that are installed, ignoring any failure."""
    for module in FOREIGN_PROTO_MODULES:
        top = module.partition(".")[0]
        if module in sys.modules:
            continue
        try:
            if top not in sys.modules and importlib.util.find_spec(top) is None:
                continue
            importlib.import_module(module)
        except Exception as exc:  # a broken or partial install must not stop us
            log.debug("not preloading %s: %r", module, exc)


def _check_compatible(ours: descriptor_pb2.FileDescriptorProto) -> None:
    def walk(prefix: str, messages: Any) -> None:
        for msg in messages:
            full_name = f"{prefix}.{msg.name}"
            try:
                existing = pool.FindMessageTypeByName(full_name)
            except KeyError:
                raise ImportError(
                    f"{ours.name} is already registered in protobuf's default descriptor pool "
                    f"(by another package) without message {full_name}; cannot share it"
                ) from None
            for field in msg.field:
                other = existing.fields_by_number.get(field.number)
                if other is not None and (other.name != field.name or other.type != field.type):
                    raise ImportError(
                        f"{ours.name} is already registered in protobuf's default descriptor pool "
                        f"(by another package) with field {full_name}.{other.name} = {field.number} "
                        f"of another name or type than ours ({field.name}); cannot share it"
                    )
            walk(full_name, msg.nested_type)

    pool = descriptor_pool.Default()
    walk(ours.package, ours.message_type)


def add_serialized_file(serialized: bytes) -> Any:
    """``descriptor_pool.Default().AddSerializedFile``, reusing a compatible earlier registration."""
    pool = descriptor_pool.Default()
    ours = descriptor_pb2.FileDescriptorProto.FromString(serialized)
    try:
        existing = pool.FindFileByName(ours.name)
    except KeyError:
        try:
            return pool.AddSerializedFile(serialized)
        except TypeError as exc:  # e.g. "duplicate symbol" from a file of another name
            exc.add_note(
                f"seldon_py: {ours.name} (package {ours.package}) clashes with protos that another "
                "package registered in protobuf's default descriptor pool; see seldon_py/proto/_compat.py"
            )
            raise
    if existing.serialized_pb != serialized:
        _check_compatible(ours)
        log.debug("reusing %s already registered by another package", ours.name)
    return existing
