"""Word-level language modelling on UTF-8 text, the paper's word-LM row.

Words are runs of letters, digits and underscores; every other non-space character is a word of
its own (so code and prose both tokenize sensibly). The vocabulary is built from the whole pool
side of the corpus (every file validation and test did not take, read to the end), never from
held-out text and never from just the pool drawn, so it does not change when the pool grows: the
`vocab_size - 1` most frequent pool-side words that occur at least `min_count` times (ties broken
alphabetically, so it is deterministic), plus one `<unk>` token (id 0) for every other word.
Sizes (data.val_size, test_size, shards) count words. See text.py for how files are held out and
cut into windows.

Options (data.options in params.yaml), each with a default:
    files       null   a glob of UTF-8 files; null: the Python standard library's sources
    context     64     words per training window
    vocab_size  8192   output classes, <unk> included (the softmax dominates a small model's cost)
    min_count   2      rarer pool-side words become <unk>
"""

from __future__ import annotations

import collections
import hashlib
import re

import numpy as np

from . import text

UNIT = "words"
LOSS_PER = "word"  # a loss value is the mean over next-word predictions
UNK = "<unk>"
WORD = re.compile(r"\w+|[^\w\s]")


def tokenize(s: str) -> list[str]:
    return WORD.findall(s)


def vocabulary(words: list[str], vocab_size: int, min_count: int) -> list[str]:
    """<unk> first, then the most frequent of `words` (the pool side's), most frequent first."""
    counts = collections.Counter(words)
    kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return [UNK] + kept[:vocab_size - 1]


def make_splits(sizes: dict, seed: int, files: str | None = None, context: int = 64,
                vocab_size: int = 8192, min_count: int = 2) -> dict:
    context = text.check_context(sizes, context, UNIT)
    text.check_whole_number("vocab_size", vocab_size, 2, 8192)
    text.check_whole_number("min_count", min_count, 1, 2)
    dealt, info, pool_info = text.deal_files(sizes, seed, files, tokenize, UNIT, whole_pool=True)
    vocab = vocabulary(dealt.side, vocab_size, min_count)
    ids = {w: i for i, w in enumerate(vocab)}
    made, unk_rate = {}, {}
    for split in text.SPLIT_ORDER:
        words = dealt.items[split]
        stream = np.fromiter((ids.get(w, 0) for w in words), dtype=np.int64, count=len(words))
        made[split] = text.windows(stream, context)
        unk_rate[split] = round(float((stream == 0).mean()), 6) if len(stream) else 0.0
    digest = hashlib.sha256("\n".join(vocab).encode("utf-8")).hexdigest()
    info = {**info, "context": context, "vocab_size": len(vocab), "min_count": min_count,
            "pool_side_words": len(dealt.side),  # what the vocabulary was counted over
            "unk_rate": {s: unk_rate[s] for s in text.HELD_OUT}, "vocab_sha256": digest, "most_frequent": vocab[1:11]}
    return {**made, "n_classes": len(vocab), "tokens_per_example": context, "info": info,
            "pool_info": {**pool_info, "unk_rate": unk_rate["pool"]}}
