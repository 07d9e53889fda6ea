"""A Transformer encoder-decoder translator (Vaswani et al. 2017, pre-norm), `width` wide.

Two encoder and two decoder layers, heads of 32 dimensions (one head below width 64), feed-forward
blocks 4 x width, one embedding shared by source, decoder input and read-out vocabulary (one
character set), learned positions, no dropout (early stopping regularises). Padding is masked as a
key everywhere; the decoder is causal. Maps pairs [n, 2, L] to logits [n, L, vocab] (seq2seq.py).
"""

from __future__ import annotations

import torch
from torch import nn

from .seq2seq import PAD, extra_metrics, split_pair  # noqa: F401  (extra_metrics: BLEU, recorded by train)
from .transformer import heads_for

LAYERS = 2


class TransformerTranslator(nn.Module):
    def __init__(self, width: int, length: int, vocab: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, width, padding_idx=PAD)
        self.source_position = nn.Parameter(torch.zeros(length, width))
        self.target_position = nn.Parameter(torch.zeros(length, width))
        nn.init.normal_(self.source_position, std=0.02)
        nn.init.normal_(self.target_position, std=0.02)
        layer = dict(d_model=width, nhead=heads_for(width), dim_feedforward=4 * width, dropout=0.0,
                     activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer), LAYERS, norm=nn.LayerNorm(width),
                                             enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(**layer), LAYERS, norm=nn.LayerNorm(width))
        self.out = nn.Linear(width, vocab)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(length), persistent=False)

    def forward(self, x):
        source, target = split_pair(x)
        length = target.shape[1]
        source_pad = source == PAD
        memory = self.encoder(self.embed(source) + self.source_position[:source.shape[1]],
                              src_key_padding_mask=source_pad)
        h = self.decoder(self.embed(target) + self.target_position[:length], memory,
                         tgt_mask=self.mask[:length, :length], tgt_is_causal=True,
                         memory_key_padding_mask=source_pad)
        return self.out(h)


def build(width: int, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    _, length = input_shape
    return TransformerTranslator(width, length, n_classes)
