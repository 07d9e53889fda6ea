"""Step `report`: the summary page (results/summary.md) and the flat headline numbers
(results/metrics.json) from what the fit and predict steps wrote: fit.json, predictions.json,
cost.json, best.csv, and the forecast ledger (results/ledger.csv; missing reads as empty), whose
forecasts at the sizes this run measured are checked first on both (ledger.py); the ledger is read,
never written. It computes nothing new: each number is the fit's or predict's.

metrics.json holds no lists: `dvc metrics diff` shows scalars only, and drops lists such as
fit.json's intervals, so intervals become _low / _high keys. The page's sections, in the order a
reader with a budget asks, are in report_sections.py; the cost and plan sections rest on
wall-clock seconds (cost.json), the rest of the page is the same bytes run to run.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from scalelab import io
from scalelab.decisions import ledger
from scalelab.steps import fit as fit_step
from scalelab.steps.report_sections import (answer_markdown, audit_markdown, backtest_markdown, ci, comparison_markdown,
                                            cost_markdown, fmt, forecast_check_markdown, plan_markdown, size_law_note,
                                            size_markdown, summary_row_for_target, untrusted)


def _table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(fmt(v) if isinstance(v, float) else str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def summary_markdown(dataset: str, result: dict, pred: dict, costs: dict, best: pd.DataFrame, figures_rel: str,
                     image: str, whole: dict, checks: dict | None = None) -> str:
    """The page: the decision sections first, then the evidence (report_sections.py); `image` is
    the figures' format (png, which every Markdown viewer shows)."""
    metric = result["metric"]
    family = whole["family"]
    lines = [
        f"# scalelab study: {dataset} with {', '.join(whole['families'])}",
        "",
        *forecast_check_markdown(checks),
        f"![learning curve]({figures_rel}/learning_curve.{image})",
        "",
        *answer_markdown(result, family),
        *cost_markdown(pred, costs),
        f"![error against training cost]({figures_rel}/cost.{image})",
        "",
        *size_markdown(pred, family, result),
        *plan_markdown(costs, metric),
        *comparison_markdown(whole, figures_rel, image),
        f"## Learning curve of {family}",
        "",
        f"Sizes m count {result['unit']}. The sections below are for {family}, the first family in params.yaml.",
        "",
        f"Law: **{result['law']}**, {result['law_formula']}; fitted on {result['n_points']} shards from m = {int(result['fit_start'])}. "
        f"Its large-m power law {metric}(m) ~ alpha * m^beta_g + gamma is below. The small-data region "
        f"(error near guessing) ends at m = {int(result['power_law_start'])}"
        f"{' (shards ' + ', '.join(str(int(s)) for s in result['small_data_sizes']) + ')' if result['small_data_sizes'] else ''}.",
        "",
        "### Backtest: which law predicts shards it has not seen?",
        "",
        f"![backtest]({figures_rel}/backtest.{image})",
        "",
        *backtest_markdown(result),
        "| parameter | value | 95% interval |",
        "|---|---|---|",
        f"| beta_g | {fmt(result['beta_g'])} | {ci(result['beta_g_ci'])} |",
        f"| alpha | {fmt(result['alpha'])} | {ci(result['alpha_ci'])} |",
        f"| gamma | {fmt(result['gamma'])} | {ci(result['gamma_ci'])} |",
        f"| beta_p (model size) | {fmt(result['beta_p'])} | {ci(result['beta_p_ci'])} |",
        "",
        *size_law_note(result, family),
        f"Intervals: {result['bootstrap']['method']} bootstrap ({result['bootstrap']['n']} refits"
        + ("; " + ", ".join(f"{law} {n}" for law, n in sorted(result["bootstrap"]["laws"].items(), key=lambda kv: -kv[1]) if n)
           + ": the laws share them by backtest weight, so the intervals carry the doubt about which law is right"
           if result["bootstrap"].get("laws") else "")
        + "), noise from the spread over "
        "seeds" + (f" ({result['noise']['seed_sd']:.3f} per seed in log error)" if result["noise"]["seed_sd"] else " (one seed: from the residuals)")
        + (f", inflated {result['bootstrap']['lack_of_fit']:.2f}x where {result['law']} misses the points by more than it" if (result["bootstrap"]["lack_of_fit"] or 1) > 1 else "")
        + ".",
        "",
        "## Convergence audit",
        "",
        *(audit_markdown(whole["convergence"]) if whole.get("convergence") else ["Not run."]),
        "",
        "## Predictions",
        "",
        f"| data | m | predicted {metric} | 95% interval |",
        "|---|---|---|---|",
    ]
    for r in pred["at_more_data"]:
        lines.append(f"| {r['multiplier']:g}x largest shard{untrusted(r)} | {fmt(r['size'])} | {fmt(r['error'])} | {ci(r['error_ci'])} |")
    for other, rows in pred.get("families", {}).items():
        for r in rows:
            lines.append(f"| {other}: {r['multiplier']:g}x{untrusted(r)} | {fmt(r['size'])} | {fmt(r['error'])} | {ci(r['error_ci'])} |")
    chosen = (f"Targets chosen from the curve: {' and '.join(f'{f:g}' for f in pred['auto_fractions'])} of the largest "
              f"shard's {metric} (set predict.target_errors to ask for others)." if pred.get("targets_chosen") else "")
    lines += ["", *([chosen, ""] if chosen else []),
              f"| target {metric} | data needed m | 95% interval | x largest shard | model params | width |", "|---|---|---|---|---|---|"]
    lines += [summary_row_for_target(r) for r in pred["for_target_error"]]
    cols = ["family", "size", "width", "lr", "params", "n_seeds", "val_loss", "val_error", "test_loss", "test_error", "test_bits"]
    cols += [c for c in best.columns if c.startswith("test_") and c not in cols]  # a family's own, e.g. test_bleu
    lines += [
        "",
        "## Best model per family and shard",
        "",
        f"Chosen by the lowest median over seeds of {pred['select_metric']}; values are medians over seeds.",
        "",
        _table(best[cols]),
        "",
        "## Figures",
        "",
        f"![model size]({figures_rel}/model_size.{image})",
        "",
        f"![validation loss against parameters]({figures_rel}/val_loss_vs_params.{image})",
        "",
    ]
    return "\n".join(lines)


def _without_lists(row: dict) -> dict:
    """[low, high] intervals as name_low / name_high keys (DVC reads scalars, not lists)."""
    flat = {}
    for key, value in row.items():
        if key.endswith("_ci"):
            flat[f"{key[:-3]}_low"], flat[f"{key[:-3]}_high"] = value if value is not None else (None, None)
        elif not isinstance(value, (list, dict)):
            flat[key] = value
    return flat


def forecast_check_metrics(checks: dict) -> dict:
    """The checked forecasts as scalars, each keyed by family, size and multiplier (the horizon it
    was made at: two fits may forecast one size), e.g. cnn1d_m32768_x2; and how many fell inside."""
    rows = {}
    for r in checks["checked"]:
        name = f"{r['family']}_m{r['size']}_x{r['multiplier']:g}"
        if name in rows:  # the same size at the same horizon from another set of shards
            name += f"_from{r['from_sizes'].split(';')[0]}"
        rows[name] = {"forecast": r["forecast"], "low": r["low"], "high": r["high"], "measured": r["measured"],
                      "inside": int(r["inside"]), "log_miss": r["log_miss"],
                      "persistence_log_miss": r["persistence_log_miss"], "interval_score": r["interval_score"]}
    return {"checked": len(checks["checked"]), "inside": sum(int(r["inside"]) for r in checks["checked"]),
            "pending": len(checks["pending"]), **rows}


def headline(result: dict, pred: dict, best: pd.DataFrame, whole: dict, checks: dict | None = None) -> dict:
    """Pure: what a change to the study moved, as scalars: the primary family's laws with their
    intervals, the best model of its largest shard, every prediction keyed by its multiplier or
    target; each family's learning-curve law; the shared-exponent verdict; each law's backtest
    error; and, once the ledger's forecasts are measured, their check (forecast_check)."""
    largest = best.sort_values("size").iloc[-1]
    best_row = {"size": int(largest["size"]), "width": int(largest["width"]), "params": int(largest["params"]),
                **{m: float(largest[m]) for m in ("val_loss", "test_loss", "test_error", "test_bits")}}
    law_keys = ("law", "beta_g", "beta_g_ci", "alpha", "alpha_ci", "gamma", "gamma_ci", "r2")

    return {
        **_without_lists({k: result[k] for k in ("metric", *law_keys, "beta_p", "beta_p_ci")}),
        "shape": result["shape"]["shape"],
        "local_slope": _without_lists(result["local_slope"]),
        "best": best_row,
        "at_more_data": {f"{r['multiplier']:g}x": _without_lists(r) for r in pred["at_more_data"]},
        "for_target_error": {f"{r['error']:g}": _without_lists(r) for r in pred["for_target_error"]},
        "families": {f: _without_lists({k: r[k] for k in law_keys}) for f, r in whole["families"].items()},
        "exponents": {k: whole["comparison"].get(k) for k in ("verdict", "p_value", "stability", "shared_beta_g")},
        "backtest": {r["law"]: r["mean"] for r in result["backtest"]["rows"]},
        **({"forecast_check": forecast_check_metrics(checks)} if checks and checks["checked"] else {}),
    }


def never_reached(pred: dict) -> dict:
    """predictions.json as predict computed it: a data size the forecast (or its bound) never
    reaches is infinite, which JSON cannot hold, so it was written as null; the page says `never`."""
    for r in pred["for_target_error"]:
        for key in ("size", "multiplier"):
            r[key] = math.inf if r[key] is None else r[key]
        r["size_ci"] = [math.inf if v is None else v for v in r["size_ci"]]
    return pred


def run(params: dict, fit_json: str, predictions_json: str, cost_json: str, best_csv: str, info_path: str,
        ledger_csv: str | None, summary: str, metrics: str) -> None:
    whole = io.read_json(fit_json)  # read once
    result = fit_step.family_fit(whole)
    pred, costs = never_reached(io.read_json(predictions_json)), io.read_json(cost_json)
    all_best = pd.read_csv(best_csv)
    best = all_best[all_best["family"] == result["family"]].sort_values("size")
    # Earlier forecasts (the ledger, ledger.py) against what this run measured; read, never written.
    checks = ledger.check(ledger.read(ledger_csv), all_best, io.read_json(info_path), result["metric"]) if ledger_csv else None
    io.write_json(metrics, headline(result, pred, best, whole, checks))
    # The figures step's folder beside fit.json; it always writes PNG (the schema insists).
    figures_rel = Path(os.path.relpath(Path(fit_json).parent / "figures", Path(summary).parent)).as_posix()
    io.write_text(summary, summary_markdown(params["data"]["dataset"], result, pred, costs, all_best, figures_rel, "png", whole,
                                            checks))
