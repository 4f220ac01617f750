"""Placeholder: serialization."""
