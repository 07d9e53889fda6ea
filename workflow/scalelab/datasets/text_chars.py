"""Character-level language modelling on UTF-8 text: bytes are the tokens (a vocabulary of 256).

Sizes (data.val_size, test_size and the shards) count characters, strictly bytes:
identical for ASCII text such as source code. The metric to fit is bits per character
(fit.metric: test_bits). See text.py for how files are held out and cut into windows.

Options (data.options in params.yaml), each with a default:
    files    null   a glob of UTF-8 files (e.g. 'corpus/**/*.txt'); null: the Python standard library
    context  128    characters per training window
"""

from __future__ import annotations

import numpy as np

from . import text

N_CLASSES = 256
UNIT = "characters"
LOSS_PER = "character"  # a loss value is the mean over next-character predictions


def make_splits(sizes: dict, seed: int, files: str | None = None, context: int = 128) -> dict:
    context = text.check_context(sizes, context, UNIT)
    dealt, info, pool_info = text.deal_files(sizes, seed, files, lambda s: list(s.encode("utf-8")), UNIT)
    made = {s: text.windows(np.asarray(dealt.items[s], dtype=np.uint8), context) for s in text.SPLIT_ORDER}
    return {**made, "n_classes": N_CLASSES, "tokens_per_example": context, "info": {**info, "context": context},
            "pool_info": pool_info}
