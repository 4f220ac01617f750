"""Small, typical PyTorch programs, each a ``main(torch, seed) -> dict`` run under PyTorch and numtorch.

The same source runs under both frameworks: the framework module is the argument ``torch``.
``tests/test_pytorch_scripts.py`` runs every script twice and compares the returned values.
"""
