"""Datasets. A dataset is a module with:

    N_CLASSES: int                 # classes
    AVAILABLE: int | None          # how many examples exist (None: unlimited, generated)
    UNIT = "examples"              # optional: what params' sizes count ("characters", "words")
    LOSS_PER = "example"           # optional: what one loss value is averaged over ("character"): a
                                   # fact of its own, not the size unit (translation counts pairs,
                                   # its loss is per target character)
    def make(n: int, seed: int, **options) -> tuple[np.ndarray, np.ndarray]:
        '''n examples (x float32 of shape [n, ...], y int64 class ids), deterministic in seed.'''

`scalelab prepare` splits the n = pool + val + test examples into the three sets with one seeded
permutation. `options` is params.yaml's data.options, passed as keyword arguments.

A dataset that must hold data out its own way (text by whole file, CIFAR-10's own test batch)
defines instead (and needs neither N_CLASSES nor AVAILABLE: it reports the one and checks the other)

    def make_splits(sizes: dict[str, int], seed: int, **options) -> dict:
        '''sizes: {"pool", "val", "test"} in UNITs. Returns {"pool": (x, y), "val": (x, y),
        "test": (x, y), "n_classes": int, "tokens_per_example": int, "info": {...}}: split s
        holds sizes[s] // tokens_per_example examples; info is small JSON for data/pool.json.'''

For a language model an example is L tokens, x int64 [n, L] and y the next token at each
position (int64 [n, L]); tokens_per_example is L, so shards count tokens (characters, words).
A target of -100 is padding (a translation that ended before L): it is neither trained on nor
scored (translation.py: x [n, 2, L] holds the source and the decoder's input).

speech.py: x float32 [n, frames, mel bins] (log-mel features of one utterance), y int64 [n, L]
its transcript's characters, padded with -100; id 0 is the CTC blank (models/speech_ds2.py).

Built-ins: mnist1d, digits, text_chars, text_words, cifar10, translation, speech; add your own by naming its module
path in params.yaml (data.dataset).
"""

IGNORE = -100  # a target that is not scored (padding); torch's cross_entropy skips it by default

from ..errors import ScalelabError  # noqa: E402


class PoolTooSmall(ScalelabError):
    """The dataset cannot supply the pool asked for: it holds `available` UNITs after validation and test."""

    def __init__(self, available: int, unit: str = "examples"):
        self.available, self.unit = int(available), unit
        super().__init__(f"the pool holds only {self.available:,} {unit} after validation and test")
