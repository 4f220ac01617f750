"""Placeholder: ``Module`` is written by the nn family."""


class Module:
    pass
