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
