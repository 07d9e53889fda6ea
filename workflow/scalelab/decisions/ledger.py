"""The forecast ledger, results/ledger.csv: the forecasts a fit made at the sizes a growth step
adds, kept until a later run measures those sizes, and their check then.

A scaling study is a loop: measure, forecast, buy data, check the forecast. fit.json carries each
family's error forecast at 2x and 4x its largest shard with its 95% interval, and the shards it
rests on (steps.fit.growth_forecasts). `record` appends them to the ledger, one row per family and
size, with the pool they were made on and the largest measured point (persistence's forecast, the
reference). `check` sets the ledger beside a later best.csv: what was forecast from which shards,
what was measured, whether it fell inside the interval, and by how much it missed; the report
step puts it first on summary.md (report_sections.forecast_check_markdown) and in metrics.json
(forecast_check).

How both engines keep it. The ledger is history, not an output: no pipeline step writes it. Only
`scalelab ledger` (and `scalelab grow`, which records before it edits params.yaml) appends to it,
and it is committed to git like the other small results. `report` declares it as an input (a
Snakemake rule input, a dvc.yaml dep) and never writes it, so recording reruns report, the one
step that reads it, and nothing else; no run rewrites it, so neither engine sees it as a changed
or missing output and git shows it changed only after a record. A missing ledger reads as an
empty one, and report then writes the very page it wrote before the ledger existed; DVC cannot
have a dep that does not exist, so a DVC study keeps the file, header only until the first record.

Rows match on the pool they were made on (pool.json's `pool_id`, else its sha256) and the metric
fitted: a forecast of another pool or metric says nothing about this one, so `check` ignores it
(and counts it). The bytes are deterministic: fixed columns, floats at 10 significant digits (as
the JSON results), rows in the order recorded, no dates; recording the same fit twice adds nothing.
"""

from __future__ import annotations

import csv
import io as _io
import math
from pathlib import Path
from typing import TYPE_CHECKING

from scalelab import io
from scalelab.errors import ScalelabError

if TYPE_CHECKING:  # `scalelab ledger` runs without pandas (half a second to import)
    import pandas as pd

COLUMNS = ["pool", "dataset", "metric", "family", "law", "from_sizes", "size", "multiplier",
           "forecast", "low", "high", "last_size", "last_value"]
INTS, FLOATS = ("size", "last_size"), ("multiplier", "forecast", "low", "high", "last_value")
KEY = ("pool", "family", "metric", "from_sizes", "size")  # one forecast: recorded once
ALPHA = 0.05  # the interval's miss rate: 95% intervals
SIZE_SEP = ";"


def pool_id(info: dict) -> str:
    """The pool a forecast is made on: pool.json's pool_id (stable while a study grows), else its checksum."""
    pool = info.get("pool_id") or info.get("sha256")
    if not pool:
        raise ScalelabError("pool.json names no pool_id or sha256: rerun `scalelab prepare` (snakemake or dvc repro do)")
    return str(pool)


def sizes_text(sizes) -> str:
    return SIZE_SEP.join(str(int(s)) for s in sizes)


def sizes_of(text: str) -> list[int]:
    return [int(s) for s in text.split(SIZE_SEP) if s]


def rows_of(whole: dict, info: dict, where: str = "fit.json") -> list[dict]:
    """Pure: the ledger rows of a fit.json, every family's forecasts in its order."""
    rows = []
    for family, r in whole["families"].items():
        if "forecasts" not in r:
            raise ScalelabError(f"{where}: family {family} has no forecasts: it was written by an older scalelab; "
                                "rerun the fit (snakemake or dvc repro) and record again")
        last = max(r["points"], key=lambda p: p["size"])
        for f in r["forecasts"]:
            rows.append({"pool": pool_id(info), "dataset": info.get("dataset", ""), "metric": r["metric"],
                         "family": family, "law": r["law"], "from_sizes": sizes_text(r["from_sizes"]),
                         "size": int(f["size"]), "multiplier": float(f["multiplier"]), "forecast": float(f["error"]),
                         "low": float(f["error_ci"][0]), "high": float(f["error_ci"][1]),
                         "last_size": int(last["size"]), "last_value": float(last["error"])})
    return rows


def key(row: dict) -> tuple:
    return tuple(row[k] for k in KEY)


def read(path: str | Path) -> list[dict]:
    """The ledger's rows, typed; a missing file is an empty ledger."""
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        return []
    reader = csv.DictReader(_io.StringIO(text))
    if reader.fieldnames != COLUMNS:
        raise ScalelabError(f"{path}: columns {','.join(reader.fieldnames or [])}, expected {','.join(COLUMNS)}: "
                            "it was edited by hand or by another version; restore it from git")
    rows = []
    for n, row in enumerate(reader, 2):
        try:
            rows.append({**row, **{c: int(row[c]) for c in INTS}, **{c: float(row[c]) for c in FLOATS}})
        except (TypeError, ValueError):
            raise ScalelabError(f"{path}: line {n} is not a ledger row ({dict(row)}); restore it from git") from None
    return rows


def _cell(value) -> str:
    return f"{value:.10g}" if isinstance(value, float) else str(value)


def text_of(rows: list[dict]) -> str:
    """The ledger's bytes: a header, then one line per row, fixed columns and float format."""
    out = _io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows([_cell(row[c]) for c in COLUMNS] for row in rows)
    return out.getvalue()


def record(fit_json: str | Path, info_json: str | Path, ledger_csv: str | Path) -> list[dict]:
    """Append the fit's forecasts (every family) to the ledger, those it holds already left out;
    the file is written whole and atomically (created, header and all, if it is missing). Returns
    the rows added."""
    for path, what in ((fit_json, "the fit"), (info_json, "the pool's description")):
        if not Path(path).exists():
            raise ScalelabError(f"{path}: not found ({what}): run the study first (snakemake or dvc repro), "
                                "then record its forecasts")
    old = read(ledger_csv)
    seen = {key(r) for r in old}
    added = []
    for row in rows_of(io.read_json(fit_json), io.read_json(info_json), str(fit_json)):
        if key(row) not in seen:
            seen.add(key(row))
            added.append(row)
    if added or not Path(ledger_csv).exists():
        io.write_text(ledger_csv, text_of(old + added))
    return added


def _log(x: float) -> float | None:
    return math.log(x) if x > 0 else None


def interval_score(low: float, high: float, measured: float, alpha: float = ALPHA) -> float | None:
    """The (1 - alpha) interval score in log error (Gneiting & Raftery 2007): the interval's width
    plus 2/alpha times how far the measurement fell outside it. Lower is better; a miss costs
    more than width."""
    lo, hi, y = _log(low), _log(high), _log(measured)
    if None in (lo, hi, y):
        return None
    return (hi - lo) + (2 / alpha) * max(lo - y, 0.0) + (2 / alpha) * max(y - hi, 0.0)


def checked_row(row: dict, measured: float) -> dict:
    """Pure: one ledger row against its measurement. Misses are log(measured / forecast) (and
    as a ratio, measured / forecast - 1); persistence's is log(measured / last measured value)."""
    log_miss = _log(measured / row["forecast"]) if measured > 0 else None
    persist = _log(measured / row["last_value"]) if measured > 0 and row["last_value"] > 0 else None
    return {**row, "measured": float(measured), "inside": bool(row["low"] <= measured <= row["high"]),
            "log_miss": log_miss, "miss": measured / row["forecast"] - 1.0, "persistence_log_miss": persist,
            "interval_score": interval_score(row["low"], row["high"], measured)}


def check(ledger_rows: list[dict], best: pd.DataFrame, info: dict, metric: str) -> dict:
    """Pure: every ledger row made on this pool for this metric, against best.csv. A row whose
    family and size best.csv now measures is checked (checked_row); one of a family in the study
    whose size it does not is pending; rows of another pool, another metric, or a family no
    longer in the study are ignored, and counted."""
    pool = pool_id(info)
    families = set(best["family"])
    measured = {(str(f), int(s)): float(v) for f, s, v in zip(best["family"], best["size"], best[metric])
                if math.isfinite(float(v))}  # a shard with no trained trial measures nothing
    checked, pending = [], []
    ignored = {"another pool": 0, "another metric": 0, "a family not in the study": 0}
    for row in ledger_rows:
        if row["pool"] != pool:
            ignored["another pool"] += 1
        elif row["metric"] != metric:
            ignored["another metric"] += 1
        elif row["family"] not in families:
            ignored["a family not in the study"] += 1
        elif (row["family"], row["size"]) in measured:
            checked.append(checked_row(row, measured[row["family"], row["size"]]))
        else:
            pending.append(row)
    return {"metric": metric, "pool": pool, "checked": checked, "pending": pending,
            "ignored": {k: n for k, n in ignored.items() if n}}


def describe(rows: list[dict]) -> str:
    """The rows as the `scalelab ledger` command prints them."""
    def shards(text: str) -> str:
        sizes = sizes_of(text)
        return f"{len(sizes)} shard{'s' if len(sizes) != 1 else ''}, m = {sizes[0]:,} to {sizes[-1]:,}"
    return "\n".join(f"  {r['family']}: {r['metric']} at m = {r['size']:,} ({r['multiplier']:g}x): "
                     f"{r['forecast']:.4g} [{r['low']:.4g}, {r['high']:.4g}], from {shards(r['from_sizes'])}" for r in rows)


def run(fit_json: str, info_json: str, ledger_csv: str) -> list[dict]:
    """`scalelab ledger`: record the current fit's forecasts, and say what was added."""
    added = record(fit_json, info_json, ledger_csv)
    if added:
        print(f"{ledger_csv}: recorded {len(added)} forecast{'s' if len(added) != 1 else ''}; commit it "
              "(a later run that measures these sizes checks them on summary.md):")
        print(describe(added))
    else:
        print(f"{ledger_csv}: nothing new: {fit_json}'s forecasts are recorded already")
    return added
