"""Transports: thin adapters (REST, gRPC) from the network to the protocol handlers."""
