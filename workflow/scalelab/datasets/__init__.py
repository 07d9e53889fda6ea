"""Datasets, and the contract that lets a study grow in place.

A study grows by adding bigger shards. That must never change the validation set, the test set,
data/pool.json or any example of a shard already made, so every dataset draws its data as ONE
seeded sequence, and a bigger pool only reads further along it.

1. A plain dataset is a module with:

    N_CLASSES: int                 # classes
    AVAILABLE: int | None          # how many examples exist (None: unlimited, generated)
    UNIT = "examples"              # optional: what params' sizes count ("characters", "words")
    LOSS_PER = "example"           # optional: what one loss value is averaged over ("character"): a
                                   # fact of its own, not the size unit (translation counts pairs,
                                   # its loss is per target character)
    def make(n: int, seed: int, **options) -> tuple[np.ndarray, np.ndarray]:
        '''The first n examples of one seeded sequence (x float32 [n, ...], y int64 class ids).'''

   make must be prefix-stable: for every m < n, make(m, seed) equals make(n, seed)[:m] byte for
   byte, x and y (mnist1d.py makes example i from (seed, i) alone; digits.py takes a prefix of
   one seeded permutation). With AVAILABLE set, the sequence is one seeded order of all AVAILABLE
   examples. scalelab takes validation = examples [0, val_size), test = [val_size, val_size +
   test_size), the pool = the rest in order, and the shard of n = the pool's first n; the pool can
   hold AVAILABLE - val_size - test_size examples. `options` is params.yaml's data.options, passed
   as keyword arguments.

2. A dataset that must hold data out its own way (text by whole file, CIFAR-10's own test batch)
   defines instead (and needs neither N_CLASSES nor AVAILABLE: it reports the one and checks the
   other)

    def make_splits(sizes: dict[str, int], seed: int, **options) -> dict:
        '''sizes: {"pool", "val", "test"} in UNITs. Returns {"pool": (x, y), "val": (x, y),
        "test": (x, y), "n_classes": int, "tokens_per_example": int, "info": {...},
        "pool_info": {...}}: split s holds sizes[s] // tokens_per_example examples.'''

   Its promises:
   - "val", "test", "n_classes", "tokens_per_example" and "info" do not depend on sizes["pool"].
     info is small JSON for data/pool.json, which must not change when the pool grows; a
     vocabulary is built from the WHOLE pool side of the corpus (everything validation and test
     did not take), never from the pool drawn and never from held-out data.
   - The pool is prefix-stable in sizes["pool"]: the pool for n is the first examples of the pool
     for any larger size, byte for byte.
   - "pool_info" (optional) is what describes the pool drawn (files it used, unk rate, ...); it is
     stored beside each shard, not in pool.json.
   - sizes["pool"] == 0 works, and gives the held-out sets alone.
   - When the pool side cannot supply sizes["pool"] (a finite corpus), it raises PoolTooSmall
     (below) with how many UNITs the pool side can supply; a shortage of validation or test data is
     a ScalelabError naming data.val_size or data.test_size.

For a language model an example is L tokens, x int64 [n, L] and y the next token at each
position (int64 [n, L]); tokens_per_example is L, so shards count tokens (characters, words).
A target of -100 is padding (a translation that ended before L): it is neither trained on nor
scored (translation.py: x [n, 2, L] holds the source and the decoder's input).

speech.py: x float32 [n, frames, mel bins] (log-mel features of one utterance), y int64 [n, L]
its transcript's characters, padded with -100; id 0 is the CTC blank (models/speech_ds2.py).

Built-ins: mnist1d, digits, text_chars, text_words, cifar10, translation, speech, manifest (row
numbers of data on disk: manifest.py); add your own by naming its module path in params.yaml
(data.dataset).
"""

from __future__ import annotations

from scalelab.errors import ScalelabError

IGNORE = -100  # a target that is not scored (padding); torch's cross_entropy skips it by default


class PoolTooSmall(ScalelabError):
    """The pool side of a finite corpus (what validation and test left) cannot supply the pool
    asked for. `available` is the largest pool, in `unit`s, it can supply; the caller names the
    params key to change (the shards are what size the pool)."""

    def __init__(self, available: int, unit: str, detail: str = ""):
        self.available, self.unit, self.detail = int(available), unit, detail
        where = f" ({detail})" if detail else ""
        super().__init__(f"the pool holds only {self.available} {unit} after validation and test{where}")

    def __reduce__(self):
        # Rebuilt from its fields, not its message: speech raises it in a child process.
        return type(self), (self.available, self.unit, self.detail)
