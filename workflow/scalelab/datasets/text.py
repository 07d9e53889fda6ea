"""What the two text datasets share: a corpus of UTF-8 files, held out by whole file, cut into
language-model examples.

Corpus: the files a glob names (data.options.files), or by default the Python standard library's
own sources, so a text study runs offline anywhere Python runs. Files are sorted by path, put in
one seeded random order, and dealt out whole: first to validation, then test, then the pool, each
split taking files until it holds its size. No file is split between two sets, so held-out text
never appears in a shard (beyond what files share, such as licence headers). Only as many files
are read as the three sizes need. Files that are not valid UTF-8 are skipped and counted.

Examples: each split's token stream is cut into windows of `context` tokens; x is a window and y
the same window one token later (the next token at every position), so an example holds
`context` tokens and a shard of m tokens is m / context windows.
"""

from __future__ import annotations

import glob
import os
import sysconfig
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ScalelabError

SPLIT_ORDER = ("val", "test", "pool")  # held-out sets first: a bigger pool never changes them


def stdlib_files() -> list[str]:
    """The standard library's .py files, without installed packages and the test suite (which
    holds deliberately odd encodings)."""
    root = sysconfig.get_paths()["stdlib"]
    skip = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}
    found = []
    for path in glob.glob(os.path.join(root, "**", "*.py"), recursive=True):
        if not skip.intersection(Path(path).relative_to(root).parts[:-1]):
            found.append(path)
    return found


def corpus_files(files: str | None) -> tuple[list[str], str]:
    """The corpus's files sorted by path, and a description of where they came from."""
    if files is None:
        paths, source = stdlib_files(), f"Python {sysconfig.get_python_version()} standard library"
    else:
        paths, source = [p for p in glob.glob(os.path.expanduser(str(files)), recursive=True) if os.path.isfile(p)], str(files)
    if not paths:
        raise ScalelabError(f"params.yaml: data.options.files: '{files}' matches no files; "
                            f"give a glob such as 'corpus/**/*.txt' (relative to the study directory)")
    return sorted(paths), source


def deal_whole(n: int, seed: int, wanted: dict[str, int], items_of: Callable[[int, str], list | None],
               too_few: Callable[[str, dict], str]) -> tuple[dict[str, list], dict[str, list[int]]]:
    """Deal n groups (files, catalogs) whole, in one seeded order: to validation, then test, then
    the pool, each split taking groups until it holds wanted[split] items; each is then cut to
    exactly that. items_of(i, split) gives group i's items as that split takes them (called in
    dealing order; None skips the group); too_few(split, counts) is the error when groups run
    out. Returns each split's items and the groups it took."""
    order = np.random.default_rng(seed).permutation(n)
    items: dict[str, list] = {s: [] for s in SPLIT_ORDER}
    dealt: dict[str, list[int]] = {s: [] for s in SPLIT_ORDER}
    splits = iter(SPLIT_ORDER)
    split = next(splits)
    for i in order:
        while split is not None and len(items[split]) >= wanted[split]:
            split = next(splits, None)
        if split is None:
            break
        got = items_of(int(i), split)
        if got is not None:
            items[split].extend(got)
            dealt[split].append(int(i))
    for s in SPLIT_ORDER:
        if len(items[s]) < wanted[s]:
            raise ScalelabError(too_few(s, {k: len(v) for k, v in items.items()}))
        items[s] = items[s][:wanted[s]]
    return items, dealt


def deal_files(sizes: dict, seed: int, files: str | None, tokenize: Callable[[str], list],
               unit: str) -> tuple[dict[str, list], dict]:
    """Each split's tokens (sizes[s] + 1 of them: the last window's target needs one more), from
    whole files in one seeded order. `tokenize` turns a file's text into tokens."""
    paths, source = corpus_files(files)
    wanted = {s: sizes[s] + 1 if sizes[s] else 0 for s in SPLIT_ORDER}
    skipped = []

    def tokens_of(i: int, split: str) -> list | None:
        try:
            return tokenize(Path(paths[i]).read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            skipped.append(paths[i])
            return None

    def too_few(s: str, have: dict) -> str:
        return (f"params.yaml: data.{s}_size: the corpus ({source}, {len(paths)} files) holds too few {unit}: "
                f"{s} got {have[s]} of {wanted[s]} after val and test took theirs; lower data.pool_size "
                f"(or val_size, test_size) or name more files in data.options.files")

    tokens, dealt = deal_whole(len(paths), seed, wanted, tokens_of, too_few)
    info = {"source": source, "files_in_corpus": len(paths), "files_used": {s: len(dealt[s]) for s in SPLIT_ORDER},
            "files_skipped_not_utf8": len(skipped)}
    return tokens, info


def windows(stream: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows of `context` tokens (x) and their next tokens (y), int64."""
    n = (len(stream) - 1) // context
    x = stream[:n * context].reshape(n, context)
    y = stream[1:n * context + 1].reshape(n, context)
    return x.astype(np.int64), y.astype(np.int64)


def check_whole_number(key: str, value, least: int, example: int) -> int:
    """A data.options value that must be an integer >= least (YAML's true is not one)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ScalelabError(f"params.yaml: data.options.{key}: '{value}' is not a whole number >= {least}; "
                            f"use e.g. {example}")
    return value


def check_context(sizes: dict, context, unit: str) -> int:
    check_whole_number("context", context, 1, 128)
    for s in SPLIT_ORDER:
        if sizes[s] % context:
            raise ScalelabError(f"params.yaml: data.{s}_size: {sizes[s]} {unit} is not a whole number of "
                                f"windows of data.options.context = {context}; use a multiple of {context}")
    return context
