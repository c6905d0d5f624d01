"""Endpoint adapters: one module per wire protocol, registered by name."""
