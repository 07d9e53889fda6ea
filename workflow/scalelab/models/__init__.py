"""Model families. A family is a module with:

    def build(width: int, input_shape: tuple[int, ...], n_classes: int) -> torch.nn.Module

`width` is the one size knob the grid searches (models.<family>.width); the number of parameters
it gives is what the model-size law s(m) is fitted on. A classifier maps [n, *input_shape] to
logits [n, n_classes]; a language model maps tokens [n, L] to logits [n, L, n_classes], and
training scores every position (a target of -100 is padding: not scored). A family may also define

    def extra_metrics(model, x, y, info: dict) -> dict[str, float]

which train calls on the test set after training (info is data/pool.json); each value is recorded
as test_<name> in metrics.json, trials.csv, best.csv and the summary (the translators' BLEU).
Built-ins: cnn1d, mlp, cnn2d, lstm, transformer, seq2seq_transformer, seq2seq_lstm; add your own
with `module: <its import path>` under models: in params.yaml.
"""

from __future__ import annotations


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())
