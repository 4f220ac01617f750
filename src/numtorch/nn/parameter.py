"""Placeholder: ``Parameter`` is written by the nn family."""
