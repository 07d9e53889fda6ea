"""Model families. A family is a module with:

    def build(width: int, input_shape: tuple[int, ...], n_classes: int) -> torch.nn.Module

`width` is the one size knob the grid searches (grid.width); the number of parameters it gives
is what the model-size law s(m) is fitted on. Built-ins: cnn1d, mlp; add your own by naming its
module path in params.yaml (model.family).
"""

from __future__ import annotations


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())
