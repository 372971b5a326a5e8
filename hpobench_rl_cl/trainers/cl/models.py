"""Networks for CL trials, registered by name. Each has ``features`` and ``classifier`` parts
(iCaRL needs them apart) and a single head over every class of the scenario (class-incremental)."""

from __future__ import annotations

from typing import Callable

from torch import nn

from ...registry import Registry
from .data import DatasetInfo

CL_MODELS: Registry[Callable[[DatasetInfo], nn.Module]] = Registry("CL model", "hpobench_rl_cl.cl_models")


class SplitNet(nn.Module):
    """``classifier(features(x))``."""

    def __init__(self, features: nn.Module, width: int, classes: int) -> None:
        super().__init__()
        self.features = features
        self.classifier = nn.Linear(width, classes)

    def forward(self, x):
        return self.classifier(self.features(x))


@CL_MODELS.register("mlp")
def mlp(info: DatasetInfo, hidden: int = 256) -> nn.Module:
    inputs = info.channels * info.image_size ** 2
    features = nn.Sequential(nn.Flatten(), nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
    return SplitNet(features, hidden, info.classes)


@CL_MODELS.register("small-cnn")
def small_cnn(info: DatasetInfo) -> nn.Module:
    """Two conv blocks with batch norm and a hidden layer, sized so that a CL trial of the offline
    default takes seconds on one CPU core (strided convolutions: CPU max-pooling cost more than the
    convolutions themselves)."""

    def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    side = info.image_size // 4
    features = nn.Sequential(*block(info.channels, 32, 2), *block(32, 64, 2), nn.Flatten(),
                             nn.Linear(64 * side * side, 128), nn.ReLU())
    return SplitNet(features, 128, info.classes)


@CL_MODELS.register("resnet18-cifar")
def resnet18_cifar(info: DatasetInfo) -> nn.Module:
    """torchvision's ResNet-18 with the CIFAR stem (3x3 stride-1 first conv, no max-pool)."""
    from torchvision.models import resnet18

    net = resnet18(num_classes=info.classes)
    net.conv1 = nn.Conv2d(info.channels, 64, 3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    width = net.fc.in_features
    net.fc = nn.Identity()
    return SplitNet(net, width, info.classes)
