"""A small decoder-only Transformer language model (GPT-style, pre-norm), `width` wide.

Two layers, heads of 32 dimensions (one head below width 64), a feed-forward block 4 x width,
learned position embeddings for the context length, no dropout (early stopping regularises), and
a causal mask so position i sees only tokens 0..i. Maps tokens [n, L] to logits [n, L, vocab].
"""

from __future__ import annotations

import torch
from torch import nn

LAYERS = 2
HEAD_DIM = 32


def heads_for(width: int) -> int:
    heads = max(1, width // HEAD_DIM)
    return heads if width % heads == 0 else 1


class TransformerLanguageModel(nn.Module):
    def __init__(self, width: int, context: int, vocab: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.position = nn.Parameter(torch.zeros(context, width))
        nn.init.normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(width, heads_for(width), dim_feedforward=4 * width, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, vocab)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(context), persistent=False)

    def forward(self, tokens):
        length = tokens.shape[1]
        h = self.embed(tokens) + self.position[:length]
        h = self.blocks(h, mask=self.mask[:length, :length], is_causal=True)
        return self.out(self.norm(h))


def build(width: int, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    (context,) = input_shape
    return TransformerLanguageModel(width, context, n_classes)
