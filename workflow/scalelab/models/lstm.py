"""A one-layer LSTM language model: token embedding, LSTM, linear read-out, all `width` wide.

Maps tokens [n, L] to next-token logits [n, L, vocab]. Parameters grow as about 8 * width^2 for
the LSTM plus 2 * vocab * width for the embedding and read-out.
"""

from __future__ import annotations

from torch import nn


class LSTMLanguageModel(nn.Module):
    def __init__(self, width: int, vocab: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.lstm = nn.LSTM(width, width, batch_first=True)
        self.out = nn.Linear(width, vocab)

    def forward(self, tokens):
        hidden, _ = self.lstm(self.embed(tokens))
        return self.out(hidden)


def build(width: int, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    return LSTMLanguageModel(width, n_classes)
