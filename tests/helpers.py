"""Small models for the `module:` source tests (importable by path: helpers:tiny_cnn)."""

import torch
from torch import nn


def tiny_cnn(num_classes: int = 5, width: int = 8):
    net = nn.Sequential(
        nn.Conv2d(3, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, width, 3, stride=2, padding=1), nn.GELU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, int(num_classes)),
    )
    net.preprocessing = {"image_size": 32}
    return net


def not_a_module():
    return 42


class _Outlier(nn.Module):
    """Two 1x1 convs whose middle activation has one channel 1000x the others: int8 per-tensor activations
    keep only that channel, so this block, and no other, ruins the int8 model (the int8-sensitivity tests'
    known culprit)."""

    def __init__(self, width: int):
        super().__init__()
        self.expand = nn.Conv2d(width, width, 1)
        self.shrink = nn.Conv2d(width, width, 1)
        with torch.no_grad():
            self.expand.weight[0] *= 1000
            self.expand.bias[0] *= 1000
            self.shrink.weight[:, 0] /= 1000

    def forward(self, x):
        return self.shrink(self.expand(x))


class OutlierCnn(nn.Module):
    def __init__(self, num_classes: int, width: int):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1), nn.ReLU())
        self.blocks = nn.Sequential(
            nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU()),
            _Outlier(width),
            nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU()),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def outlier_cnn(num_classes: int = 10, width: int = 16):
    torch.manual_seed(0)
    net = OutlierCnn(int(num_classes), int(width))
    net.preprocessing = {"image_size": 32}
    return net
