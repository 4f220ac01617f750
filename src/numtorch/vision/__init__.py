"""``numtorch.vision``: the layout of torchvision -- ``datasets``, ``transforms``, ``models``, ``utils``,
``ops``.

``import numtorch.vision as torchvision`` then ``torchvision.models.resnet18(weights=None)``,
``torchvision.datasets.MNIST(root)``, ``torchvision.transforms.ToTensor()``,
``torchvision.utils.save_image(batch, "grid.png")``, ``torchvision.ops.nms(boxes, scores, 0.5)``,
``torchvision.io.read_image("cat.png")``.
"""
from numtorch.vision import datasets, transforms, ops, models, utils, io  # noqa: F401

__version__ = "0.28.0+numtorch"
