"""Step `report` on the committed study: summary.md is what today's code writes from the committed
results, and a kept run's summary checks every forecast its ledger holds."""

import json
import re

from conftest import COMMITTED, ROOT, close


def test_the_committed_summary_is_what_the_code_writes(default_refit):
    """Every line of summary.md but its numbers' last digits (which the test above guards)."""
    def shape(text):
        return re.sub(r"-?\d[\d,.]*(e[+-]\d+)?", "#", text)
    assert shape((default_refit / "results/summary.md").read_text()) == shape((COMMITTED / "summary.md").read_text())
    now, then = (json.loads((d / "cost.json").read_text()) for d in (default_refit / "results", COMMITTED))
    assert [r["step"] for r in now["plan"]["rows"]] == [r["step"] for r in then["plan"]["rows"]]
    assert close(now["study_hours"], then["study_hours"]) and close(now["laws"]["best"]["exponent"], then["laws"]["best"]["exponent"])


def test_the_kept_summary_checks_every_measured_forecast_of_its_ledger():
    """Catches a kept run whose summary and ledger are from different runs: the grown study's
    summary (docs/presets/default_4x, quoted by docs/forecast.md) has one checked row per forecast
    its ledger recorded, but the 2 at 2^17, which no shard of it measured."""
    kept = ROOT / "docs" / "presets" / "default_4x"
    table = (kept / "summary.md").read_text().split("## Forecasts checked")[1].split("\n\n**")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| family")]
    assert rows and len(rows) == sum(1 for _ in open(kept / "ledger.csv")) - 1 - 2
