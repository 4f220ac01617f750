"""``numtorch.viz``: plots for learners (activation curves, training curves, softmax bars).

matplotlib is optional and imported only when something is drawn (``pip install numtorch[plot]``).
"""
from numtorch.viz.plots import *  # noqa: F401,F403
