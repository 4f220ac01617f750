"""The model registry and weights enums of ``torchvision.models``, without any shipped weights.

torchvision's builders take ``weights=`` an enum member such as ``ResNet18_Weights.DEFAULT``.  numtorch
ships no pretrained parameters, so the enums exist (``from numtorch.vision.models import
ResNet18_Weights`` works, ``.DEFAULT.meta`` and ``.transforms()`` can be read) but every builder accepts
only ``weights=None``; anything else raises one ``ValueError`` that says so.  Trained parameters of
your own load as usual: ``model.load_state_dict(numtorch.load(path))``.

>>> from numtorch.vision import models
>>> "resnet18" in models.list_models()
True
>>> models.get_model("resnet18", num_classes=10).fc.out_features
10
"""
from __future__ import annotations

import fnmatch
import functools
import sys
import warnings
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Optional

__all__ = ["Weights", "WeightsEnum", "register_model", "list_models", "get_model", "get_model_builder",
           "get_model_weights", "get_weight"]

BUILTIN_MODELS: dict = {}


@dataclass(eq=False)
class Weights:
    """What torchvision attaches to a weights enum member: ``url``, a ``transforms`` factory, ``meta``.

    ``url`` is always None here (nothing to download); ``eq=False`` keeps two members with equal fields
    distinct (``IMAGENET1K_V1`` and ``IMAGENET1K_V2``), while ``DEFAULT = IMAGENET1K_V1`` is an alias.
    """

    url: Optional[str]
    transforms: Callable
    meta: dict = field(default_factory=dict)


class WeightsEnum(Enum):
    """Base of ``ResNet18_Weights`` and friends: members are named as in torchvision, none is loadable."""

    @classmethod
    def verify(cls, obj: Any) -> Any:
        """torchvision's check of a ``weights`` argument; here every non-None value is refused."""
        _check_no_weights(obj, cls.__name__)
        return obj

    def get_state_dict(self, *args: Any, **kwargs: Any) -> dict:
        _check_no_weights(self, type(self).__name__)
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self._name_}"

    @property
    def url(self):
        return self.value.url

    @property
    def transforms(self):
        return self.value.transforms

    @property
    def meta(self):
        return self.value.meta


def _check_no_weights(weights: Any, builder: str, argument: str = "") -> None:
    """Raises the one clear error for any ``weights`` other than None (``argument``: how it was asked for)."""
    if weights is None:
        return
    raise ValueError(
        f"{builder}: {argument or f'weights={weights!r}'}: numtorch ships no pretrained weights, only "
        f"weights=None is supported. Build the model untrained, or load parameters you have locally with "
        f"model.load_state_dict(numtorch.load(path))")


def handle_weights(builder: Callable) -> Callable:
    """Wraps a builder: refuses ``weights`` other than None; maps the legacy ``pretrained`` keyword.

    As torchvision, ``pretrained=...`` (deprecated since torchvision 0.13) warns; ``pretrained=True``
    means the default weights and therefore raises the same error as ``weights=...DEFAULT``.
    """
    @functools.wraps(builder)
    def wrapper(*args: Any, **kwargs: Any):
        if args:
            raise TypeError(f"{builder.__name__}() takes 0 positional arguments but {len(args)} were given "
                            f"(pass weights=None, progress=..., and model options by keyword)")
        if "pretrained" in kwargs:
            pretrained = kwargs.pop("pretrained")
            warnings.warn("The parameter 'pretrained' is deprecated since 0.13 and may be removed in the "
                          "future, please use 'weights' instead.", UserWarning, stacklevel=2)
            if pretrained:
                _check_no_weights(True, builder.__name__, f"pretrained={pretrained!r}")
        _check_no_weights(kwargs.get("weights"), builder.__name__)
        return builder(**kwargs)
    return wrapper


def register_model(name: Optional[str] = None) -> Callable:
    """Decorator adding a builder to the registry that ``list_models`` and ``get_model`` read."""
    def wrapper(fn: Callable) -> Callable:
        key = name if name is not None else fn.__name__
        if key in BUILTIN_MODELS:
            raise ValueError(f"An entry is already registered under the name '{key}'.")
        BUILTIN_MODELS[key] = fn
        return fn
    return wrapper


def list_models(module=None, include=None, exclude=None) -> list:
    """Sorted names of the registered builders, optionally of one module and filtered by glob patterns.

    Args:
        module: e.g. ``numtorch.vision.models`` (all classification models; the only module numtorch has).
        include, exclude: a glob pattern or a list of them (``"resnet*"``), as torchvision.
    """
    names = [k for k, v in BUILTIN_MODELS.items()
             if module is None or v.__module__.rsplit(".", 1)[0] == module.__name__]
    if include:
        include = [include] if isinstance(include, str) else include
        names = [n for n in names if any(fnmatch.fnmatch(n, p) for p in include)]
    if exclude:
        exclude = [exclude] if isinstance(exclude, str) else exclude
        names = [n for n in names if not any(fnmatch.fnmatch(n, p) for p in exclude)]
    return sorted(names)


def get_model_builder(name: str) -> Callable:
    """The builder function registered under ``name`` (lower case)."""
    name = name.lower()
    try:
        return BUILTIN_MODELS[name]
    except KeyError:
        raise ValueError(f"Unknown model {name}") from None


def get_model(name: str, **config: Any):
    """``get_model("resnet50", weights=None, num_classes=10)``: builds the named model."""
    return get_model_builder(name)(**config)


def get_model_weights(name) -> type:
    """The weights enum class of a builder, given its name or the builder itself."""
    fn = get_model_builder(name) if isinstance(name, str) else name
    enum = getattr(fn, "_weights_enum", None)
    if enum is None:
        raise ValueError(f"The weight enum for the model builder {getattr(fn, '__name__', fn)} couldn't be "
                         "found.")
    return enum


def get_weight(name: str) -> WeightsEnum:
    """An enum member from its full name: ``get_weight("ResNet50_Weights.IMAGENET1K_V2")``."""
    try:
        enum_name, value_name = name.split(".")
    except ValueError:
        raise ValueError(f"Invalid weight name provided: '{name}'.") from None
    models = sys.modules["numtorch.vision.models"]
    enum = getattr(models, enum_name, None)
    if not (isinstance(enum, type) and issubclass(enum, WeightsEnum)):
        raise ValueError(f"The weight enum '{enum_name}' for the specific method couldn't be retrieved.")
    try:
        return enum[value_name]
    except KeyError:
        raise ValueError(f"Unknown weight name {value_name!r} in {enum_name}") from None


def weights_enum(name: str, members: dict, crop_size: int = 224, resize_size: int = 256) -> type:
    """Makes ``<name>(WeightsEnum)`` with torchvision's member names; ``members`` maps name -> meta.

    The first member is also ``DEFAULT`` unless ``members`` names ``"DEFAULT"`` as an alias key
    (its value then is the name of the member it stands for).
    """
    from numtorch.vision.transforms._presets import ImageClassification
    default = members.pop("DEFAULT", next(iter(members)))
    values = {}
    for member, meta in members.items():
        tf = functools.partial(ImageClassification, crop_size=crop_size, resize_size=resize_size)
        values[member] = Weights(url=None, transforms=tf, meta=dict(meta))
    values["DEFAULT"] = values[default]
    enum = WeightsEnum(name, values)
    enum.__module__ = "numtorch.vision.models"
    return enum


def builder_with_weights(enum: type) -> Callable:
    """Decorator: registers the builder, records its weights enum, wraps it with ``handle_weights``."""
    def wrapper(fn: Callable) -> Callable:
        wrapped = handle_weights(fn)
        wrapped._weights_enum = enum
        register_model()(wrapped)
        return wrapped
    return wrapper
