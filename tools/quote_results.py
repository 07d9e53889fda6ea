"""Rewrite the results that README.md and docs/ quote from the results files themselves.

A quoted number lives between two markers, `<!-- NAME:start -->` and `<!-- NAME:end -->`, and the
text between them is whatever BLOCKS[NAME] renders from the committed results (results/, the kept
preset runs in docs/presets/). Hand-typed numbers drift from the files they came from the first
time a fit changes; generated ones cannot, and tests/test_committed.py fails while any block
differs from what this script renders now.

    python tools/quote_results.py           # rewrite every block in place
    python tools/quote_results.py --check   # exit 1, naming the stale files, if any block is out of date
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))  # quote with the checkout's own package, installed or not
from scalelab.steps.fit import family_fit  # noqa: E402  (after the path above)
MARKER = re.compile(r"<!-- ([a-z0-9-]+):start -->\n(.*?)<!-- \1:end -->", re.S)
# The kept preset runs the domains table quotes, beside the default study (results/): folder, preset.
KEPT = [("results", "default (params.yaml)"), ("docs/presets/default_4x", "default_4x"),
        ("docs/presets/nmt", "nmt"), ("docs/presets/wordlm_cpu", "wordlm_cpu")]


def load(root: Path, path: str) -> dict:
    return json.loads((root / path).read_text())


def g3(x: float) -> str:
    """Three significant digits, trailing zeros kept: an upper bound of 1.00, not 1."""
    return f"{x:#.3g}"


def interval(value: float, ci, fmt=g3) -> str:
    return f"{fmt(value)} [{fmt(ci[0])}, {fmt(ci[1])}]"


def forecast_at(row: dict) -> str:
    """A forecast of metrics.json's at_more_data with its 95% interval."""
    return f"{g3(row['error'])} [{g3(row['error_low'])}, {g3(row['error_high'])}]"


def answer(root: Path) -> str:
    """The default study's answer in three lines (README)."""
    whole, metrics = load(root, "results/fit.json"), load(root, "results/metrics.json")
    fit = family_fit(whole)  # the primary family
    slope, at4 = fit["local_slope"], metrics["at_more_data"]["4x"]
    metric, unit = fit["metric"].replace("_", " "), fit["unit"]
    m = int(slope["size"])
    c = whole["comparison"]
    others = [f for f in c["families"] if f != fit["family"]]
    return (f"- **One more doubling of data** ({fit['family']}, {m:,} to {2 * m:,} {unit}): {metric} x "
            f"{interval(slope['doubling_ratio'], slope['doubling_ratio_ci'])} (95% interval).\n"
            f"- **4x the data** ({int(at4['size']):,} {unit}): {metric} "
            f"{forecast_at(at4)}, from {g3(metrics['best'][fit['metric']])} today.\n"
            f"- **Architectures**: {fit['family']} against {', '.join(others)}: the exponents are **{c['verdict']}** "
            f"(F test p = {c['p_value']:.2g}, the same verdict in {100 * c['stability']:.0f}% of jittered repeats).\n")


def example(root: Path) -> str:
    """The worked example's curve and forecast (README, "Study your own model")."""
    folder = "examples/wav_commands/results"
    fit = family_fit(load(root, f"{folder}/fit.json"))
    metrics, audit = load(root, f"{folder}/metrics.json"), load(root, f"{folder}/audit.json")
    points = ", ".join(f"{p['error']:.3f}" for p in fit["points"])
    slope, at4 = fit["local_slope"], metrics["at_more_data"]["4x"]
    moved = ", ".join(f"{r['shard']} {100 * r['change']:+.0f}%" for r in audit["rows"])
    return (f"- **Measured** (test error of the best model, m = {int(fit['points'][0]['size']):,} to "
            f"{int(fit['points'][-1]['size']):,} clips): {points}.\n"
            f"- **One more doubling**: test error x {interval(slope['doubling_ratio'], slope['doubling_ratio_ci'])}; "
            f"**4x the data**: {forecast_at(at4)} (95% intervals).\n"
            f"- **Convergence audit** (2x the script's patience and epochs): {moved}: **{audit['verdict']}**.\n")


def exponent_test(root: Path) -> str:
    """The shared-exponent test on the default study (docs/method.md)."""
    c = load(root, "results/fit.json")["comparison"]
    each = ", ".join(f"{f} {c['beta_g'][f]:.2f} (se {c['beta_g_se'][f]:.2f})" for f in c["families"])
    return (f"On the committed default study: **{c['verdict']}**, F = {c['f']:.1f} on {c['df'][0]} and {c['df'][1]} "
            f"degrees of freedom, p = {c['p_value']:.2g}, AIC {c['aic_separate']:.1f} separate against "
            f"{c['aic_shared']:.1f} shared, the same verdict in {100 * c['stability']:.0f}% of "
            f"{c['jitter']['n']} jittered repeats; the Hestness-law exponents are {each}, against "
            f"{c['shared_beta_g']:.2f} if forced to share one.\n")


def domains(root: Path) -> str:
    """Every kept run's exponents, local slopes and verdict (docs/domains.md)."""
    rows = ["| preset | metric | family | law | beta_g [95% interval] | local slope at the largest shard [95% interval] | exponent test |",
            "|---|---|---|---|---|---|---|"]
    for folder, preset in KEPT:
        fit = load(root, f"{folder}/fit.json")
        c = fit["comparison"]
        verdict = f"{c['verdict']} (p = {c['p_value']:.2g})" if c.get("verdict") else "-"
        for family, r in fit["families"].items():
            s = r["local_slope"]
            rows.append(f"| {preset} | {r['metric']} | {family} | {r['law']} | "
                        f"{interval(r['beta_g'], r['beta_g_ci'], lambda x: f'{x:.3f}')} | "
                        f"{interval(s['slope'], s['slope_ci'], lambda x: f'{x:.3f}')} at {int(s['size']):,} | {verdict} |")
    return "\n".join(rows) + "\n"


def forecast_check(root: Path) -> str:
    """The grown default study's checked forecasts (docs/forecast.md): the table its own summary
    rendered from its ledger, and what the ledger's check says about them."""
    import pandas as pd

    from scalelab.decisions import ledger

    kept = root / "docs/presets/default_4x"
    summary = (kept / "summary.md").read_text()
    table = summary.split("## Forecasts checked")[1].split("\n\n**")[0]
    rows = [line for line in table.splitlines() if line.startswith("|")]
    checks = ledger.check(ledger.read(kept / "ledger.csv"), pd.read_csv(kept / "best.csv"),
                          json.loads((kept / "pool.json").read_text()), "test_error")["checked"]
    inside = sum(r["inside"] for r in checks)
    factors = [r["persistence_log_miss"] / r["log_miss"] for r in checks]
    misses = [100 * abs(r["measured"] / r["forecast"] - 1) for r in checks]
    lines = rows + ["", f"- **Inside:** {inside} of {len(checks)}."]
    for r in checks:
        if not r["inside"]:
            side = "below its lower" if r["measured"] < r["low"] else "above its upper"
            bound = r["low"] if r["measured"] < r["low"] else r["high"]
            lines.append(f"  The {r['family']}'s {r['multiplier']:g}x measurement at m = {int(r['size']):,} is "
                         f"{100 * abs(1 - r['measured'] / bound):.1f}% {side} bound.")
    lines.append(f"- **Against persistence** (the largest shard's value the forecast was made from): every forecast is "
                 f"nearer, by a factor {min(factors):.1f} to {max(factors):.1f} in log error."
                 if all(f > 1 for f in factors) else
                 f"- **Against persistence**: {sum(f > 1 for f in factors)} of {len(checks)} forecasts are nearer.")
    signs = {r["log_miss"] < 0 for r in checks}
    if signs == {True}:
        lines.append(f"- **One-sided:** every miss is negative: the error fell faster than forecast, by "
                     f"{min(misses):.0f}-{max(misses):.0f}%.")
    elif signs == {False}:
        lines.append(f"- **One-sided:** every miss is positive: the error fell slower than forecast, by "
                     f"{min(misses):.0f}-{max(misses):.0f}%.")
    return "\n".join(lines) + "\n"


def summary_section(heading: str):
    """A section of the default study's results/summary.md, verbatim (its heading left out)."""
    def render(root: Path) -> str:
        text = (root / "results/summary.md").read_text()
        if f"\n## {heading}\n" not in text:
            raise SystemExit(f"quote_results: results/summary.md has no section '## {heading}'; rename the block or rerun the study")
        body = text.split(f"\n## {heading}\n")[1].split("\n## ")[0]
        body = re.sub(r"\n!\[[^\]]*\]\([^)]*\)\n", "\n", body)  # its figures' paths are relative to results/
        return body.strip() + "\n"
    return render


def fit_curve(root: Path) -> str:
    """What `scalelab fit-curve` prints on the shipped example curve (README, docs/curves.md)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root / "workflow"), os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-m", "scalelab.cli", "fit-curve", "docs/example_curve.csv",
                               "--out", str(Path(tmp) / "fit.json"), "--best-guess", "0.9", "--predict", "65536"],
                              cwd=root, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"quote_results: scalelab fit-curve failed: {proc.stderr.strip()}")
    return "```\n" + proc.stdout.rstrip("\n") + "\n```\n"


BLOCKS = {
    "answer": answer,
    "example": example,
    "exponent-test": exponent_test,
    "domains": domains,
    "forecast-check": forecast_check,
    "summary-cost": summary_section("What it costs"),
    "summary-size": summary_section("Which model to train"),
    "summary-next": summary_section("What to run next"),
    "fit-curve": fit_curve,
}


def quoting_files(root: Path) -> list[Path]:
    """README.md and every page of docs/ (the kept runs' own summary.md files are results, not quotes)."""
    pages = [p for p in sorted((root / "docs").rglob("*.md")) if p.name != "summary.md"]
    return [root / "README.md"] + pages


def rewrite(text: str, root: Path, where: str = "") -> str:
    cache: dict[str, str] = {}

    def fill(match):
        name = match.group(1)
        if name not in BLOCKS:
            raise SystemExit(f"quote_results: {where}: unknown block '{name}'; use one of {', '.join(BLOCKS)}")
        if name not in cache:
            cache[name] = BLOCKS[name](root)
        return f"<!-- {name}:start -->\n{cache[name]}<!-- {name}:end -->"

    return MARKER.sub(fill, text)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path in quoting_files(ROOT):
        text = path.read_text()
        new = rewrite(text, ROOT, str(path.relative_to(ROOT)))
        if new != text:
            stale.append(str(path.relative_to(ROOT)))
            if not args.check:
                write_atomic(path, new)
    if stale:
        verb = "out of date" if args.check else "rewritten"
        print(f"quote_results: {verb}: {', '.join(stale)}" + ("; run: python tools/quote_results.py" if args.check else ""))
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
