"""Step `predict`: what more data buys, and the summary page.

From the fitted laws: the error at k times the largest shard, the data needed for each target
error, and the model size to train there (parameters, and the grid width that comes closest).
Every number carries a 95% interval: predictions the forecast's (calibrated on real curves by the
curve's own backtest, forecast.py), the law's parameters the bootstrap's. Writes results/predictions.json,
results/summary.md (which embeds the figures and the tables) and results/metrics.json, the
headline numbers with no lists in them: `dvc metrics diff` shows scalars only, and drops lists
such as fit.json's intervals.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from . import audit, fit, fit_step, forecast, io, registry, study
from .models import count_params

MAX_WIDTH = 1 << 16  # search bound when turning a parameter count into a width


def params_of(family_name: str, width: int, input_shape: list[int], n_classes: int) -> int:
    """Parameters of the family's model at `width`, built on the meta device: counted, never allocated."""
    import torch

    with torch.device("meta"):
        return count_params(registry.load("model", family_name).build(width, tuple(input_shape), n_classes))


def width_for_params(family_name: str, target: float, input_shape: list[int], n_classes: int) -> int | None:
    """The width whose model has the parameter count closest to `target` (count grows with width);
    None beyond MAX_WIDTH. Models are built on the meta device: parameters are counted, never
    allocated, so memory and time stay bounded whatever size a law asks for (about 30 builds)."""
    if not math.isfinite(target):
        return None

    def n(width: int) -> int:
        return params_of(family_name, width, input_shape, n_classes)

    if n(MAX_WIDTH) < target:
        return None  # beyond the search: the parameter count is still reported
    lo, hi = 1, 1
    while n(hi) < target:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if n(mid) < target else (lo, mid)
    return min((lo, hi), key=lambda w: abs(n(w) - target))


def predictions(result: dict, largest: int, multipliers: list[float], targets: list[float],
                family: str, info: dict, grid_params: int | None = None) -> dict:
    """Errors at more data and data for target errors, with the model size to train there;
    `grid_params` (the largest model trained) marks a size beyond it as an extrapolation."""
    size_law, samples = result["size_samples"], result["samples"]

    def params_at(m: float) -> dict:
        if not math.isfinite(m) or result["beta_p"] is None:  # never reached, or no size law measured
            return {"params": None, "params_ci": [None, None], "width": None, "beyond_grid": None}
        p = result["alpha_p"] * m ** result["beta_p"]
        return {"params": p, "params_ci": fit.interval(size_law[:, 0] * m ** size_law[:, 1]),
                "width": width_for_params(family, p, info["input_shape"], info["n_classes"]),
                "beyond_grid": bool(grid_params is not None and p > grid_params)}

    at_more_data = []
    for k in multipliers:
        row = {"multiplier": k, **fit.predict_error(result, k * largest)}
        at_more_data.append(row)
    for_targets = []
    for target in targets:
        row = fit.predict_data(result, target)
        row["multiplier"] = row["size"] / largest
        row.update(params_at(row["size"]))
        for_targets.append(row)
    return {"metric": result["metric"], "unit": result["unit"], "largest_shard": largest,
            "at_more_data": at_more_data, "for_target_error": for_targets}


def _without_lists(row: dict) -> dict:
    """[low, high] intervals as name_low / name_high keys (DVC reads scalars, not lists)."""
    flat = {}
    for key, value in row.items():
        if key.endswith("_ci"):
            flat[f"{key[:-3]}_low"], flat[f"{key[:-3]}_high"] = value if value is not None else (None, None)
        elif not isinstance(value, (list, dict)):
            flat[key] = value
    return flat


def headline(result: dict, pred: dict, best: pd.DataFrame, whole: dict) -> dict:
    """Pure: what a change to the study moved, as scalars: the primary family's laws with their
    intervals, the best model of its largest shard, every prediction keyed by its multiplier or
    target; each family's learning-curve law; the shared-exponent verdict; each law's backtest error."""
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
    }


def _fmt(v, digits=3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isnan(v):
        return "-"
    if isinstance(v, float) and not math.isfinite(v):
        return "never"
    if isinstance(v, float) and (abs(v) >= 1e5 or (abs(v) < 1e-3 and v != 0)):
        return f"{v:.{digits}g}"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) < 10 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _ci(pair) -> str:
    if pair is None:
        return "-"
    return f"[{_fmt(pair[0])}, {_fmt(pair[1])}]"


def _table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(_fmt(v) if isinstance(v, float) else str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def _size_law_note(result: dict, family: str) -> list[str]:
    edge = result.get("grid_edge_sizes") or []
    measured = result.get("size_law_sizes") or []
    if not edge:
        return [f"The model-size law is fitted on the best models of m = {', '.join(f'{m:,}' for m in measured)}.", ""]
    text = (f"**Censored shards:** the best model is at an edge of the width grid (the widest or the narrowest "
            f"tried) at m = {', '.join(f'{m:,}' for m in edge)}; one beyond that edge may be better there, so those "
            "shards are left out of the model-size law")
    if result["beta_p"] is None:
        text += f", which leaves too few to fit it. Add widths beyond the edge to models.{family}.width to measure it."
    else:
        text += f" (fitted on m = {', '.join(f'{m:,}' for m in measured)})."
    return [text, ""]


def backtest_markdown(result: dict) -> list[str]:
    """The backtest table: each law refitted without the largest shards, scored on predicting them."""
    bt = result["backtest"]
    if not bt["holdouts"]:
        return ["Too few shards to backtest: no law's extrapolation could be checked.", ""]
    if result["law"] == "flat":
        return [f"No law was backtested: {result['law_reason']}.", ""]
    head = "| law | " + " | ".join(f"last {h} held out" for h in bt["holdouts"]) + " | mean | rank |"
    lines = [head, "|---" * (len(bt["holdouts"]) + 3) + "|"]
    for r in sorted(bt["rows"], key=lambda r: (r.get("rank", 99), r["law"])):
        cells = [_pct(r["errors"][str(h)]) for h in bt["holdouts"]]
        name = f"**{r['law']}**" if r["law"] == result["law"] else r["law"]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {_pct(r['mean'])} | {r.get('rank', '-')} |")
    persistence = next(r["mean"] for r in bt["rows"] if r["law"] == "persistence")
    chosen = next(r["mean"] for r in bt["rows"] if r["law"] == result["law"])
    best = min((r for r in bt["rows"] if r["mean"] is not None and r["law"] != "persistence"), key=lambda r: r["mean"])
    sentence = (f"Errors are mean |log predicted - log observed| on the held-out largest shards (0.05 is about 5% off). "
                f"{best['law']} extrapolates best here ({_pct(best['mean'])})")
    if persistence is not None and best["mean"] is not None:
        sentence += (f", {persistence / best['mean']:.1f}x better than persistence ({_pct(persistence)})" if best["mean"] < persistence
                     else f", and persistence ({_pct(persistence)}) does as well or better: do not trust an extrapolation here")
    sentence += f". Reported law: **{result['law']}** ({result['law_reason']})."
    if chosen is None:
        sentence += " It could not be backtested on every split."
    return [*lines, "", sentence, ""]


def _pct(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def comparison_markdown(whole: dict, figures_rel: str, fmt: str) -> list[str]:
    """The families side by side, and the shared-exponent test: does one beta_g fit them all?"""
    lines = ["## Families compared", "", f"![every family]({figures_rel}/families.{fmt})", "",
             "| family | local slope at its largest shard | law | beta_g | 95% interval | gamma | backtest error | persistence |",
             "|---|---|---|---|---|---|---|---|"]
    for family, r in whole["families"].items():
        scores = {row["law"]: row["mean"] for row in r["backtest"]["rows"]}
        slope = r["local_slope"]
        lines.append(f"| {family} | {slope['slope']:.3f} {_ci(slope['slope_ci'])} | {r['law']} | {_fmt(r['beta_g'])} | "
                     f"{_ci(r['beta_g_ci'])} | {_fmt(r['gamma'])} | {_pct(scores.get(r['law']))} | {_pct(scores.get('persistence'))} |")
    c = whole["comparison"]
    text = c.get("verdict_text", "")
    lines += ["", f"**Verdict: {c['verdict']}.** {text[:1].upper() + text[1:]}."]
    if "p_value" in c:
        betas = ", ".join(f"{f} {b:.3f} (se {c['beta_g_se'][f]:.3f})" for f, b in c["beta_g"].items())
        stability = "not checked" if c["stability"] is None else f"{c['stability']:.0%} of {c['jitter']['n']} repeats jittered by the seed spread ({c['jitter']['seed_sd']:.3f} in log error) give the same verdict"
        lines += ["", f"Test: one exponent shared by every family (each its own alpha and gamma; {c['law']} law on each power-law "
                  f"region, every seed a point) against one exponent each: F = {c['f']:.2f} on {c['df'][0]} and {c['df'][1]} "
                  f"degrees of freedom, p = {c['p_value']:.3g}; AIC {c['aic_shared']:.1f} shared vs {c['aic_separate']:.1f} separate. "
                  f"Shared beta_g = {c['shared_beta_g']:.3f}; separately {betas}. Stability: {stability}."]
    return [*lines, ""]


def summary_row_for_target(r: dict) -> str:
    """One row of the data-for-a-target table; a model larger than any trained says it is an
    extrapolation, a target the shards already reach says so instead of predicting it."""
    width = _fmt(r["width"]) if r["params"] is None or r["width"] is not None else f"> {MAX_WIDTH:,}"
    beyond = " (beyond the grid: an extrapolation)" if r.get("beyond_grid") else ""
    size = f"reached: measured at {_fmt(r['reached_at'])}" if r.get("reached") else _fmt(r["size"]) + _untrusted(r)
    return (f"| {_fmt(r['error'])} | {size} | {_ci(r['size_ci'])} | {_fmt(r['multiplier'])} | "
            f"{_fmt(r['params'])} {_ci(r['params_ci'])}{beyond} | {width} |")


def _untrusted(r: dict) -> str:
    return f" (beyond {forecast.TRUSTED_HORIZON:g}x: not benchmarked)" if r.get("beyond_trusted") else ""


def exponent_text(result: dict) -> str:
    """The Hestness exponent, or a plain statement that the data cannot pin it down: an interval
    spanning more than fit.EXPONENT_FACTOR carries no headline."""
    if result["law"] == "flat":
        return f"none: the curve does not fall (slope {_fmt(result['beta_g'])} {_ci(result['beta_g_ci'])})"
    text = f"beta_g = {_fmt(result['beta_g'])} {_ci(result['beta_g_ci'])} ({result['law']} law)"
    return text if fit.exponent_carried(result) else text + (f": its interval spans more than a factor {fit.EXPONENT_FACTOR:g}, so these shards do not pin it down")


def answer_markdown(result: dict, family: str) -> list[str]:
    """The headline: what one more doubling of data buys, then the Hestness exponent beside it."""
    slope = result["local_slope"]
    ahead = result["forecast"]
    lines = ["## What more data buys", ""]
    if result.get("warning"):
        lines += [f"**Warning:** {result['warning']}.", ""]
    if result["shape"]["shape"] != "falling":
        lines += [f"**More data buys nothing measurable here** ({result['law_reason']}). The forecast is the curve's "
                  f"level, {_fmt(math.exp(ahead['level']))}, with the interval below.", ""]
    lines += [
        f"**One more doubling of data** ({family}, m = {_fmt(slope['size'])} to {_fmt(2 * slope['size'])}): error x "
        f"{slope['doubling_ratio']:.3f} {_ci(slope['doubling_ratio_ci'])}, a local slope of {slope['slope']:.3f} "
        f"{_ci(slope['slope_ci'])} (d log error / d log m at the largest shard).",
        "",
        f"Power-law region, for comparison with Hestness et al.: {exponent_text(result)}.",
        "",
        f"How the forecast is made: the mean in log error of {', '.join(ahead['laws']) or 'the level'}; its 95% interval "
        f"grows with the horizon as fast as this curve's own backtest missed its held-out shards ({ahead['rate']:.3f} in log "
        f"error per e-fold of data), over a point noise of {ahead['noise']:.3f}. On real learning curves (LCDB) this covered "
        f"the measured error as often as it claims out to {forecast.TRUSTED_HORIZON:g}x the largest shard "
        "(bench/README.md); past that it is not benchmarked.",
        "",
    ]
    return lines


def summary_markdown(params: dict, result: dict, pred: dict, best: pd.DataFrame, figures_rel: str, fmt: str,
                     whole: dict) -> str:
    metric = result["metric"]
    family = whole["family"]
    lines = [
        f"# scalelab study: {params['data']['dataset']} with {', '.join(whole['families'])}",
        "",
        f"![learning curve]({figures_rel}/learning_curve.{fmt})",
        "",
        *answer_markdown(result, family),
        *comparison_markdown(whole, figures_rel, fmt),
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
        *backtest_markdown(result),
        "| parameter | value | 95% interval |",
        "|---|---|---|",
        f"| beta_g | {_fmt(result['beta_g'])} | {_ci(result['beta_g_ci'])} |",
        f"| alpha | {_fmt(result['alpha'])} | {_ci(result['alpha_ci'])} |",
        f"| gamma | {_fmt(result['gamma'])} | {_ci(result['gamma_ci'])} |",
        f"| beta_p (model size) | {_fmt(result['beta_p'])} | {_ci(result['beta_p_ci'])} |",
        "",
        *_size_law_note(result, family),
        f"Intervals: {result['bootstrap']['method']} bootstrap ({result['bootstrap']['n']} refits"
        + ("; " + ", ".join(f"{law} {n}" for law, n in sorted(result["bootstrap"]["laws"].items(), key=lambda kv: -kv[1]) if n)
           + ": the laws share them by backtest weight, so the intervals carry the doubt about which law is right"
           if result["bootstrap"].get("laws") else "")
        + "), noise from the spread over "
        f"seeds" + (f" ({result['noise']['seed_sd']:.3f} per seed in log error)" if result["noise"]["seed_sd"] else " (one seed: from the residuals)")
        + (f", inflated {result['bootstrap']['lack_of_fit']:.2f}x where {result['law']} misses the points by more than it" if (result["bootstrap"]["lack_of_fit"] or 1) > 1 else "")
        + ".",
        "",
        "## Convergence audit",
        "",
        *(audit.markdown(whole["convergence"]) if whole.get("convergence") else ["Not run."]),
        "",
        "## Predictions",
        "",
        f"| data | m | predicted {metric} | 95% interval |",
        "|---|---|---|---|",
    ]
    for r in pred["at_more_data"]:
        lines.append(f"| {r['multiplier']:g}x largest shard{_untrusted(r)} | {_fmt(r['size'])} | {_fmt(r['error'])} | {_ci(r['error_ci'])} |")
    for other, rows in pred.get("families", {}).items():
        for r in rows:
            lines.append(f"| {other}: {r['multiplier']:g}x{_untrusted(r)} | {_fmt(r['size'])} | {_fmt(r['error'])} | {_ci(r['error_ci'])} |")
    lines += ["", f"| target {metric} | data needed m | 95% interval | x largest shard | model params | width |", "|---|---|---|---|---|---|"]
    lines += [summary_row_for_target(r) for r in pred["for_target_error"]]
    cols = ["family", "size", "width", "lr", "params", "n_seeds", "val_loss", "val_error", "test_loss", "test_error", "test_bits"]
    cols += [c for c in best.columns if c.startswith("test_") and c not in cols]  # a family's own, e.g. test_bleu
    lines += [
        "",
        "## Best model per family and shard",
        "",
        f"Chosen by the lowest median over seeds of {params['select']['metric']}; values are medians over seeds.",
        "",
        _table(best[cols]),
        "",
        "## Figures",
        "",
        f"![model size]({figures_rel}/model_size.{fmt})",
        "",
        f"![validation loss against parameters]({figures_rel}/val_loss_vs_params.{fmt})",
        "",
    ]
    return "\n".join(lines)


def run(params: dict, fit_json: str, tables_dir: str, info_path: str, out: str, summary: str, metrics: str) -> dict:
    whole = io.read_json(fit_json)
    family = whole["family"]
    result, _ = fit_step.load(fit_json, family)
    all_best = pd.read_csv(Path(tables_dir) / "best.csv")
    best = all_best[all_best["family"] == family].sort_values("size")
    info = io.read_json(info_path)
    largest = int(best["size"].max())
    cfg = params["predict"]
    module = study.family_module(params, family)
    grid_params = params_of(module, max(params["models"][family]["width"]), info["input_shape"], info["n_classes"])
    pred = {"family": family, **predictions(result, largest, cfg["data_multipliers"], cfg["target_errors"],
                                            module, info, grid_params)}
    # The other families' error at more data: what each would buy, side by side.
    others = [f for f in whole["families"] if f != family]
    pred["families"] = {}
    for other in others:
        r, _ = fit_step.load(fit_json, other)
        pred["families"][other] = [{"multiplier": k, **fit.predict_error(r, k * largest)} for k in cfg["data_multipliers"]]
    io.write_json(out, pred)
    io.write_json(metrics, headline(result, pred, best, whole))
    # The figures step always writes PNG (the schema insists), which every Markdown viewer shows.
    figures_rel = os.path.relpath(Path(fit_json).parent / "figures", Path(summary).parent)
    io.write_text(summary, summary_markdown(params, result, pred, all_best, Path(figures_rel).as_posix(), "png", whole))
    return pred
