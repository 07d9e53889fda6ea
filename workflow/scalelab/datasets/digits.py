"""scikit-learn's 8x8 digits (1,797 images, shipped with the package): a tiny smoke-test dataset.

Prefix-stable: make(n, seed) is the first n images of one seeded permutation of all 1,797, so
make(m, seed) is make(n, seed)[:m] for every m < n."""

from __future__ import annotations

import numpy as np

N_CLASSES = 10
AVAILABLE = 1797


def make(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.target))[:n]
    x = (digits.data[order] / 16.0).astype(np.float32)  # pixel values 0..16 -> 0..1
    return x, digits.target[order].astype(np.int64)
