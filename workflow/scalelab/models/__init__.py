"""Model families. A family is a module with:

    def build(width: int, input_shape: tuple[int, ...], n_classes: int) -> torch.nn.Module

`width` is the one size knob the grid searches (models.<family>.width); the number of parameters
it gives is what the model-size law s(m) is fitted on. A classifier maps [n, *input_shape] to
logits [n, n_classes]; a language model maps tokens [n, L] to logits [n, L, n_classes], and
training scores every position (a target of -100 is padding: not scored). A family may also define

    def extra_metrics(model, x, y, info: dict) -> dict[str, float]

which train calls on the test set after training (info is data/pool.json); each value is recorded
as test_<name> in metrics.json, trials.csv, best.csv and the summary (the translators' BLEU).

A family whose loss is not a cross-entropy per target (CTC for speech, where the output has T'
steps and the transcript fewer characters, unaligned) defines

    def loss_terms(logits, y, with_errors: bool = True) -> tuple[torch.Tensor, int, int]

returning (loss summed over the batch, a differentiable tensor; errors summed over the batch; the
count both are per). Training minimises loss / count and skips the errors (with_errors=False:
they may be costly, e.g. an edit distance); evaluation sums all three over the set and reports
loss / count as *_loss (nats per counted unit; *_bits in bits) and errors / count as *_error.
Without it training and evaluation use the cross-entropy code path, unchanged. speech_ds2 counts
target characters: CTC nats per character and the character error rate.
Built-ins: cnn1d, mlp, cnn2d, lstm, transformer, seq2seq_transformer, seq2seq_lstm, speech_ds2; add your own
with `module: <its import path>` under models: in params.yaml.
"""

from __future__ import annotations


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())
