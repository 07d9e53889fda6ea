"""Data on disk, far larger than memory: scalelab splits and shards ROW NUMBERS of a manifest and
never loads the data; the user's trainer reads the examples the row numbers name.

data.options: either `path:` (a CSV, or Parquet when pyarrow is installed, relative to the study
directory, one row per example) with `id:` (the column of unique example ids, default "id"),
optionally `label:` (the class column) and `group:` (a column whose rows must stay together: a
speaker, a document, a patient); or `examples: N` (rows 0..N-1, no file).

x is the manifest's 0-based row numbers (int64 [n]), y the class id of each row's label (0 without
a label column). Class ids follow the sorted labels of the validation and test rows (numerically
when all are integers); a pool row with a label held-out data never shows is -100 (not scored).

The split is a pure function of the file's rows in order, val_size, test_size, data.seed and
heldout_block:
- Without a group column each row is its own group.
- Validation and test are drawn from the held-out block: the manifest's first heldout_block rows
  (data.options.heldout_block, default 4 x (val_size + test_size); the file must hold that many).
  The groups that appear in the block are put in a seeded random order; validation takes them in
  that order until it holds at least val_size of their rows in the block, then test until it holds
  test_size. So validation and test take whole groups (a big group can take them a little past
  their sizes; pool.json records the real counts), and no group is on two sides.
- Rows of held-out groups after the block are left out of every set (pool_info counts them); a
  larger block leaves out fewer of them, at the price of a longer fixed prefix.
- The pool is every row of every other group, in file order; a shard of m is its first m rows.

So rows appended at the END of the manifest (new data bought) extend the pool at its end, and
validation, test and every existing shard stay byte-identical. The file's order IS the order the
data arrives in: a shard is a prefix of it, so a manifest sorted by class, speaker or date must
be shuffled once by the user before the study starts (and only appended to afterwards), or the
small shards would hold only its first classes or speakers.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from scalelab.errors import ScalelabError

from . import IGNORE, PoolTooSmall

OPTIONS = "params.yaml: data.options"
BLOCK_FACTOR = 4  # the held-out block's default size, in multiples of val_size + test_size
PARQUET = (".parquet", ".pq")


class Table(NamedTuple):
    source: str  # what the rows come from, for messages: the manifest's path or data.options.examples
    n: int  # rows
    groups: np.ndarray | None  # int64 group code per row, numbered by first appearance (None: one per row)
    labels: np.ndarray | None  # str label per row (None: no label column)


class Split(NamedTuple):
    val: np.ndarray  # row numbers, in file order
    test: np.ndarray
    pool: np.ndarray  # every pool-side row, in file order
    left_out: np.ndarray  # rows of held-out groups after the held-out block
    block: int  # rows in the held-out block
    heldout_groups: int


def data_files(options: dict) -> list[str]:
    """The files the dataset reads, so the engines can make prepare and shard depend on them."""
    path = (options or {}).get("path")
    return [str(path)] if path is not None else []


def _frame(path: str, named: dict[str, str]):
    """The named columns of a CSV or Parquet manifest as strings; one-line errors for a missing
    or empty file and a missing column, before anything is written."""
    import pandas as pd

    columns = list(dict.fromkeys(named.values()))
    if not os.path.isfile(path):
        raise ScalelabError(f"{OPTIONS}.path: {path} not found (relative to the study directory {os.getcwd()}); "
                            f"fix the path or create the manifest, one row per example")
    if path.lower().endswith(PARQUET):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ScalelabError(f"{OPTIONS}.path: {path} is Parquet, which needs pyarrow: pip install pyarrow "
                                f"(or give a CSV)") from None
        header = lambda: pq.read_schema(path).names
        read = lambda: pq.read_table(path, columns=columns).to_pandas().astype(str)
    else:
        header = lambda: list(pd.read_csv(path, nrows=0).columns)
        read = lambda: pd.read_csv(path, usecols=columns, dtype=str, keep_default_na=False)
    try:
        have = header()
    except pd.errors.EmptyDataError:
        have = []
    except (ValueError, UnicodeDecodeError) as exc:  # pandas' ParserError and pyarrow's ArrowInvalid are ValueErrors
        raise _unreadable(path, exc) from None
    if not have:
        raise ScalelabError(f"{OPTIONS}.path: {path} is empty; give it a header and one row per example")
    for key, column in named.items():
        if column not in have:
            raise ScalelabError(f"{OPTIONS}.{key}: {path} has no column '{column}' (it has {', '.join(map(str, have))}); "
                                f"name one of them in data.options.{key}")
    try:
        frame = read()
    except (ValueError, UnicodeDecodeError) as exc:
        raise _unreadable(path, exc) from None
    if not len(frame):
        raise ScalelabError(f"{OPTIONS}.path: {path} has no rows; add one row per example")
    return frame


def _unreadable(path: str, exc: Exception) -> ScalelabError:
    reason = " ".join(str(exc).split())[:200]
    return ScalelabError(f"{OPTIONS}.path: {path} cannot be read ({type(exc).__name__}: {reason}); fix the file "
                         f"(a CSV with a header row, or Parquet)")


def read(path: str | None, examples: int | None, id: str, label: str | None, group: str | None) -> Table:
    """The rows, from a manifest file or a plain count; checks the options and the ids."""
    import pandas as pd

    if (path is None) == (examples is None):
        raise ScalelabError(f"{OPTIONS}: give either path: (a CSV or Parquet manifest, one row per example) or "
                            f"examples: N (rows 0..N-1), {'not both' if path is not None else 'neither is set'}")
    if examples is not None:
        if isinstance(examples, bool) or not isinstance(examples, int) or examples < 1:
            raise ScalelabError(f"{OPTIONS}.examples: {examples!r} is not a positive whole number of examples")
        if label is not None or group is not None:
            raise ScalelabError(f"{OPTIONS}: label: and group: name columns of a manifest file; give path: or drop them")
        return Table(f"data.options.examples ({examples})", examples, None, None)
    path = str(path)
    named = {key: column for key, column in (("id", id), ("label", label), ("group", group)) if column is not None}
    frame = _frame(path, named)
    ids = frame[id]
    repeated = ids.duplicated()
    if repeated.any():
        j = int(np.argmax(repeated.to_numpy()))
        i = int(np.argmax((ids == ids.iloc[j]).to_numpy()))
        raise ScalelabError(f"{OPTIONS}.id: {path}: id '{ids.iloc[j]}' is on rows {i} and {j} (0-based); the ids in "
                            f"column '{id}' must be unique: remove or rename the repeat")
    codes = pd.factorize(frame[group], sort=False)[0].astype(np.int64) if group is not None else None
    labels = frame[label].to_numpy(dtype=object) if label is not None else None
    return Table(path, len(frame), codes, labels)


def block_size(val: int, test: int, block: int | None) -> int:
    """The held-out block: data.options.heldout_block rows, by default BLOCK_FACTOR x (val + test)."""
    return int(block) if block is not None else BLOCK_FACTOR * (val + test)


def split(table: Table, val: int, test: int, seed: int = 0, block: int | None = None) -> Split:
    """The one rule (module docstring) that decides every row's side."""
    size = block_size(val, test, block)
    if table.n < size:
        raise ScalelabError(f"{OPTIONS}.heldout_block: validation and test are drawn from the manifest's first {size} rows "
                            f"({'heldout_block' if block is not None else f'{BLOCK_FACTOR} x (val_size + test_size)'}), "
                            f"but {table.source} holds {table.n}; set heldout_block to at most {table.n}, lower "
                            f"data.val_size or data.test_size, or add rows")
    codes = table.groups if table.groups is not None else np.arange(table.n, dtype=np.int64)
    inside = codes[:size]
    groups = np.unique(inside)  # codes number groups by first appearance: those in the block never change
    counts = np.bincount(inside, minlength=int(groups.max()) + 1)[groups]
    order = np.random.default_rng(seed).permutation(len(groups))
    taken = np.cumsum(counts[order])
    n_val = int(np.searchsorted(taken, val)) + 1  # groups until validation holds >= val rows
    n_test = int(np.searchsorted(taken, taken[n_val - 1] + test)) + 1 if n_val <= len(groups) else len(groups) + 1
    if n_test > len(groups):
        raise ScalelabError(f"params.yaml: data.val_size, data.test_size: the first {size} rows of {table.source} hold "
                            f"{len(groups)} groups ({int(counts.sum())} rows), too few to fill validation ({val}) and test "
                            f"({test}) with whole groups; lower them, or raise data.options.heldout_block")
    val_groups, test_groups = groups[order[:n_val]], groups[order[n_val:n_test]]
    rows = np.arange(table.n, dtype=np.int64)
    in_val, in_test = np.isin(inside, val_groups), np.isin(inside, test_groups)
    held = np.isin(codes, np.concatenate([val_groups, test_groups]))
    after = rows >= size
    return Split(rows[:size][in_val], rows[:size][in_test], rows[~held], rows[held & after], size, n_test)


def pool_side(options: dict, val: int, test: int, seed: int = 0) -> tuple[int, str]:
    """How many rows the pool can supply, and where they come from: params validation checks the
    largest shard against it before any job starts."""
    table, cut = _cut(val, test, seed, **(options or {}))
    return len(cut.pool), table.source


def _cut(val: int, test: int, seed: int, path: str | None = None, examples: int | None = None, id: str = "id",
         label: str | None = None, group: str | None = None, heldout_block: int | None = None) -> tuple[Table, Split]:
    """The rows data.options names, and their split: what make_splits draws from and params
    validation checks (make_splits' signature lists the same options for prepare.check_options)."""
    table = read(path, examples, id, label, group)
    return table, split(table, val, test, seed, heldout_block)


def classes_of(labels: np.ndarray) -> list[str]:
    """The held-out rows' labels, sorted (as numbers when all are integers, so "10" follows "9")."""
    unique = sorted(set(labels.tolist()))
    if all(s.lstrip("-").isdigit() for s in unique):
        unique.sort(key=int)
    return unique


def class_ids(labels: np.ndarray | None, rows: np.ndarray, classes: list[str]) -> np.ndarray:
    """int64 class id of each row's label (0 without labels); IGNORE for a label validation and
    test do not have."""
    import pandas as pd

    if labels is None:
        return np.zeros(len(rows), dtype=np.int64)
    ids = pd.Index(classes, dtype=object).get_indexer(labels[rows]).astype(np.int64)
    ids[ids < 0] = IGNORE
    return ids


def make_splits(sizes: dict[str, int], seed: int, path: str | None = None, examples: int | None = None,
                id: str = "id", label: str | None = None, group: str | None = None, heldout_block: int | None = None) -> dict:
    """Form 2 of the dataset contract (datasets/__init__.py)."""
    table, cut = _cut(sizes["val"], sizes["test"], seed, path, examples, id, label, group, heldout_block)
    if len(cut.pool) < sizes["pool"]:
        raise PoolTooSmall(len(cut.pool), "examples", f"{table.source}: {table.n} rows, {len(cut.left_out)} left out")
    pool = cut.pool[: sizes["pool"]]
    classes = [] if table.labels is None else classes_of(table.labels[np.concatenate([cut.val, cut.test])])
    # Only what the drawn pool reaches: a shard's record must not change when rows are appended.
    last = int(pool[-1]) + 1 if len(pool) else cut.block
    return {
        **{name: (rows, class_ids(table.labels, rows, classes)) for name, rows in (("val", cut.val), ("test", cut.test), ("pool", pool))},
        "n_classes": max(len(classes), 1),
        "tokens_per_example": 1,
        "info": {"manifest": None if path is None else str(path), "id_column": id if path is not None else None,
                 "label_column": label, "group_column": group, "classes": classes,
                 "heldout_groups": cut.heldout_groups, "heldout_block_rows": cut.block},
        "pool_info": {"rows_reached": last, "left_out": int(np.count_nonzero(cut.left_out < last))},
    }
