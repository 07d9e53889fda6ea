"""What the two text datasets share: a corpus of UTF-8 files, held out by whole file, cut into
language-model examples.

Corpus: the files a glob names (data.options.files), or by default the Python standard library's
own sources, so a text study runs offline anywhere Python runs. Files are sorted by path, put in
one seeded random order, and dealt out whole: first to validation, then test, each taking files
until it holds its size (the rest of its last file is used nowhere); every later file is the pool
side, and the pool is the first tokens of the pool side's files in that order (as many as the
shards need). No file is split between two sets, so held-out text never appears in a shard (beyond
what files share, such as licence headers). The held-out sets never depend on the pool's size, and
a pool is a prefix of any bigger one (a study grows in place). Only as many files are read as the
sizes need, unless a vocabulary needs the whole pool side (text_words). Files that are not valid
UTF-8 are skipped and counted.

Examples: each split's token stream is cut into windows of `context` tokens; x is a window and y
the same window one token later (the next token at every position), so an example holds
`context` tokens and a shard of m tokens is m / context windows.
"""

from __future__ import annotations

import glob
import os
import sysconfig
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from scalelab.errors import ScalelabError

from . import PoolTooSmall

SPLIT_ORDER = ("val", "test", "pool")  # held-out sets first: a bigger pool never changes them
HELD_OUT = SPLIT_ORDER[:2]


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


class Dealt(NamedTuple):
    items: dict[str, list]  # each split's items, cut to its size
    groups: dict[str, list[int]]  # the groups each split's items came from, in dealing order
    skipped: dict[str, int]  # groups items_of skipped (None) while each split was filling
    side: list  # the pool side's items, in order: all of them when read to its end (whole_pool)


def deal_whole(n: int, seed: int, wanted: dict[str, int], items_of: Callable[[int, str], list | None],
               too_few: Callable[[str, dict], str], pool_short: Callable[[int], Exception],
               whole_pool: bool = False) -> Dealt:
    """Deal n groups (files, catalogs) whole, in one seeded order: validation, then test, each
    taking groups until it holds wanted[split] items and then cut to exactly that (the rest of its
    last group goes nowhere); every later group is the pool side, read in the same order, and the
    pool is its first wanted["pool"] items. So the held-out sets never depend on the pool's size,
    and a pool is a prefix of any bigger one. items_of(i, split) gives group i's items as that
    split takes them (called once per group, in dealing order; None skips the group). too_few(split,
    have) is the message when groups run out before validation or test is full; pool_short(items
    the pool side holds) the exception when they run out before the pool is. whole_pool reads the
    pool side to its end (for a vocabulary) rather than as far as the pool needs."""
    order = [int(i) for i in np.random.default_rng(seed).permutation(n)]
    items: dict[str, list] = {s: [] for s in SPLIT_ORDER}
    groups: dict[str, list[int]] = {s: [] for s in SPLIT_ORDER}
    skipped = dict.fromkeys(SPLIT_ORDER, 0)
    position = 0
    for split in HELD_OUT:
        while len(items[split]) < wanted[split] and position < n:
            got = items_of(order[position], split)
            if got is None:
                skipped[split] += 1
            else:
                items[split].extend(got)
                groups[split].append(order[position])
            position += 1
        if len(items[split]) < wanted[split]:
            raise ScalelabError(too_few(split, {s: len(v) for s, v in items.items()}))
        items[split] = items[split][:wanted[split]]
    side: list = []
    for i in order[position:]:
        if len(side) >= wanted["pool"] and not whole_pool:
            break
        filling = len(side) < wanted["pool"]  # past it, a group is read only for whole_pool
        got = items_of(i, "pool")
        if got is None:
            skipped["pool"] += int(filling)
        else:
            if filling:
                groups["pool"].append(i)
            side.extend(got)
    if len(side) < wanted["pool"]:
        raise pool_short(len(side))
    items["pool"] = side[:wanted["pool"]]
    return Dealt(items, groups, skipped, side)


def deal_files(sizes: dict, seed: int, files: str | None, tokenize: Callable[[str], list],
               unit: str, whole_pool: bool = False) -> tuple[Dealt, dict, dict]:
    """Each split's tokens (sizes[s] + 1 of them: the last window's target needs one more), from
    whole files in one seeded order (deal_whole). `tokenize` turns a file's text into tokens.
    Returns the deal, info (the corpus and the held-out sets: independent of the pool's size) and
    pool_info (the files the pool took)."""
    paths, source = corpus_files(files)
    wanted = {s: sizes[s] + 1 if sizes[s] else 0 for s in SPLIT_ORDER}
    corpus = f"the corpus ({source}, {len(paths)} files)"

    def tokens_of(i: int, split: str) -> list | None:
        try:
            return tokenize(Path(paths[i]).read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            return None

    def too_few(s: str, have: dict) -> str:
        before = " after validation took its" if s == "test" else ""
        return (f"params.yaml: data.{s}_size: {corpus} holds too few {unit}: {s} got {have[s]} of {wanted[s]}"
                f"{before}; lower data.{s}_size or name more files in data.options.files")

    def pool_short(have: int) -> PoolTooSmall:
        # A pool of m tokens needs m + 1 (the last window's target).
        return PoolTooSmall(max(0, have - 1), unit, f"{source}: {len(paths)} files")

    dealt = deal_whole(len(paths), seed, wanted, tokens_of, too_few, pool_short, whole_pool)
    info = {"source": source, "files_in_corpus": len(paths),
            "files_used": {s: len(dealt.groups[s]) for s in HELD_OUT},
            "files_skipped_not_utf8": {s: dealt.skipped[s] for s in HELD_OUT}}
    pool_info = {"files_used": len(dealt.groups["pool"]), "files_skipped_not_utf8": dealt.skipped["pool"]}
    return dealt, info, pool_info


def windows(stream: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows of `context` tokens (x) and their next tokens (y), int64."""
    n = max(0, len(stream) - 1) // context
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
