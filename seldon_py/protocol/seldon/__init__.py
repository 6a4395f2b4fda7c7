"""The Seldon Core 1.x protocol: its handler, payloads, codecs (JSON and protobuf), metadata and
the protobuf wire reader."""
