"""Placeholder: data sets."""
