"""Refit every kept preset run (docs/presets/NAME/) with today's code, without training: what
docs/presets/README.md describes and tests/test_fit.py checks.

    python tools/refit_kept.py          # rewrites docs/presets/*/fit.json
    python tools/quote_results.py       # then the quotes that read them

For each folder with a fit.json: its best.csv, trials.csv, audit.json and pool.json go into a
scratch study with presets/NAME.yaml as params.yaml, `scalelab fit` runs there, and its fit.json
replaces the kept one. The tables, audit and pool are what the run measured and stay as they are;
so does a kept summary.md, whose checked forecasts are history (the ledger's, made when they were).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INPUTS = {"best.csv": "results/tables", "trials.csv": "results/tables", "audit.json": "results", "pool.json": "data"}
FIT = ["fit", "--best", "results/tables/best.csv", "--trials", "results/tables/trials.csv", "--audit", "results/audit.json",
       "--info", "data/pool.json", "--out", "results/fit.json"]


def refit(kept: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp)
        shutil.copy(ROOT / "presets" / f"{kept.name}.yaml", study / "params.yaml")
        for file, folder in INPUTS.items():
            (study / folder).mkdir(parents=True, exist_ok=True)
            shutil.copy(kept / file, study / folder / file)
        proc = subprocess.run([sys.executable, "-m", "scalelab.cli", *FIT], cwd=study, capture_output=True, text=True,
                              env={"PYTHONPATH": str(ROOT / "workflow"), "PATH": "/usr/bin:/bin"})
        if proc.returncode != 0:
            raise SystemExit(f"refit_kept: {kept.name}: scalelab fit failed:\n{proc.stderr}")
        shutil.copy(study / "results" / "fit.json", kept / "fit.json")
    print(f"refitted {kept.relative_to(ROOT)}/fit.json")


def main() -> None:
    for kept in sorted(p for p in (ROOT / "docs" / "presets").iterdir() if (p / "fit.json").exists()):
        refit(kept)


if __name__ == "__main__":
    main()
