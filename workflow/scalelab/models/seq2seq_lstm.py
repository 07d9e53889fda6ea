"""An LSTM encoder-decoder translator with attention (Luong et al. 2015, global dot attention),
`width` wide.

One embedding shared by both languages (one character set); a one-layer LSTM encoder, packed so
padding never enters its state; a one-layer LSTM decoder that starts from the encoder's final
state; at every target position, dot-product attention over the source (padding masked), and the
read-out from tanh(W [decoder state; context]). Attention comes after the decoder LSTM (no input
feeding), so teacher forcing trains all positions in one pass, and position i sees only decoder
inputs 0..i. Maps pairs [n, 2, L] to logits [n, L, vocab] (seq2seq.py).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .seq2seq import PAD, extra_metrics, split_pair  # noqa: F401  (extra_metrics: BLEU, recorded by train)


class LSTMTranslator(nn.Module):
    def __init__(self, width: int, vocab: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, width, padding_idx=PAD)
        self.encoder = nn.LSTM(width, width, batch_first=True)
        self.decoder = nn.LSTM(width, width, batch_first=True)
        self.combine = nn.Linear(2 * width, width)
        self.out = nn.Linear(width, vocab)

    def forward(self, x):
        source, target = split_pair(x)
        lengths = (source != PAD).sum(1).clamp(min=1)
        packed = pack_padded_sequence(self.embed(source), lengths.cpu(), batch_first=True, enforce_sorted=False)
        memory, state = self.encoder(packed)
        memory, _ = pad_packed_sequence(memory, batch_first=True, total_length=source.shape[1])
        h, _ = self.decoder(self.embed(target), state)
        scores = h @ memory.transpose(1, 2)  # [n, target L, source L]
        scores = scores.masked_fill((source == PAD)[:, None, :], float("-inf"))
        context = torch.softmax(scores, -1) @ memory
        return self.out(torch.tanh(self.combine(torch.cat([h, context], -1))))


def build(width: int, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    return LSTMTranslator(width, n_classes)
