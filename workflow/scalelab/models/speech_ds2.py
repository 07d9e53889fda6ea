"""A small Deep Speech 2 (Amodei et al. 2016): a convolution over the spectrogram, a bidirectional LSTM,
a character read-out trained with CTC. The paper's speech row (Hestness et al. Section 4.3) is DS2.

Input: log-mel features [n, T, n_mels] (datasets/speech.py). One 2-D convolution over (time,
frequency), CHANNELS filters of 5 frames x 9 mel bins with ReLU, striding 2 in time and 4 in
frequency, so T' = ceil(T / 2) steps (DS2's stride 2 for characters: a transcript of at most 24
characters needs far fewer than the 100 steps of a 2 s clip, even with a blank between doubled
letters). Then LAYERS bidirectional LSTM layers of `width` units a direction, and a linear layer to
the characters; output logits [n, T', vocab], id 0 the CTC blank. `width` sizes the recurrent
layers only (the convolution is fixed): parameters grow about as 16 * LAYERS * width^2.

Cheaper than DS2 so that a 2-core CPU can train a study in half an hour: one convolution (DS2 has
two or three), one recurrent layer (DS2 has up to seven), an LSTM rather than DS2's GRU (on one
CPU thread torch's bidirectional LSTM step costs 86 ms against the GRU's 139 ms at width 64, 100
steps, batch 32), no batch norm (batch statistics would make a trial's validation depend on its
batch) and no dropout (early stopping regularises).

Training and evaluation score it with `loss_terms` (the hook in models/__init__.py), not
cross-entropy: CTC loss summed over utterances (torch.nn.functional.ctc_loss over log_softmax,
every utterance's T' steps, targets the transcript's characters), divided by the number of target
characters, so val_loss / test_loss are CTC nats per character (test_bits: bits per character);
errors are the character edit distance of the greedy CTC decode (best id per step, repeats
collapsed, blanks dropped) from the transcript, over the same count, so *_error is the character
error rate (CER), DS2's and the paper's metric for speech. presets/speech.yaml fits test_error
(CER).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from scalelab.datasets import IGNORE  # transcript padding

BLANK = 0  # datasets/speech.py reserves id 0
CHANNELS = 16
KERNEL, STRIDE = (5, 9), (2, 4)  # (time, frequency)
LAYERS = 1


def out_size(n: int, stride: int) -> int:
    """Output length of a convolution padded by half its (odd) kernel."""
    return (n - 1) // stride + 1


class DeepSpeech2(nn.Module):
    def __init__(self, width: int, frames: int, n_mels: int, vocab: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, CHANNELS, KERNEL, stride=STRIDE, padding=(KERNEL[0] // 2, KERNEL[1] // 2)),
                                  nn.ReLU())
        self.rnn = nn.LSTM(CHANNELS * out_size(n_mels, STRIDE[1]), width, num_layers=LAYERS, batch_first=True,
                           bidirectional=True)
        self.out = nn.Linear(2 * width, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.unsqueeze(1))  # [n, channels, T', freq']
        h = h.permute(0, 2, 1, 3).flatten(2)  # [n, T', channels * freq']
        h, _ = self.rnn(h)
        return self.out(h)


def build(width: int, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    if len(input_shape) != 2:
        from scalelab.errors import ScalelabError
        raise ScalelabError(f"models: speech_ds2 needs spectrograms [frames, mel bins], the data's input_shape is "
                            f"{list(input_shape)}; use it with data.dataset: speech")
    frames, n_mels = input_shape
    return DeepSpeech2(width, frames, n_mels, n_classes)


def greedy(logits: torch.Tensor) -> list[list[int]]:
    """Best path decoding: the most likely id per step, repeats collapsed, blanks dropped."""
    decoded = []
    for row in logits.argmax(-1).tolist():
        out, previous = [], None
        for t in row:
            if t != previous and t != BLANK:
                out.append(t)
            previous = t
        decoded.append(out)
    return decoded


def edit_distance(a: list[int], b: list[int]) -> int:
    """Levenshtein distance (substitutions, insertions, deletions each cost 1)."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (x != y))
    return row[-1]


def loss_terms(logits: torch.Tensor, y: torch.Tensor, with_errors: bool = True) -> tuple[torch.Tensor, int, int]:
    """CTC loss summed over the batch (nats), character errors of the greedy decode, target characters."""
    # On the CPU even when training on a GPU: CUDA's CTC backward has no deterministic kernel, and
    # training/loop.py asks torch for deterministic algorithms there. The tensors are small ([T', n, vocab]).
    y = y.cpu()
    lengths = (y != IGNORE).sum(1)
    log_probs = logits.float().log_softmax(-1).transpose(0, 1).cpu()  # [T', n, vocab]
    steps = torch.full((len(y),), log_probs.shape[0], dtype=torch.long)
    # zero_infinity: a transcript that cannot fit in T' steps adds nothing instead of inf.
    loss = F.ctc_loss(log_probs, y.clamp(min=0), steps, lengths, blank=BLANK, reduction="sum", zero_infinity=True)
    errors = 0
    if with_errors:
        targets = [row[:n] for row, n in zip(y.tolist(), lengths.tolist())]
        errors = sum(edit_distance(d, t) for d, t in zip(greedy(logits), targets))
    return loss, errors, int(lengths.sum())
