"""``torch.version``: the version of numtorch."""
__version__ = "0.1.0"
