"""LCDB 1.0's learning curves: download, derive, load and select them; and the Curve record every
curve of the extrapolation benchmark is (LCDB's, synthetic, kept).

LCDB 1.0 (Mohr et al. 2022, MIT licence): learning curves of 20 scikit-learn learners on OpenML
datasets, measured at anchors 16, 23, 32, 45, ... (x sqrt 2) by 5 outer seeds. Here: inner_seed 0,
error = 1 - score_test, one curve per (openmlid, learner). Anchors missing any of the 5 outer seeds
are dropped (a median of fewer seeds is a noisier truth; most such anchors belong to curves missing
a seed everywhere, which then drop out). A curve is eligible if what is left has >= 10 anchors, a
largest anchor >= 2048 and a median error >= 0.01 at every anchor (below that a test split's error
is a handful of examples). Of the 2,172 eligible curves, 1,113 have even OpenML ids (develop and
tune on these: the default) and 1,059 odd (held out: run them only when asked).

The first run downloads the sdist (`pip download lcdb==0.1.0`, 68 MB) into the cache
(~/.cache/scalelab/lcdb, or --cache, or $SCALELAB_CACHE), unpacks the accuracy table and the
licence (218 MB stay there), and keeps the eligible curves in a 1 MB file there: later runs load
in under a second.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LCDB_PIN = "lcdb==0.1.0"
LCDB_SDIST = "lcdb-0.1.0.tar.gz"
LCDB_MEMBERS = {"database-accuracy.csv": "lcdb-0.1.0/lcdb/database-accuracy.csv",
                "LICENSE.txt": "lcdb-0.1.0/LICENSE.txt"}
DERIVED = "lcdb-eligible-v1.csv.gz"  # bump the version when the eligibility rules change
DEFAULT_CACHE = Path.home() / ".cache" / "scalelab" / "lcdb"
KEY = ["openmlid", "learner"]
COLUMNS = ["openmlid", "learner", "size_train", "outer_seed", "error"]

N_SEEDS = 5  # LCDB's outer seeds 0-4
MIN_ANCHORS = 10
MIN_LARGEST = 2048  # so that largest / 4 leaves the small-data region behind
MIN_ERROR = 0.01  # below, a test split's error is a handful of examples: too discrete to fit in log
SAMPLE_SEED = 0

FIT_FRACTION = 4  # fit the sizes <= largest / 4, predict the rest
FLAT_BAND = 0.05  # held-out part "flat": farthest measured within 5% of the last fitted
NOT_FALLING = -0.01  # a fitted part flatter than m^-0.01 in log-log: what scalelab refuses as not falling


@dataclass
class Curve:
    """One learning curve: its measured errors per size (one array of seeds per size, sizes
    ascending), and what a prediction at each size is scored against (the median of the seeds on
    LCDB and kept curves, the noiseless error on synthetic ones)."""

    key: dict
    sizes: np.ndarray
    values: list[np.ndarray]
    truth: np.ndarray
    fit_upto: float = 0.0  # sizes <= this are fitted
    note: str = ""
    group: str = "lcdb"
    far_size: float = 0.0  # the farthest size the headline metrics score (synthetic curves predict beyond it)
    law: str | None = None  # synthetic: the library law (scalelab.curves.laws) the truth is drawn from, if any

    def __post_init__(self):
        if not self.fit_upto:
            self.fit_upto = self.sizes[-1] / FIT_FRACTION
        if not self.far_size:
            self.far_size = float(self.sizes[-1])

    @property
    def n_fit(self) -> int:
        return int(np.sum(self.sizes <= self.fit_upto))

    @property
    def last_fitted(self) -> float:
        """The median of the seeds at the largest fitted size: persistence's forecast."""
        return float(np.median(self.values[self.n_fit - 1]))

    @property
    def fitted_medians(self) -> np.ndarray:
        return np.array([np.median(v) for v in self.values[:self.n_fit]])


def cache_dir(arg: str | None) -> Path:
    return Path(arg or os.environ.get("SCALELAB_CACHE") or DEFAULT_CACHE).expanduser()


def fetch_lcdb(cache: Path) -> Path:
    """The derived file of eligible curves in `cache`, made once: download the sdist, unpack the
    accuracy table and the licence, keep the eligible curves."""
    derived = cache / DERIVED
    if derived.exists():
        return derived
    cache.mkdir(parents=True, exist_ok=True)
    table = cache / "database-accuracy.csv"
    if not table.exists():
        sdist = cache / LCDB_SDIST
        if not sdist.exists():
            print(f"downloading {LCDB_PIN} (68 MB) into {cache}", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                            LCDB_PIN, "-d", str(cache)], check=True, stdout=sys.stderr)  # stdout is the report
        unpack(sdist, cache)
    print(f"selecting the eligible curves of {table} (once)", file=sys.stderr)
    rows = read_lcdb_table(table)
    write_csv(rows[rows.set_index(KEY).index.isin(eligible_keys(rows))], derived)
    return derived


def unpack(sdist: Path, cache: Path) -> None:
    with tarfile.open(sdist) as tar:
        for name, member in LCDB_MEMBERS.items():
            source = tar.extractfile(member)
            if source is None:
                raise SystemExit(f"error: {sdist} has no {member}")
            tmp = cache / f".{name}.tmp"
            tmp.write_bytes(source.read())
            tmp.replace(cache / name)


def read_lcdb_table(path: Path):
    """LCDB's accuracy table as error rows of inner seed 0 (columns COLUMNS)."""
    import pandas as pd

    rows = pd.read_csv(path, usecols=["openmlid", "learner", "size_train", "outer_seed", "inner_seed", "score_test"])
    rows = rows[rows["inner_seed"] == 0].copy()
    rows["error"] = 1.0 - rows["score_test"]
    return rows[COLUMNS].sort_values(KEY + ["size_train", "outer_seed"]).reset_index(drop=True)


def write_csv(rows, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    gzip = {"method": "gzip", "mtime": 0}  # no time stamp: the same rows give the same bytes
    rows.to_csv(tmp, index=False, float_format="%.10g", compression=gzip if path.suffix == ".gz" else None)
    tmp.replace(path)


def complete_anchors(rows):
    """The rows at anchors measured by all N_SEEDS outer seeds."""
    seeds = rows.groupby(KEY + ["size_train"])["outer_seed"].transform("nunique")
    return rows[seeds == N_SEEDS]


def eligible_keys(rows):
    """(openmlid, learner) of the eligible curves: at the anchors with all seeds, >= MIN_ANCHORS
    of them, the largest >= MIN_LARGEST and a median error >= MIN_ERROR at each."""
    anchors = complete_anchors(rows).groupby(KEY + ["size_train"])["error"].median().reset_index()
    per_curve = anchors.groupby(KEY).agg(n=("size_train", "size"), largest=("size_train", "max"), low=("error", "min"))
    ok = (per_curve["n"] >= MIN_ANCHORS) & (per_curve["largest"] >= MIN_LARGEST) & (per_curve["low"] >= MIN_ERROR)
    return per_curve.index[ok]


def read_curves_file(path: Path):
    """A CSV of curve rows (columns COLUMNS, as LCDB's derived file and tests/data/lcdb_subset.csv)."""
    import pandas as pd

    if not path.exists():
        raise SystemExit(f"error: {path}: not found")
    try:
        rows = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise SystemExit(f"error: {path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    missing = set(COLUMNS) - set(rows.columns)
    if missing:
        raise SystemExit(f"error: {path}: missing column(s) {', '.join(sorted(missing))}; needs {','.join(COLUMNS)}")
    return rows[COLUMNS]


def select_keys(keys: list[tuple], ids: str, limit: int | None) -> list[tuple]:
    """The curves of the id parity asked for, sorted; with `limit`, a seeded sample of them."""
    parity = {"even": [0], "odd": [1], "all": [0, 1]}[ids]
    keys = sorted(k for k in keys if int(k[0]) % 2 in parity)
    if limit is not None and limit < len(keys):
        picked = np.random.default_rng(SAMPLE_SEED).choice(len(keys), size=limit, replace=False)
        keys = [keys[i] for i in sorted(picked)]
    return keys


def load_curves(path: Path, ids: str = "even", limit: int | None = None) -> tuple[list[Curve], dict]:
    """The eligible curves of a rows file (see read_curves_file), selected by id parity and sample;
    and counts of the eligible curves by parity."""
    rows = read_curves_file(path)
    keys = [tuple(k) for k in eligible_keys(rows)]
    counts = {"eligible": len(keys), "even": sum(int(k[0]) % 2 == 0 for k in keys)}
    counts["odd"] = counts["eligible"] - counts["even"]
    chosen = select_keys(keys, ids, limit)
    full = complete_anchors(rows[rows.set_index(KEY).index.isin(chosen)])
    groups = dict(iter(full.groupby(KEY)))
    return [curve_of_rows(k, groups[k]) for k in chosen], counts


def curve_of_rows(key: tuple, rows) -> Curve:
    sizes = np.array(sorted(rows["size_train"].unique()), float)
    values = [rows.loc[rows["size_train"] == m, "error"].to_numpy(float) for m in sizes]
    return Curve({"openmlid": int(key[0]), "learner": str(key[1])}, sizes, values,
                 np.array([np.median(v) for v in values]))


def write_curves(path: Path, source: Path, keys: list[tuple]) -> None:
    """All rows of these curves (anchors missing a seed too) from the rows file `source`."""
    rows = read_curves_file(source)
    write_csv(rows[rows.set_index(KEY).index.isin(keys)], path)


def trend(curve: Curve) -> str:
    """How the held-out part moves: the truth at the farthest scored size against the last fitted
    median (trend_of_change)."""
    return trend_of_change(math.log(curve.truth[curve.sizes <= curve.far_size][-1] / curve.last_fitted))


def trend_of_change(change: float) -> str:
    """log(farthest truth / last fitted median): falling if lower by more than FLAT_BAND, flat within
    it, else rising."""
    return "falling" if change < -FLAT_BAND else "rising" if change > FLAT_BAND else "flat"


def describe_curves(curves: list[Curve]) -> dict:
    """How many curves fall, stay flat or rise (trend), and how many fitted parts are flatter than
    NOT_FALLING."""
    trends = [trend(c) for c in curves]
    slopes = np.array([np.polyfit(np.log(c.sizes[:c.n_fit]), np.log(c.fitted_medians), 1)[0] for c in curves])
    return {**{t: trends.count(t) for t in ("falling", "flat", "rising")},
            "fitted_part_not_falling": int(np.sum(slopes > NOT_FALLING))}
