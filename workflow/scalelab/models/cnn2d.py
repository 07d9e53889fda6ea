"""A small VGG-style 2-D CNN for images such as CIFAR-10: two blocks of two 3x3 convolutions
(width, then 2 x width channels), each block ending in 2x2 max pooling, then a global average over
the remaining positions and a linear read-out.

`width` scales every layer, so parameters grow about as width^2 (w16: 17k, w32: 66k, w64: 261k; w128: 1.0M).
Global average pooling instead of a flattening layer keeps the read-out independent of the image
size, and is taken as a plain mean: nn.AdaptiveAvgPool2d's CUDA backward has no deterministic
implementation and would fail under torch.use_deterministic_algorithms (training/loop.py sets it on GPUs).
Weights and activations are kept channels-last (NHWC): on one CPU thread (oneDNN) a training step
is about twice as fast as in the default NCHW layout, and results stay deterministic.
"""

from __future__ import annotations

import torch
from torch import nn


class CNN2d(nn.Module):
    def __init__(self, width: int, channels: int, n_classes: int):
        super().__init__()
        w, w2 = width, 2 * width
        self.features = nn.Sequential(
            nn.Conv2d(channels, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(w, w2, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w2, w2, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Linear(w2, n_classes)
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)  # a no-op when it already is
        return self.head(self.features(x).mean(dim=(2, 3)))


def build(width: int, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    if len(input_shape) == 2:  # [height, width]: one grey channel
        return nn.Sequential(nn.Unflatten(1, (1, input_shape[0])), CNN2d(width, 1, n_classes))
    if len(input_shape) != 3:
        from scalelab.errors import ScalelabError
        raise ScalelabError(f"models: cnn2d needs images [channels, height, width], the data's input_shape is "
                            f"{list(input_shape)}; pick another family (mlp, cnn1d) for this dataset")
    return CNN2d(width, input_shape[0], n_classes)
