"""A two-hidden-layer perceptron on the flattened input."""

from __future__ import annotations

import math

from torch import nn


def build(width: int, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(math.prod(input_shape), width), nn.ReLU(),
        nn.Linear(width, width), nn.ReLU(),
        nn.Linear(width, n_classes),
    )
