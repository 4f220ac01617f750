"""Placeholder: data loading."""
