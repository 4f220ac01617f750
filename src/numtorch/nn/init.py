"""Placeholder: ``numtorch.nn.init`` is written by the nn family."""
