"""Stand-in for ``torch`` in a process started from a program under ``numtorch run`` (for example by
the ``spawn`` start method): installs the aliases and becomes ``numtorch``."""
import importlib
import sys

from numtorch.run import install_aliases

install_aliases()
sys.modules[__name__] = importlib.import_module("numtorch")
