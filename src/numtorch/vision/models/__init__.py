"""``numtorch.vision.models``: the names and builders of ``torchvision.models``.

``models.resnet18(weights=None, num_classes=10)``, ``models.get_model("densenet121")``,
``models.list_models()``; every builder's ``weights`` must be None (no pretrained weights ship), and
the weights enums (``ResNet18_Weights`` ...) exist for code that names them.
"""
from numtorch.vision.models._api import (Weights, WeightsEnum, get_model, get_model_builder,  # noqa: F401
                                         get_model_weights, get_weight, list_models)
from numtorch.vision.models.resnet import *  # noqa: F401,F403
from numtorch.vision.models.densenet import *  # noqa: F401,F403
from numtorch.vision.models.alexnet import *  # noqa: F401,F403
from numtorch.vision.models.vgg import *  # noqa: F401,F403
from numtorch.vision.models.squeezenet import *  # noqa: F401,F403
from numtorch.vision.models.mobilenetv2 import *  # noqa: F401,F403
