"""The project's own measured learning curves, for the extrapolation benchmark's --kept run.

A kept study is a folder of the pipeline's tables (best.csv and trials.csv): the default study
(results/tables), the preset runs kept in docs/presets/<name>/, and the own-trainer example
(examples/wav_commands/results/tables, the same layout, with its trainer's grid key hp_depth). Its
curve is the primary family's (the first in the study's params) test error of the configuration
best.csv chose at each shard, every seed a row.

Each curve is cut the issue's way: fitted on all shards but the last CUTS[i] and asked for those
(cut 1: the last shard; cut 2: the last two). Like every curve of the benchmark it is fitted without
the study's best guess (LCDB has none).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from lcdb_curves import Curve

ROOT = Path(__file__).resolve().parents[1]
CUTS = (1, 2)  # shards held out at the end
# Studies the benchmark asks for: (name, tables folder, params file). Any other docs/presets/<name>
# with tables is added; one of these without tables is reported absent.
STUDIES = (
    ("default", ROOT / "results" / "tables", ROOT / "params.yaml"),
    *((name, ROOT / "docs" / "presets" / name, ROOT / "presets" / f"{name}.yaml")
      for name in ("default_4x", "nmt", "wordlm_cpu", "charlm", "speech")),
    ("wav_commands", ROOT / "examples" / "wav_commands" / "results" / "tables", ROOT / "examples" / "wav_commands" / "params.yaml"),
)


def kept_studies() -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """(name, tables, params) of every kept study with tables, and the names of those asked for
    that have none."""
    studies = list(STUDIES)
    named = {name for name, _, _ in studies}
    studies += [(p.name, p, ROOT / "presets" / f"{p.name}.yaml") for p in sorted((ROOT / "docs" / "presets").glob("*"))
                if p.name not in named and (p / "best.csv").exists()]
    present = [s for s in studies if (s[1] / "best.csv").exists() and (s[1] / "trials.csv").exists()]
    return present, [s[0] for s in studies if s not in present]


def primary_family(params: Path, best) -> str:
    """The first family of the study's params (its primary one), else best.csv's first."""
    import yaml

    if params.exists():
        models = (yaml.safe_load(params.read_text()) or {}).get("models") or {}
        if models:
            return next(iter(models))
    return str(best["family"].iloc[0])


def grid_columns(columns) -> list[str]:
    """What tells one configuration from another (scalelab.study.grid_columns): width, lr and a
    trainer's own grid keys hp_<key>."""
    return ["width", "lr", *sorted(c for c in columns if c.startswith("hp_"))]


def same_config(trials, chosen) -> np.ndarray:
    """The trials rows of the configuration a best.csv row chose (numbers compared with isclose)."""
    keep = np.ones(len(trials), bool)
    for column in grid_columns(chosen.index):
        if column not in trials:
            continue
        value = chosen[column]
        if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
            keep &= np.isclose(trials[column].to_numpy(float), float(value))
        else:
            keep &= (trials[column].astype(str) == str(value)).to_numpy()
    return keep


def measured_curve(name: str, tables: Path, params: Path) -> tuple[str, np.ndarray, list[np.ndarray]]:
    """The primary family, its shard sizes and each shard's test errors (every seed)."""
    import pandas as pd

    best, trials = pd.read_csv(tables / "best.csv"), pd.read_csv(tables / "trials.csv")
    family = primary_family(params, best)
    if "status" in trials:
        trials = trials[trials["status"] == "ok"]
    sizes, values = [], []
    for _, b in best[best["family"] == family].sort_values("size").iterrows():
        mine = trials[(trials["family"] == family) & (trials["shard"] == b["shard"]) & same_config(trials, b)]
        sizes.append(float(b["size"]))
        values.append(mine["test_error"].to_numpy(float))
    return family, np.array(sizes), values


def kept_curves(name: str, tables: Path, params: Path) -> list[Curve]:
    """The study's curve once per cut in CUTS: fitted on all shards but the last `cut`."""
    family, sizes, values = measured_curve(name, tables, params)
    truth = np.array([np.median(v) for v in values])
    return [Curve({"study": name, "family": family, "cut": cut}, sizes, values, truth, fit_upto=float(sizes[-1 - cut]),
                  group=f"{name} cut {cut}")
            for cut in CUTS if len(sizes) > cut + 2]
