"""``numtorch.viz``: pictures for learners -- activation curves, training curves, softmax bars, and
the autograd graph (``make_dot``, torchviz's names).

matplotlib is optional and imported only when something is drawn (``pip install numtorch[plot]``);
``make_dot`` writes DOT text with no dependency and draws it with Graphviz's ``dot`` program.
"""
from numtorch.viz.plots import *  # noqa: F401,F403
from numtorch.viz.graph import Digraph, make_dot  # noqa: F401
