"""numtorch.vision.models: torchvision's builders, registry, state-dict layout and the weights=None rule.

Oracles: torchvision's published parameter counts (its model documentation tables) and its ResNet /
DenseNet layout as written in the papers and torchvision's source, rebuilt here key by key.
"""
import warnings

import numpy as np
import pytest

import numtorch
import numtorch.vision.models as models
from numtorch import nn

# torchvision's documented "Params" column (weights meta num_params)
PUBLISHED_PARAMS = {
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032, "resnet101": 44_549_160,
    "resnet152": 60_192_808, "resnext50_32x4d": 25_028_904, "resnext101_32x8d": 88_791_336,
    "resnext101_64x4d": 83_455_272, "wide_resnet50_2": 68_883_240, "wide_resnet101_2": 126_886_696,
    "densenet121": 7_978_856, "densenet161": 28_681_000, "densenet169": 14_149_480, "densenet201": 20_013_928,
    "alexnet": 61_100_840, "vgg11": 132_863_336, "vgg11_bn": 132_868_840, "vgg13": 133_047_848,
    "vgg13_bn": 133_053_736, "vgg16": 138_357_544, "vgg16_bn": 138_365_992, "vgg19": 143_667_240,
    "vgg19_bn": 143_678_248, "squeezenet1_0": 1_248_424, "squeezenet1_1": 1_235_496, "mobilenet_v2": 3_504_872,
}
FAST = {"resnet18", "resnet50", "resnext50_32x4d", "densenet121", "squeezenet1_0", "squeezenet1_1", "mobilenet_v2"}


def _count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in FAST else pytest.mark.slow)
                                  for n in PUBLISHED_PARAMS])
def test_parameter_counts_match_torchvision(name):
    assert _count(models.get_model(name)) == PUBLISHED_PARAMS[name]
    assert models.get_model_weights(name).DEFAULT.meta["num_params"] == PUBLISHED_PARAMS[name]


def _bn(prefix, c):
    return {f"{prefix}.weight": (c,), f"{prefix}.bias": (c,), f"{prefix}.running_mean": (c,),
            f"{prefix}.running_var": (c,), f"{prefix}.num_batches_tracked": ()}


def _torchvision_resnet_layout(bottleneck, layers, num_classes=1000, groups=1, width_per_group=64):
    """torchvision/models/resnet.py's state-dict keys and shapes, written out from its definition."""
    exp = 4 if bottleneck else 1
    out = {"conv1.weight": (64, 3, 7, 7), **_bn("bn1", 64)}
    inplanes = 64
    for stage, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers), start=1):
        for i in range(blocks):
            p = f"layer{stage}.{i}"
            stride = 2 if (stage > 1 and i == 0) else 1
            if bottleneck:
                w = int(planes * width_per_group / 64) * groups
                out.update({f"{p}.conv1.weight": (w, inplanes, 1, 1), **_bn(f"{p}.bn1", w),
                            f"{p}.conv2.weight": (w, w // groups, 3, 3), **_bn(f"{p}.bn2", w),
                            f"{p}.conv3.weight": (planes * 4, w, 1, 1), **_bn(f"{p}.bn3", planes * 4)})
            else:
                out.update({f"{p}.conv1.weight": (planes, inplanes, 3, 3), **_bn(f"{p}.bn1", planes),
                            f"{p}.conv2.weight": (planes, planes, 3, 3), **_bn(f"{p}.bn2", planes)})
            if i == 0 and (stride != 1 or inplanes != planes * exp):
                out.update({f"{p}.downsample.0.weight": (planes * exp, inplanes, 1, 1),
                            **_bn(f"{p}.downsample.1", planes * exp)})
            inplanes = planes * exp
    out.update({"fc.weight": (num_classes, 512 * exp), "fc.bias": (num_classes,)})
    return out


def _layout(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name,bottleneck,layers,extra", [
    ("resnet18", False, [2, 2, 2, 2], {}),
    ("resnet34", False, [3, 4, 6, 3], {}),
    ("resnet50", True, [3, 4, 6, 3], {}),
    pytest.param("resnet101", True, [3, 4, 23, 3], {}, marks=pytest.mark.slow),
    pytest.param("resnet152", True, [3, 8, 36, 3], {}, marks=pytest.mark.slow),
    ("resnext50_32x4d", True, [3, 4, 6, 3], {"groups": 32, "width_per_group": 4}),
    pytest.param("wide_resnet50_2", True, [3, 4, 6, 3], {"width_per_group": 128}, marks=pytest.mark.slow),
])
def test_resnet_state_dict_layout_is_torchvisions(name, bottleneck, layers, extra):
    expected = _torchvision_resnet_layout(bottleneck, layers, num_classes=7, **extra)
    got = _layout(models.get_model(name, num_classes=7))
    assert list(got) == list(expected)  # the same keys in the same (registration) order
    assert got == expected


def test_densenet121_layout():
    sd = _layout(models.densenet121(num_classes=5))
    assert sd["features.conv0.weight"] == (64, 3, 7, 7)
    # first dense layer: 64 inputs -> 4*32 bottleneck -> 32 new maps
    assert sd["features.denseblock1.denselayer1.norm1.weight"] == (64,)
    assert sd["features.denseblock1.denselayer1.conv1.weight"] == (128, 64, 1, 1)
    assert sd["features.denseblock1.denselayer1.conv2.weight"] == (32, 128, 3, 3)
    # after block 1: 64 + 6*32 = 256 channels, halved by transition1
    assert sd["features.transition1.conv.weight"] == (128, 256, 1, 1)
    assert sd["features.denseblock4.denselayer16.conv2.weight"] == (32, 128, 3, 3)
    # 1024 channels at the end: ((((64+192)/2 + 384)/2 + 768)/2 + 512)
    assert sd["features.norm5.weight"] == (1024,) and sd["classifier.weight"] == (5, 1024)
    n_layers = sum(1 for k in sd if k.endswith(".conv2.weight"))
    assert n_layers == 6 + 12 + 24 + 16


@pytest.mark.slow  # 138M parameters to allocate
def test_vgg_layout_follows_its_configuration():
    """torchvision's VGG-16 ("D"): features index every conv / ReLU / pool; classifier 0, 3, 6 are linear."""
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    expected, idx, cin = {}, 0, 3
    for v in cfg:
        if v == "M":
            idx += 1
            continue
        expected[f"features.{idx}.weight"], expected[f"features.{idx}.bias"] = (v, cin, 3, 3), (v,)
        idx, cin = idx + 2, v
    expected.update({"classifier.0.weight": (4096, 25088), "classifier.0.bias": (4096,),
                     "classifier.3.weight": (4096, 4096), "classifier.3.bias": (4096,),
                     "classifier.6.weight": (3, 4096), "classifier.6.bias": (3,)})
    from numtorch.vision.models.vgg import VGG, cfgs, make_layers
    assert cfgs["D"] == cfg
    got = _layout(VGG(make_layers(cfg), num_classes=3, init_weights=False))
    assert got == expected and list(got) == list(expected)


def test_mobilenet_v2_blocks():
    m = models.mobilenet_v2(num_classes=4)
    sd = _layout(m)
    assert sd["features.0.0.weight"] == (32, 3, 3, 3)
    assert sd["features.1.conv.0.0.weight"] == (32, 1, 3, 3)          # t = 1: no expansion, depthwise first
    assert sd["features.2.conv.0.0.weight"] == (96, 16, 1, 1)         # t = 6: 16 -> 96
    assert sd["features.2.conv.1.0.weight"] == (96, 1, 3, 3)          # depthwise: groups = 96
    assert sd["features.18.0.weight"] == (1280, 320, 1, 1) and sd["classifier.1.weight"] == (4, 1280)
    assert len(m.features) == 1 + (1 + 2 + 3 + 4 + 3 + 3 + 1) + 1


@pytest.mark.parametrize("name,size", [("resnet18", 64), ("resnet50", 64), ("densenet121", 64),
                                       ("resnext50_32x4d", 32), ("squeezenet1_1", 64), ("mobilenet_v2", 32),
                                       pytest.param("alexnet", 64, marks=pytest.mark.slow),
                                       pytest.param("vgg11_bn", 32, marks=pytest.mark.slow)])
def test_forward_shapes(name, size):
    m = models.get_model(name, num_classes=10).eval()
    with numtorch.no_grad():
        y = m(numtorch.randn(1, 3, size, size))
    assert y.shape == (1, 10) and np.isfinite(y.numpy()).all()


def test_resnet18_trains_one_step():
    numtorch.manual_seed(0)
    m = models.resnet18(num_classes=3)
    x, t = numtorch.randn(2, 3, 32, 32), numtorch.tensor([0, 2])
    loss = nn.functional.cross_entropy(m(x), t)
    loss.backward()
    assert m.conv1.weight.grad.shape == (64, 3, 7, 7) and float(m.fc.weight.grad.abs().sum()) > 0


def test_siamese_style_surgery():
    """conv1 replaced for 1-channel input and fc dropped, as PyTorch's siamese_network example does."""
    r = models.resnet18(weights=None)
    r.conv1 = nn.Conv2d(1, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)
    assert r.fc.in_features == 512
    body = nn.Sequential(*(list(r.children())[:-1]))
    out = body.eval()(numtorch.randn(2, 1, 28, 28))
    assert out.shape == (2, 512, 1, 1)


def test_registry_and_dict_listing():
    names = models.list_models()
    assert {"resnet18", "resnet152", "densenet201", "wide_resnet50_2"} <= set(names)
    assert names == sorted(names)
    assert models.list_models(include="resnet*") == ["resnet101", "resnet152", "resnet18", "resnet34", "resnet50"]
    assert "densenet121" not in models.list_models(exclude=["dense*"])
    assert models.list_models(module=models) == names
    assert models.get_model_builder("ResNet18") is models.resnet18
    with pytest.raises(ValueError, match="Unknown model"):
        models.get_model("no_such_net")
    # PyTorch's imagenet example lists the architectures from models.__dict__
    arch = sorted(n for n in models.__dict__ if n.islower() and not n.startswith("__")
                  and callable(models.__dict__[n]))
    assert set(names) <= set(arch)
    assert models.__dict__["resnet34"]().fc.out_features == 1000


def test_weights_enums_exist_but_nothing_loads():
    from numtorch.vision.models import ResNet18_Weights, ResNet50_Weights
    assert ResNet18_Weights.DEFAULT is ResNet18_Weights.IMAGENET1K_V1
    assert ResNet50_Weights.DEFAULT is ResNet50_Weights.IMAGENET1K_V2
    assert models.get_weight("ResNet50_Weights.IMAGENET1K_V1") is ResNet50_Weights.IMAGENET1K_V1
    assert models.get_model_weights("resnet50") is ResNet50_Weights
    assert models.get_model_weights(models.densenet121) is models.DenseNet121_Weights
    for bad in (ResNet18_Weights.DEFAULT, "IMAGENET1K_V1", "DEFAULT"):
        with pytest.raises(ValueError, match="no pretrained weights"):
            models.resnet18(weights=bad)
    with pytest.raises(ValueError, match="no pretrained weights"):
        models.get_model("densenet121", weights="DEFAULT")
    with pytest.raises(ValueError, match="no pretrained weights"):
        ResNet18_Weights.DEFAULT.get_state_dict(progress=False)


def test_weights_transforms_preset():
    tf = models.ResNet18_Weights.DEFAULT.transforms()
    img = numtorch.full((3, 300, 400), 255, dtype=numtorch.uint8)
    out = tf(img)
    assert out.shape == (3, 224, 224) and out.dtype == numtorch.float32
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(out.numpy()[:, 100, 100], (1 - mean) / std, rtol=1e-5)


def test_legacy_pretrained_keyword():
    with pytest.warns(UserWarning, match="'pretrained' is deprecated"):
        m = models.resnet18(pretrained=False, num_classes=4)
    assert m.fc.out_features == 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="pretrained=True.*no pretrained weights"):
            models.__dict__["resnet50"](pretrained=True)


def test_fixed_options_and_positional_arguments():
    with pytest.raises(ValueError, match="'groups' expected value 32"):
        models.resnext50_32x4d(groups=8)
    with pytest.raises(TypeError, match="positional"):
        models.resnet18(None)
    m = models.resnet18(zero_init_residual=True)
    assert float(m.layer1[0].bn2.weight.abs().sum()) == 0.0


def test_aggregate_imports():
    import numtorch.vision as vision
    from numtorch.vision import datasets, ops, transforms, utils  # noqa: F401
    assert vision.models is models and vision.utils is utils
    assert models.ResNet is numtorch.models.ResNet and models.Bottleneck is numtorch.models.Bottleneck
