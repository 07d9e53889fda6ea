"""The 1-D CNN of the MNIST-1D paper: three strided convolutions and a linear read-out."""

from __future__ import annotations

import math

from torch import nn


def build(width: int, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    length = math.prod(input_shape)
    conv_out = length
    for kernel, stride, pad in ((5, 2, 1), (3, 2, 1), (3, 2, 1)):
        conv_out = (conv_out + 2 * pad - kernel) // stride + 1
    return nn.Sequential(
        nn.Flatten(), nn.Unflatten(1, (1, length)),  # any input -> one channel of `length`
        nn.Conv1d(1, width, 5, stride=2, padding=1), nn.ReLU(),
        nn.Conv1d(width, width, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv1d(width, width, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(width * conv_out, n_classes),
    )
