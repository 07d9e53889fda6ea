"""Datasets. A dataset is a module with:

    N_CLASSES: int
    AVAILABLE: int | None          # how many examples exist (None: unlimited, generated)
    def make(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        '''n examples (x float32 of shape [n, ...], y int64 class ids), deterministic in seed.'''

`scalelab prepare` splits the n = pool + val + test examples into the three sets. Built-ins:
mnist1d, digits; add your own by naming its module path in params.yaml (data.dataset).
"""
