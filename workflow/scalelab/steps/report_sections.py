"""The sections of the summary page (results/summary.md), in the order a reader with a budget
asks: how earlier forecasts fared (ledger.py), what more data buys and what it costs, which model
to train, what to run next; then the evidence: the families compared, the backtest, the
convergence audit. Pure: data in, Markdown lines out; report.py puts them on the page.
"""

from __future__ import annotations

import math

from scalelab.curves import fit, forecast
from scalelab.decisions import MAX_WIDTH

# The sections that rest on wall-clock seconds (cost.json): the rest of the page is the same bytes run to run.
COST_SECTION, PLAN_SECTION = "What it costs", "What to run next"
FORECAST_SECTION = "Forecasts checked"  # the ledger's forecasts against what this run measured: first on the page


def fmt(v, digits=3) -> str:
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


def ci(pair) -> str:
    if pair is None:
        return "-"
    return f"[{fmt(pair[0])}, {fmt(pair[1])}]"


def size_law_note(result: dict, family: str) -> list[str]:
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
    ahead = bt.get("forecast")
    if ahead:  # the floor laws' plain mean, whose backtest sets the interval's rate: scored beside the laws, not ranked
        cells = [_pct(ahead["errors"][str(h)]) for h in bt["holdouts"]]
        lines.append("| *the laws' mean (its misses set the interval's rate)* | " + " | ".join(cells) + f" | {_pct(ahead['mean'])} | - |")
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


def comparison_markdown(whole: dict, figures_rel: str, image: str) -> list[str]:
    """The families side by side, and the shared-exponent test: does one beta_g fit them all?"""
    lines = ["## Families compared", "", f"![every family]({figures_rel}/families.{image})", "",
             "| family | local slope at its largest shard | law | beta_g | 95% interval | gamma | backtest error | persistence |",
             "|---|---|---|---|---|---|---|---|"]
    for family, r in whole["families"].items():
        scores = {row["law"]: row["mean"] for row in r["backtest"]["rows"]}
        slope = r["local_slope"]
        lines.append(f"| {family} | {slope['slope']:.3f} {ci(slope['slope_ci'])} | {r['law']} | {fmt(r['beta_g'])} | "
                     f"{ci(r['beta_g_ci'])} | {fmt(r['gamma'])} | {_pct(scores.get(r['law']))} | {_pct(scores.get('persistence'))} |")
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
    width = fmt(r["width"]) if r["params"] is None or r["width"] is not None else f"> {MAX_WIDTH:,}"
    beyond = " (beyond the grid: an extrapolation)" if r.get("beyond_grid") else ""
    source = f" ({r['size_from']})" if r.get("size_from") else ""
    params = f"{fmt(r['params'])}" + (f" {ci(r['params_ci'])}" if r.get("params_ci") else "")
    if r.get("reached"):
        return (f"| {r['error']:g} | reached: measured at {fmt(r['reached_at'])} | - | "
                f"{fmt(r['reached_at'] / (r['size'] / r['multiplier']) if r['size'] else None)} | {params}{source} | {width} |")
    return (f"| {r['error']:g} | {fmt(r['size'])}{untrusted(r)} | {ci(r['size_ci'])} | {fmt(r['multiplier'])} | "
            f"{params}{source}{beyond} | {width} |")


def untrusted(r: dict) -> str:
    return f" (beyond {forecast.TRUSTED_HORIZON:g}x: not benchmarked)" if r.get("beyond_trusted") else ""


def forecast_members(ahead: dict) -> str:
    """The forecast's point in words: its level, or its laws with the weights their backtests earned."""
    if not ahead["laws"]:
        return "the level"
    weights = ahead.get("weights") or {name: 1.0 for name in ahead["laws"]}
    total = sum(weights.values())
    members = [*ahead["laws"], *(["persistence"] if weights.get("persistence") else [])]
    return ("the mean in log error of " + ", ".join(f"{name} ({weights[name] / total:.2f})" for name in members)
            + ", weighted by how well each predicted this curve's held-out shards")


def exponent_text(result: dict) -> str:
    """The Hestness exponent, or a plain statement that the data cannot pin it down: an interval
    spanning more than fit.EXPONENT_FACTOR carries no headline."""
    if result["law"] == "flat":
        return f"none: the curve does not fall (slope {fmt(result['beta_g'])} {ci(result['beta_g_ci'])})"
    text = f"beta_g = {fmt(result['beta_g'])} {ci(result['beta_g_ci'])} ({result['law']} law)"
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
                  f"level, {fmt(math.exp(ahead['level']))}, with the interval below.", ""]
    lines += [
        f"**One more doubling of data** ({family}, m = {fmt(slope['size'])} to {fmt(2 * slope['size'])}): error x "
        f"{slope['doubling_ratio']:.3f} {ci(slope['doubling_ratio_ci'])}, a local slope of {slope['slope']:.3f} "
        f"{ci(slope['slope_ci'])} (d log error / d log m at the largest shard).",
        "",
        f"Power-law region, for comparison with Hestness et al.: {exponent_text(result)}.",
        "",
        f"How the forecast is made: {forecast_members(ahead)}; its 95% interval grows with the horizon as fast as this "
        f"curve's own backtest missed its held-out shards ({ahead['rate_own']:.3f} in log error per e-fold "
        f"of data), shrunk towards what learning curves like it showed ({ahead['rate']:.3f}), over a point noise of "
        f"{ahead['noise']:.3f}" + ("; more data never raises its upper bound above the last measured error plus its noise"
                                   if ahead.get("ceiling") is not None else "") + ". On real learning curves (LCDB) this covered "
        f"the measured error as often as it claims out to {forecast.TRUSTED_HORIZON:g}x the largest shard "
        "(bench/README.md); past that it is not benchmarked.",
        "",
    ]
    return lines


def _hours(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.3g}"


def cost_markdown(pred: dict, costs: dict) -> list[str]:
    """What the study cost, how cost grows with m, and what each prediction would cost to train."""
    unit = costs["unit"]
    priced = costs["study_money"] is not None
    lines = [f"## {COST_SECTION}", "",
             f"The study so far: {_hours(costs['study_hours'])} {unit} over {costs['trials_timed']} trials"
             + (f" ({costs['study_money']:,.2f} at your prices)" if priced else "") + "."]
    laws = costs["laws"]
    if laws["best"] is None:
        return [*lines, "", "Too few shards were timed to fit a cost law (3 are needed).", ""]
    b, s = laws["best"], laws["shard"]
    lines += ["", f"Training the best model costs ~ m^{b['exponent']:.2f} {ci(b['exponent_ci'])}"
              + (f", a whole shard's trials ~ m^{s['exponent']:.2f} {ci(s['exponent_ci'])}" if s else "")
              + f" (fitted on the timings of m = {', '.join(f'{m:,.0f}' for m in b['fitted_on'])}: wall-clock, so these "
              "numbers, unlike the rest of this page, change a little from run to run).", "",
              f"| prediction | m | train the best model ({unit}) | 95% interval | a shard's trials |"
              + (" money (your prices) |" if priced else ""),
              "|---|---|---|---|---|" + ("---|" if priced else "")]
    rows = [(f"{r['multiplier']:g}x the data", r) for r in costs["at_more_data"]]
    rows += [(f"reach {pred['metric']} {r['error']:g}", r) for r in costs["for_target_error"] if r["train_hours"] is not None]
    for label, r in rows:
        money = (" - |" if r["money"] is None else f" {r['money']:,.2f} |") if priced else ""
        lines.append(f"| {label} | {fmt(r['size'])} | {_hours(r['train_hours'])} | "
                     f"[{_hours(r['train_hours_ci'][0])}, {_hours(r['train_hours_ci'][1])}] | {_hours(r['shard_hours'])} |{money}")
    return [*lines, ""]


def size_markdown(pred: dict, family: str, result: dict) -> list[str]:
    """Which model to train: the paper's size law where measured, else the smallest size within
    the seed noise of the best and how it moves with m."""
    sizes = pred["model_size"]
    trend = sizes["trend"]
    lines = ["## Which model to train", ""]
    if sizes["law_measured"]:
        lines += [f"The paper's size law is measured: s(m) = {fmt(result['alpha_p'])} * m^{fmt(result['beta_p'])} "
                  f"{ci(result['beta_p_ci'])}; the targets below use it.", ""]
    if sizes["censored"]:
        lines += [f"**The size law is censored:** {sizes['censored']}.", ""]
    if trend["kind"] == "flat":
        slope = f" (slope {trend['exponent']:.2f} {ci(trend['exponent_ci'])})" if trend["exponent_ci"] else ""
        lines += [f"**Size does not limit the error here as far as the seeds tell:** the smallest width within the seed noise "
                  f"of the best does not move with m{slope}. Train width {trend['width']} ({trend['params']:,} parameters) "
                  "at the predicted data." + ("" if sizes["law_measured"] else " The targets below use it."), ""]
    else:
        lines += [f"The smallest size within the seed noise of the best grows as m^{trend['exponent']:.2f} "
                  f"{ci(trend['exponent_ci'])} over m = {', '.join(f'{m:,}' for m in trend['sizes'])}"
                  + ("" if sizes["law_measured"] else "; the targets below extrapolate it.") + "", ""]
    noise = ("within the seed noise: a median " + f"{pred.get('select_metric', 'selection metric')} no more than "
             f"{sizes['noise_sigmas']:g} standard errors (of a difference of two medians) above the best's")
    lines += [f"| m | best width (params) | smallest {noise} | grid edge |", "|---|---|---|---|"]
    for r in sizes["per_shard"]:
        lines.append(f"| {r['size']:,} | {r['best_width']} ({r['best_params']:,}) | {r['smallest_width']} ({r['smallest_params']:,})"
                     f"{'' if r['noise'] is not None else ' (one seed: no noise to compare)'} | {r['edge'] or '-'} |")
    return [*lines, ""]


def plan_markdown(costs: dict, metric: str) -> list[str]:
    """The next experiment: candidate steps ranked by how much they narrow the headline interval per unit of cost."""
    p = costs["plan"]
    head = p["headline"]
    unit = p["unit"]
    lines = [f"## {PLAN_SECTION}", "",
             f"The headline prediction, {metric} at {head['multiplier']:g}x the largest shard (m = {fmt(head['size'])}), has a "
             f"95% interval spanning a factor {head['width_factor']:.2f} (high / low). Each step below was simulated "
             f"{p['worlds']} times: outcomes drawn from the current forecast (its extrapolation spread, and "
             f"{p['seed_sd']:.3f} per seed in log error), the forecast rebuilt on each. Ranked by narrowing per {unit}.", "",
             f"| rank | step | what it runs | cost ({unit}) | interval after (factor) | narrowing per {unit} |", "|---|---|---|---|---|---|"]
    for r in p["rows"]:
        per = "-" if r["per_cost"] is None else f"{r['per_cost']:.3g}"
        lines.append(f"| {r['rank']} | {r['step']} | {r['what']} | {_hours(r['cost'])} | {r['width_factor']:.2f} | {per} |")
    if p["rows"]:
        top = p["rows"][0]
        lines += ["", f"**Next: {top['step']}** ({top['what']}): the interval would span a factor {top['width_factor']:.2f} "
                  f"instead of {head['width_factor']:.2f}, for {_hours(top['cost'])} {unit}."]
    return [*lines, ""]


def _sig(v: float) -> str:
    return f"{v:.3g}"


def _shards(from_sizes: str) -> str:
    sizes = [int(s) for s in from_sizes.split(";") if s]
    return f"{len(sizes)} shards, m = {sizes[0]:,} to {sizes[-1]:,}" if len(sizes) > 1 else f"1 shard, m = {sizes[0]:,}"


def _log_miss(log_miss: float | None, ratio: float | None = None) -> str:
    if log_miss is None:
        return "-"
    return f"{log_miss:+.3f}" + (f" ({ratio:+.1%})" if ratio is not None else "")


def forecast_check_markdown(checks: dict | None) -> list[str]:
    """The ledger's forecasts against this run's measurements (ledger.check), first on the page:
    what was forecast from which shards, what was measured, inside the 95% interval or not, the
    miss, and persistence's (the largest shard's value carried forward) beside it; then the sizes
    still awaiting data. Nothing at all when the ledger holds nothing (the page is as before)."""
    if not checks or not (checks["checked"] or checks["pending"] or checks["ignored"]):
        return []
    done, pending = checks["checked"], checks["pending"]
    lines = [f"## {FORECAST_SECTION}", ""]
    if done:
        lines += [f"Forecasts of {checks['metric']} recorded in the ledger (`scalelab ledger`) before their size was measured, "
                  "against this run's best model there. Misses are log(measured / forecast); persistence forecasts the "
                  "largest shard's value the forecast was made from.", "",
                  "| family | forecast from shards | m | forecast [95% interval] | measured | inside? | miss: log error (%) "
                  "| persistence's miss (log error) |", "|---|---|---|---|---|---|---|---|"]
        for r in done:
            lines.append(f"| {r['family']} | {_shards(r['from_sizes'])} | {r['size']:,} ({r['multiplier']:g}x) | "
                         f"{_sig(r['forecast'])} [{_sig(r['low'])}, {_sig(r['high'])}] | {_sig(r['measured'])} | "
                         f"{'yes' if r['inside'] else '**no**'} | {_log_miss(r['log_miss'], r['miss'])} | "
                         f"{_log_miss(r['persistence_log_miss'])} |")
        inside = sum(r["inside"] for r in done)
        sentence = f"**{inside} of {len(done)} forecast{'s' if len(done) != 1 else ''} fell inside {'its' if len(done) == 1 else 'their'} 95% interval**"
        paired = [(r["log_miss"], r["persistence_log_miss"]) for r in done if None not in (r["log_miss"], r["persistence_log_miss"])]
        if paired:
            ours, theirs = (sum(abs(p[i]) for p in paired) / len(paired) for i in (0, 1))
            sentence += (f"; {'they' if len(paired) > 1 else 'it'} missed by {ours:.3f} in log error"
                         f"{' on average' if len(paired) > 1 else ''}, persistence by {theirs:.3f}")
        lines += ["", sentence + "."]
    else:
        lines += [f"None of the ledger's forecasts of {checks['metric']} has been measured yet."]
    if pending:
        by_size: dict[int, list[str]] = {}
        for r in pending:
            by_size.setdefault(r["size"], [])
            if r["family"] not in by_size[r["size"]]:
                by_size[r["size"]].append(r["family"])
        waiting = "; ".join(f"m = {m:,} ({', '.join(f)})" for m, f in sorted(by_size.items()))
        lines += ["", f"Still awaiting data: {waiting}. `scalelab grow` adds the shards that measure them."]
    if checks["ignored"]:
        n = sum(checks["ignored"].values())
        lines += ["", f"Not checked here: {n} forecast{'s' if n != 1 else ''} of the ledger made on "
                  + ", ".join(f"{why} ({k})" for why, k in checks["ignored"].items()) + "."]
    return [*lines, ""]


def _signed_pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:+.1%}"


def audit_markdown(audit: dict) -> list[str]:
    """The audit as summary.md lines: a small table, then one plain sentence with the verdict."""
    metric, factor, threshold = audit["metric"], audit["factor"], audit["threshold"]
    lines = [f"| family | shard size | width | lr | {metric} | with {factor:g}x patience and budget | change | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for r in audit["rows"]:
        after = "n/a" if r["after"] is None else f"{r['after']:.4g}"
        lines.append(f"| {r['family']} | {r['size']} | {r['width']} | {r['lr']} | {r['before']:.4g} | {after} | "
                     f"{_signed_pct(r['change'])} | {r['verdict']} |")
    bad = [r for r in audit["rows"] if r["verdict"] != "converged"]
    if bad:
        which = ", ".join(f"{r['family']} at {r['size']} ({_signed_pct(r['change'])})" for r in bad)
        lines += ["", f"Under-trained: with {factor:g}x the patience and step budget, {metric} moves by more than "
                      f"{threshold:.0%} on {which}, so these points measure the stopping rule, not the data; "
                      "raise train.patience_epochs or the step budget before trusting the fit."]
    else:
        lines += ["", f"Converged: with {factor:g}x the patience and step budget, {metric} moves by at most "
                      f"{threshold:.0%} on the largest shards of every family."]
    return lines
