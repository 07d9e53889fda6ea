"""What the two translation families share: how a sentence pair arrives, greedy decoding, and
BLEU, which train records for every trial of a family that defines `extra_metrics`.

A translation example (datasets/translation.py) is x int64 [n, 2, L]: x[:, 0] the source tokens,
x[:, 1] the decoder's input (BOS, then the target shifted right), both padded with PAD = 0. A
family maps x to logits [n, L, vocab] for the next target token at every position, and position
i may depend only on decoder inputs 0..i (teacher forcing trains every position at once).
"""

from __future__ import annotations

import torch

PAD, BOS, EOS = 0, 1, 2  # datasets/translation.py uses the same ids
DECODE_BATCH = 256  # pairs translated at once
# BLEU is reported, not fitted: greedy decoding of a whole test set would cost as much as training
# some trials, so it scores this many test pairs, evenly spaced (the set is in catalog order).
BLEU_PAIRS = 512


def split_pair(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Source tokens [n, L] and decoder input tokens [n, L] of a batch of pairs."""
    return x[:, 0], x[:, 1]


@torch.no_grad()
def greedy(model, source: torch.Tensor) -> list[list[int]]:
    """Each source's most likely translation, one token at a time, until EOS (left out) or L
    tokens. The whole prefix is re-run at each step: simple, and cheap at these lengths."""
    n, length = source.shape
    pairs = torch.full((n, 2, length), PAD, dtype=source.dtype, device=source.device)
    pairs[:, 0] = source
    pairs[:, 1, 0] = BOS
    out = torch.full((n, length), PAD, dtype=source.dtype, device=source.device)
    done = torch.zeros(n, dtype=torch.bool, device=source.device)
    for i in range(length):
        token = model(pairs)[:, i].argmax(-1)
        done |= token == EOS
        out[:, i] = torch.where(done, PAD, token)
        if done.all():
            break
        if i + 1 < length:
            pairs[:, 1, i + 1] = out[:, i]
    return [[t for t in row if t != PAD] for row in out.tolist()]


def extra_metrics(model, x: torch.Tensor, y: torch.Tensor, info: dict) -> dict:
    """BLEU (sacrebleu's corpus BLEU, its default 13a tokenisation, 0-100) of greedy translations
    of (at most BLEU_PAIRS of) the set x against its references y, read back through the study's
    vocabulary."""
    import sacrebleu

    vocab = info["dataset_info"]["vocabulary"]

    def text(ids) -> str:
        return "".join(vocab[t] if t > EOS else "" for t in ids)

    if len(x) > BLEU_PAIRS:
        keep = torch.linspace(0, len(x) - 1, BLEU_PAIRS, device=x.device).long()
        x, y = x[keep], y[keep]
    was_training = model.training
    model.eval()
    hypotheses = []
    for start in range(0, len(x), DECODE_BATCH):
        hypotheses += [text(ids) for ids in greedy(model, x[start:start + DECODE_BATCH, 0])]
    model.train(was_training)
    references = [text(t for t in row if t >= 0) for row in y.tolist()]
    return {"bleu": round(sacrebleu.corpus_bleu(hypotheses, [references]).score, 4)}
