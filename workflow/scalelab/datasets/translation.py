"""Machine translation, the paper's NMT row: English sentences and their human translations.

Corpus, offline by default: the message catalogs (gettext .mo files) already on the machine, in
which translators turned programs' English messages into other languages. `language` picks the
target (the catalog folder's name: de, fr, pt_BR, ...); `catalogs` names the .mo files by glob
(default: the system's and this Python's locale folders and installed packages). Plural forms
other than the first, message contexts, empty and untranslated entries are dropped, and so are
pairs longer than `max_chars` on either side (the cost grows with length; most messages are
short). Catalogs that cannot be read (a header that lies about its charset) are skipped and
counted.

Your own pairs: `pairs` names one TSV file (English<TAB>translation per line) or a list of two
aligned text files (line i of the first translates to line i of the second); `catalogs` and
`language` are then ignored.

Held out by whole catalog, as text is by whole file: catalogs are sorted by path, put in one seeded
order and dealt out whole, first to validation, then test, each taking catalogs until it holds its
size; every later catalog is the pool side, and the pool is the first pairs of the pool side in
that order (as many as the shards need), so no message family leaks from the pool into the held-out
sets, the held-out sets never depend on the pool's size, and a pool is a prefix of any bigger one.
A source sentence is kept once (duplicates in several catalogs are common: "File", "Cancel"), and
every English sentence of a held-out catalog is barred from the pool side, so a held-out sentence
never reaches a shard even through a copy in another catalog. Your own pairs have no catalogs: each
unique English sentence is dealt on its own in the same seeded way.

Tokens are characters, not subwords: a catalog corpus is ~2 M characters, too small to learn a
subword vocabulary that helps, and characters keep the softmax small enough for a 2-core CPU.
The vocabulary (shared by both languages) holds the characters seen at least `min_count` times in
the pairs of the whole pool side (every catalog validation and test did not take, not just the
pool drawn, so it does not change when the pool grows; never held-out pairs), after four special
tokens: PAD (0), BOS (1), EOS (2) and UNK (3).

Examples (one sentence pair each, so sizes count pairs): x int64 [n, 2, L] with L = max_chars + 1,
x[:, 0] the source characters then EOS, x[:, 1] BOS then the target characters (the decoder's
input); y int64 [n, L], the target characters then EOS (the next character at each position).
Padding is PAD in x and IGNORE (-100) in y, which training and evaluation leave unscored, so
the loss is the cross-entropy per target character (EOS included), the paper's NMT metric.

Options (data.options in params.yaml), each with a default:
    language   de     the catalogs' target language (the folder name under locale/)
    catalogs   null   a glob (or list of globs) of .mo files; null: the machine's locale folders
    pairs      null   your own pairs: 'pairs.tsv', or ['english.txt', 'german.txt']
    max_chars  64     longest sentence kept, either side, in characters
    min_count  2      rarer pool-side characters become UNK
"""

from __future__ import annotations

import collections
import gettext
import glob
import hashlib
import os
import site
import sys
from pathlib import Path

import numpy as np

from scalelab.errors import ScalelabError

from . import IGNORE, PoolTooSmall
from .text import HELD_OUT, SPLIT_ORDER, Dealt, check_whole_number, deal_whole

UNIT = "pairs"
LOSS_PER = "target character"  # sizes count sentence pairs, the loss is per character of the translation
PAD, BOS, EOS, UNK = 0, 1, 2, 3  # the seq2seq families rely on PAD = 0 (models/seq2seq.py)
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]


def locale_globs(language: str) -> list[str]:
    """Where catalogs live on a typical machine: the system's locale folders, this Python's
    prefix, and installed packages (which ship their own locale/ folders)."""
    roots = ["/usr/share/locale", "/usr/local/share/locale", "/usr/share/locale-langpack",
             os.path.join(sys.prefix, "share", "locale")]
    found = [os.path.join(r, language, "LC_MESSAGES", "*.mo") for r in roots]
    for packages in {*site.getsitepackages(), site.getusersitepackages()}:
        found.append(os.path.join(packages, "**", "locale", language, "LC_MESSAGES", "*.mo"))
    return found


def catalog_files(language: str, catalogs) -> tuple[list[str], list[str]]:
    """The catalogs' paths (sorted, one per real file) and the globs that found them."""
    if not isinstance(language, str) or not language or "/" in language:
        raise ScalelabError(f"params.yaml: data.options.language: '{language}' is not a language folder name; "
                            f"use e.g. de, fr or pt_BR")
    globs = locale_globs(language) if catalogs is None else ([catalogs] if isinstance(catalogs, str) else list(catalogs))
    paths = {os.path.realpath(p) for g in globs for p in glob.glob(os.path.expanduser(str(g)), recursive=True)
             if os.path.isfile(p)}
    if not paths:
        where = "the machine's locale folders" if catalogs is None else f"data.options.catalogs {globs}"
        raise ScalelabError(f"params.yaml: data.options.language: no '{language}' message catalogs (.mo) found in {where}; "
                            f"pick a language the machine has (ls /usr/share/locale), name .mo files in "
                            f"data.options.catalogs, or give your own data.options.pairs")
    return sorted(paths), globs


def catalog_pairs(path: str) -> list[tuple[str, str]] | None:
    """(English, translation) pairs of one .mo file, sorted by English; None if unreadable."""
    try:
        with open(path, "rb") as f:
            catalog = gettext.GNUTranslations(f)._catalog
    except (OSError, UnicodeDecodeError, ValueError, IndexError):
        return None
    pairs = {}
    for key, target in catalog.items():
        if isinstance(key, tuple):  # plural forms: (msgid, n); keep the first
            if key[1] != 0:
                continue
            key = key[0]
        source = key.split("\x04", 1)[-1]  # drop a message context ("context\x04msgid")
        if source and target and source != target:
            pairs[source] = target
    return sorted(pairs.items())


def read_lines(path: str) -> list[str]:
    try:
        return Path(os.path.expanduser(path)).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScalelabError(f"params.yaml: data.options.pairs: cannot read '{path}' as UTF-8 text ({exc}); "
                            f"name an existing UTF-8 file") from None


def own_pairs(pairs) -> list[tuple[str, str]]:
    """The user's pairs: one TSV file, or two aligned text files."""
    if isinstance(pairs, str):
        rows = [line.split("\t") for line in read_lines(pairs) if line.strip()]
        bad = next((i for i, r in enumerate(rows) if len(r) != 2), None)
        if bad is not None:
            raise ScalelabError(f"params.yaml: data.options.pairs: '{pairs}' line {bad + 1} does not hold exactly two "
                                f"tab-separated fields; write one 'English<TAB>translation' pair per line")
        return [(a, b) for a, b in rows]
    if isinstance(pairs, list) and len(pairs) == 2 and all(isinstance(p, str) for p in pairs):
        source, target = read_lines(pairs[0]), read_lines(pairs[1])
        if len(source) != len(target):
            raise ScalelabError(f"params.yaml: data.options.pairs: '{pairs[0]}' has {len(source)} lines but "
                                f"'{pairs[1]}' has {len(target)}; aligned files need one translation per line")
        return list(zip(source, target))
    raise ScalelabError(f"params.yaml: data.options.pairs: '{pairs}' is neither a TSV file name nor a list of two "
                        f"aligned files; use 'pairs.tsv' or ['english.txt', 'german.txt']")


def deal(groups: list[list[tuple[str, str]]], sizes: dict, seed: int, max_chars: int, what: str) -> Dealt:
    """Deal whole groups (catalogs) in one seeded order: validation, then test, then the pool side,
    read to its end for the vocabulary (text.deal_whole). A source sentence is kept once, and no
    source of a held-out group (kept, too long or past the split's size) ever enters the pool side."""
    seen: set[str] = set()

    def pairs_of(i: int, split: str) -> list:
        kept = []
        for source, target in groups[i]:
            if source not in seen:
                seen.add(source)
                if len(source) <= max_chars and len(target) <= max_chars:
                    kept.append((source, target))
        return kept

    def too_few(s: str, have: dict) -> str:
        before = " after validation took its" if s == "test" else ""
        return (f"params.yaml: data.{s}_size: {what} holds too few pairs of at most {max_chars} characters: "
                f"{s} got {have[s]} of {sizes[s]}{before}; lower data.{s}_size, raise data.options.max_chars, "
                f"or add catalogs or pairs")

    def pool_short(have: int) -> PoolTooSmall:
        return PoolTooSmall(have, UNIT, f"{what}, pairs of at most {max_chars} characters")

    return deal_whole(len(groups), seed, sizes, pairs_of, too_few, pool_short, whole_pool=True)


def vocabulary(pairs: list[tuple[str, str]], min_count: int) -> list[str]:
    """The specials, then the characters of `pairs` (the pool side's) seen at least min_count
    times, most frequent first."""
    counts = collections.Counter(c for source, target in pairs for c in source + target)
    kept = sorted((c for c, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c))
    return SPECIALS + kept


def encode(pairs: list[tuple[str, str]], ids: dict[str, int], length: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.full((len(pairs), 2, length), PAD, dtype=np.int64)
    y = np.full((len(pairs), length), IGNORE, dtype=np.int64)
    for i, (source, target) in enumerate(pairs):
        src = [ids.get(c, UNK) for c in source] + [EOS]
        tgt = [ids.get(c, UNK) for c in target]
        x[i, 0, :len(src)] = src
        x[i, 1, :len(tgt) + 1] = [BOS] + tgt
        y[i, :len(tgt) + 1] = tgt + [EOS]
    return x, y


def make_splits(sizes: dict, seed: int, language: str = "de", catalogs=None, pairs=None,
                max_chars: int = 64, min_count: int = 2) -> dict:
    check_whole_number("max_chars", max_chars, 1, 64)
    check_whole_number("min_count", min_count, 1, 2)
    if pairs is None:
        paths, globs = catalog_files(language, catalogs)
        read = [catalog_pairs(p) for p in paths]
        groups = [g for g in read if g is not None]
        source = {"corpus": "gettext catalogs", "language": language, "catalog_globs": globs,
                  "catalogs_found": len(paths), "catalogs_unreadable": sum(g is None for g in read)}
        listing = [p for p, g in zip(paths, read) if g is not None]
        what = f"the '{language}' catalogs ({len(groups)} readable)"
    else:
        unique = dict(own_pairs(pairs))  # one translation per English sentence (the last one given)
        groups = [[pair] for pair in sorted(unique.items())]
        source = {"corpus": "your pairs", "pairs": pairs}
        listing = []
        what = f"data.options.pairs ({len(groups)} unique English sentences)"
    dealt = deal(groups, sizes, seed, max_chars, what)
    vocab = vocabulary(dealt.side, min_count)
    ids = {c: i for i, c in enumerate(vocab)}
    made = {split: encode(dealt.items[split], ids, max_chars + 1) for split in SPLIT_ORDER}
    unk_rate = {s: round(float((made[s][1] == UNK).sum() / max(1, (made[s][1] != IGNORE).sum())), 6) for s in SPLIT_ORDER}
    chars = {s: round(float((made[s][1] != IGNORE).sum() / max(1, len(made[s][1]))), 2) for s in SPLIT_ORDER}
    digest = hashlib.sha256("\n".join(f"{os.path.basename(p)} {hashlib.sha256(Path(p).read_bytes()).hexdigest()}"
                                      for p in listing).encode()).hexdigest()
    pool_info = {"unk_rate": unk_rate["pool"], "target_chars_per_pair": chars["pool"]}
    if listing:  # which catalogs each split took (the pool's last one may be cut short)
        taken = {s: [os.path.basename(listing[i]) for i in dealt.groups[s]] for s in SPLIT_ORDER}
        source["catalogs"] = {s: taken[s] for s in HELD_OUT}
        pool_info["catalogs"] = taken["pool"]
    info = {**source, "catalogs_sha256": digest, "max_chars": max_chars, "min_count": min_count,
            "pool_side_pairs": len(dealt.side),  # what the vocabulary was counted over; the largest pool
            "vocab_size": len(vocab), "unk_rate": {s: unk_rate[s] for s in HELD_OUT},
            "target_chars_per_pair": {s: chars[s] for s in HELD_OUT},
            "vocabulary": vocab}  # token id -> character, to read x and y (and a model's output) back
    return {**made, "n_classes": len(vocab), "tokens_per_example": 1, "info": info, "pool_info": pool_info}
