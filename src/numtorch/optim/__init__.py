"""``numtorch.optim``: optimizers (the names of ``torch.optim``) and learning-rate schedulers.

>>> import numtorch as torch
>>> w = torch.tensor([3.0], requires_grad=True)
>>> opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
>>> for _ in range(100):
...     opt.zero_grad()
...     loss = (w * w).sum()
...     loss.backward()
...     opt.step()
"""
from numtorch.optim.optimizer import Optimizer  # noqa: F401
from numtorch.optim.sgd import SGD  # noqa: F401
from numtorch.optim.adagrad import Adagrad  # noqa: F401
from numtorch.optim.rmsprop import RMSprop  # noqa: F401
from numtorch.optim.adadelta import Adadelta  # noqa: F401
from numtorch.optim.adam import Adam, AdamW  # noqa: F401
from numtorch.optim.nadam import NAdam  # noqa: F401
from numtorch.optim.adamax import Adamax  # noqa: F401
from numtorch.optim.radam import RAdam  # noqa: F401
from numtorch.optim import lr_scheduler  # noqa: F401

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "NAdam", "Adamax", "RAdam",
           "lr_scheduler"]
from numtorch.optim.lbfgs import LBFGS  # noqa: F401
__all__.append("LBFGS")
from numtorch.optim.rprop import Rprop  # noqa: F401
from numtorch.optim.asgd import ASGD  # noqa: F401
__all__ += ["Rprop", "ASGD"]
