"""Placeholder: optimizers."""
