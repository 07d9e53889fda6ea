"""Step `figures`: the primary family's learning curve, model-size curve and validation loss
against model size for every shard; every family's learning curve on shared axes; the backtest
(each law's prediction of the shards it did not see); and error against training cost. Each as
PNG and a vector format, sized for one column of a paper (the backtest, two).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scalelab import io, study
from scalelab.curves import fit, forecast
from scalelab.curves.estimator import LearningCurve
from scalelab.decisions import cost
from scalelab.steps import fit as fit_step

REGION_COLORS = {"small-data": "#f2d7d5", "power-law": "#d6eaf8", "irreducible": "#e8e8e8"}
LABELS = {"test_error": "test error", "test_loss": "test loss (nats)", "val_error": "validation error",
          "val_loss": "validation loss (nats)", "test_bits": "test bits per {token}", "val_bits": "validation bits per {token}"}


def axis_labels(result: dict) -> tuple[str, str]:
    """x in what the sizes count (examples, characters, pairs), y in what a loss is per (an example,
    a character, a target character): two facts the dataset states (pool.json), not one."""
    return f"training {result.get('unit', 'examples')} m", LABELS[result["metric"]].format(token=result.get("loss_per", "example"))


# One column of a paper. Applied through a context (run), never to matplotlib's global settings,
# so a notebook that imports scalelab keeps its own style.
STYLE = {
    "font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "legend.fontsize": 6,
    "xtick.labelsize": 6, "ytick.labelsize": 6, "lines.linewidth": 1.0, "axes.linewidth": 0.6,
    "svg.hashsalt": "scalelab",  # stable element ids: same figure, same bytes
}


def _figure(*grid: int, figsize: tuple[float, float], **options):
    """A figure and its axes (Figure.subplots), made without pyplot: it runs headless, on a cluster
    node as on a laptop, with no backend to choose (matplotlib.use would switch the process's,
    a notebook's included) and no figure left open in the process."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*grid, **options)


def _band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2.5 and 97.5 percentiles over bootstrap rows (rows x points)."""
    return np.nanpercentile(values, 2.5, axis=0), np.nanpercentile(values, 97.5, axis=0)


def _forecast(ax, result: dict, m_start: float, m_max: float, extend_to: float, color: str, alpha: float,
              label: bool) -> None:
    """The forecast's 95% band over the data and beyond, its point dashed past the data as far as
    the LCDB benchmark measured it (forecast.TRUSTED_HORIZON); past that only its point, dotted
    and fainter, with no band: the benchmark cannot say how wide it would be there."""
    lc = LearningCurve.from_dict(result)
    trusted = min(extend_to, forecast.TRUSTED_HORIZON * m_max)
    inside, ahead_m = np.geomspace(m_start, m_max, 100), np.geomspace(m_max, trusted, 50)
    m_band = np.concatenate([inside, ahead_m])
    lo, hi = lc.interval(m_band)
    ax.fill_between(m_band, lo, hi, color=color, alpha=alpha, lw=0, zorder=1, label="95% band" if label else None)
    ax.plot(ahead_m, lc.predict(ahead_m), "--", color=color, zorder=3,
            label=f"forecast (to {forecast.TRUSTED_HORIZON:g}x: benchmarked)" if label else None)
    if extend_to > trusted:
        beyond = np.geomspace(trusted, extend_to, 50)
        ax.plot(beyond, lc.predict(beyond), ":", color=color, alpha=0.6, zorder=3,
                label="beyond: not benchmarked" if label else None)


def _ci(name: str, value: float, ci) -> str:
    return f"{name} = {value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def _headline(name: str, result: dict) -> str:
    """A curve's legend: its local slope at the largest shard (what one more doubling buys), and
    beta_g only where the shards pin it down."""
    slope = result["local_slope"]
    text = _ci(f"{name}local slope", slope["slope"], slope["slope_ci"])
    return text + (f"; $\\beta_g$ {result['beta_g']:.2f}" if fit.exponent_carried(result) else "")


def learning_curve(ax, trials: pd.DataFrame, best: pd.DataFrame, result: dict, metric: str, extend_to: float):
    ok = trials[trials["status"] == "ok"]
    ax.scatter(ok["size"], ok[metric], s=5, color="0.45", alpha=0.45, lw=0, label="every trial", zorder=2)
    ax.plot(best["size"], best[metric], "o-", color="black", ms=3, lw=1.2, label="best per shard", zorder=4)

    start, m_max = result["power_law_start"], float(best["size"].max())
    m_fit = np.geomspace(result["fit_start"], m_max, 100)
    law = fit.fitted_of(result)
    _forecast(ax, result, result["fit_start"], m_max, extend_to, "C0", 0.2, label=True)
    ax.plot(m_fit, law.error(m_fit), color="C0", zorder=3, label=f"{result['law']} law; " + _headline("", result))
    if result.get("best_guess"):
        ax.axhline(result["best_guess"], color="0.3", ls=":", lw=0.8, label="best guess")

    left = float(best["size"].min()) / 1.5
    small = result["small_data_sizes"]
    boundary = np.sqrt(small[-1] * start) if small else left
    onset = result["irreducible_onset"] or np.inf
    right = extend_to * 1.3
    spans = [("small-data", left, boundary), ("power-law", boundary, min(onset, right)), ("irreducible", onset, right)]
    for name, a, b in spans:
        if b > a and a < right:
            ax.axvspan(a, b, color=REGION_COLORS[name], lw=0, zorder=0)
            ax.text(np.sqrt(a * min(b, right)), 0.985, name, transform=ax.get_xaxis_transform(), ha="center", va="top",
                    fontsize=5, color="0.35")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(left, right)
    xlabel, ylabel = axis_labels(result)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _plain_y_ticks(ax)
    ax.legend(loc="lower left", frameon=False)


def _plain_y_ticks(ax):
    """0.05, 0.1, 0.5 rather than 5x10^-2: errors read better as plain numbers."""
    from matplotlib.ticker import FuncFormatter

    lo, hi = ax.get_ylim()
    narrow = hi / lo < 10  # under a decade: label every tick, or there may be none
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if narrow or f"{v:.0e}"[0] in "25" else ""))


def model_size(ax, best: pd.DataFrame, result: dict):
    measured = best[best["size"].isin(result["size_law_sizes"])]
    censored = best[best["size"].isin(result["grid_edge_sizes"])]
    rest = best[best["size"] < result["power_law_start"]]
    ax.plot(measured["size"], measured["params"], "o", color="black", ms=3, label="best model (fitted)")
    if len(censored):
        ax.plot(censored["size"], censored["params"], "^", color="C3", ms=3, label="at a grid edge (censored)")
    if len(rest):
        ax.plot(rest["size"], rest["params"], "o", mfc="none", color="0.5", ms=3, label="best model (small data)")
    if result["beta_p"] is not None:
        m = np.geomspace(float(measured["size"].min()), float(measured["size"].max()), 50)
        size_law = result["size_samples"]
        lo, hi = _band(size_law[:, :1] * m[None, :] ** size_law[:, 1:2])
        ax.fill_between(m, lo, hi, color="C1", alpha=0.2, lw=0)
        ax.plot(m, result["alpha_p"] * m ** result["beta_p"], color="C1",
                label=_ci(r"$\beta_p$", result["beta_p"], result["beta_p_ci"]))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(axis_labels(result)[0])
    ax.set_ylabel("parameters of the best model")
    ax.legend(loc="upper left", frameon=False)


def val_loss_vs_params(ax, fig, trials: pd.DataFrame):
    import matplotlib as mpl

    ok = trials[trials["status"] == "ok"]
    # Per shard and width: the best learning rate's median over seeds.
    per_config = ok.groupby(["size", *study.grid_columns(ok.columns)], as_index=False, dropna=False).agg(params=("params", "first"), val_loss=("val_loss", "median"))
    per_width = per_config.groupby(["size", "width"], as_index=False).agg(params=("params", "first"), val_loss=("val_loss", "min"))
    sizes = sorted(per_width["size"].unique())
    norm = mpl.colors.LogNorm(vmin=min(sizes), vmax=max(sizes))
    cmap = mpl.colormaps["viridis"]
    for size in sizes:
        rows = per_width[per_width["size"] == size].sort_values("params")
        ax.plot(rows["params"], rows["val_loss"], "o-", ms=2, color=cmap(norm(size)))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("validation loss (nats)")
    _plain_y_ticks(ax)
    fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="shard size m", pad=0.02)


def families(ax, best: pd.DataFrame, whole: dict, extend_to: float):
    """Every family's best model per shard and fitted law on shared log-log axes: within one
    problem the paper finds parallel lines (one beta_g), offset by their intercepts."""
    for i, family in enumerate(whole["families"]):
        result = fit_step.family_fit(whole, family)  # the law and the forecast: no bootstrap rows needed
        rows = best[best["family"] == family].sort_values("size")
        color = f"C{i}"
        ax.plot(rows["size"], rows[result["metric"]], "o", color=color, ms=3, zorder=3)
        m_max = float(rows["size"].max())
        m_fit = np.geomspace(result["fit_start"], m_max, 100)
        _forecast(ax, result, result["fit_start"], m_max, extend_to, color, 0.15, label=False)
        law = fit.fitted_of(result)
        ax.plot(m_fit, law.error(m_fit), color=color, zorder=2, label=_headline(f"{family}: ", result))
    ax.set_xscale("log")
    ax.set_yscale("log")
    xlabel, ylabel = axis_labels(fit_step.family_fit(whole))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _plain_y_ticks(ax)
    c = whole["comparison"]
    title = f"exponents: {c['verdict']}" + (f" (p = {c['p_value']:.2g})" if "p_value" in c else "")
    ax.legend(loc="lower left", frameon=False, title=title if len(whole["families"]) > 1 else None, title_fontsize=6)


def backtest(axes, result: dict):
    """One panel per split: the shards a law was fitted on, and what each law (and the forecast,
    their mean) predicted for the shards held out, against what was measured there."""
    bt = result["backtest"]
    m, eps = np.asarray(result["measured"]["size"]), np.asarray(result["measured"]["error"])
    rows = [r for r in bt["rows"] if r["law"] != "persistence"]
    for ax, h in zip(axes, bt["holdouts"]):
        cut = len(m) - h
        ax.plot(m[:cut], eps[:cut], "o", color="black", ms=3, label="fitted on", zorder=4)
        ax.plot(m[cut:], eps[cut:], "o", mfc="white", mec="black", ms=4, label="held out (measured)", zorder=5)
        for i, r in enumerate(rows):
            if str(h) in r["predicted"]:
                ax.plot(m[cut - 1:], [eps[cut - 1], *r["predicted"][str(h)]], "-", marker=".", ms=3, color=f"C{i}",
                        lw=0.8, alpha=0.8, label=r["law"])
        ahead = bt.get("forecast")
        if ahead and str(h) in ahead["predicted"]:
            ax.plot(m[cut - 1:], [eps[cut - 1], *ahead["predicted"][str(h)]], "-", color="black", lw=1.6,
                    label="the laws' mean", zorder=3)
        ax.plot(m[cut - 1:], np.full(h + 1, eps[cut - 1]), ":", color="0.5", label="persistence")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"last {h} held out")
        ax.set_xlabel(axis_labels(result)[0])
        _plain_y_ticks(ax)
    axes[0].set_ylabel(axis_labels(result)[1])
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)  # outside: the panels are full


def cost_curve(ax, best: pd.DataFrame, costs: dict, result: dict, extend_to: float):
    """Error against the training cost of the best model per shard, measured, and the forecast
    carried along the cost law (its band the forecast's; the cost's own interval is in the summary).
    The hours per shard and the law are predict's (cost.json): fitted once, there."""
    metric = result["metric"]
    measured = [row["best"] for row in costs["per_shard"]]  # smallest first, as best is sorted; null (untimed): a gap
    ax.plot(measured, best.sort_values("size")[metric], "o-", color="black", ms=3, label="measured (best per shard)")
    law = costs["laws"]["best"]
    if law is not None:
        lc = LearningCurve.from_dict(result)
        m_last = float(best["size"].max())
        trusted = min(extend_to, forecast.TRUSTED_HORIZON * m_last)
        sizes = np.geomspace(m_last, max(extend_to, 2 * m_last), 60)
        hours = np.array([cost.hours_at(law, m) for m in sizes])
        point, (lo, hi) = lc.predict(sizes), lc.interval(sizes)
        near = sizes <= trusted * (1 + 1e-9)
        ax.fill_between(hours[near], lo[near], hi[near], color="C1", alpha=0.2, lw=0, label="95% band")
        ax.plot(hours[near], point[near], "--", color="C1", label=f"forecast to {forecast.TRUSTED_HORIZON:g}x the data")
        ax.plot(hours[~near], point[~near], ":", color="C1", alpha=0.6, label="beyond: not benchmarked")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"training cost of the best model ({costs['unit']})")
    ax.set_ylabel(axis_labels(result)[1])
    _plain_y_ticks(ax)
    ax.legend(loc="lower left", frameon=False)


def _save(fig, out_dir: Path, name: str, formats: list[str], dpi: int) -> list[Path]:
    paths = []
    for fmt in formats:
        path = out_dir / f"{name}.{fmt}"
        # No dates in the metadata, so the same figure is the same bytes.
        metadata = {"png": {}, "pdf": {"CreationDate": None, "ModDate": None}, "svg": {"Date": None}}[fmt]
        with io.atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata, bbox_inches="tight", pad_inches=0.02)
        paths.append(path)
    return paths


def run(params: dict, tables_dir: str, fit_json: str, samples_csv: str, cost_json: str, out_dir: str) -> list[Path]:
    import matplotlib

    with matplotlib.rc_context(STYLE):
        return _draw(params, tables_dir, fit_json, samples_csv, cost_json, out_dir)


def _draw(params: dict, tables_dir: str, fit_json: str, samples_csv: str, cost_json: str, out_dir: str) -> list[Path]:
    cfg = params["figures"]
    out = Path(out_dir)
    all_trials = pd.read_csv(Path(tables_dir) / "trials.csv")
    all_best = pd.read_csv(Path(tables_dir) / "best.csv")
    whole = io.read_json(fit_json)  # read once: every family's fit
    result = fit_step.with_samples(whole, pd.read_csv(samples_csv))
    primary = result["family"]
    trials = all_trials[all_trials["family"] == primary]
    best = all_best[all_best["family"] == primary].sort_values("size")
    metric = result["metric"]
    extend_to = float(best["size"].max()) * max(params["predict"]["data_multipliers"] or [1])
    w = cfg["width_in"]
    paths = []

    fig, ax = _figure(figsize=(w, w * 0.8))
    learning_curve(ax, trials, best, result, metric, max(extend_to, float(best["size"].max()) * 2))
    paths += _save(fig, out, "learning_curve", cfg["formats"], cfg["dpi"])

    fig, ax = _figure(figsize=(w, w * 0.7))
    model_size(ax, best, result)
    paths += _save(fig, out, "model_size", cfg["formats"], cfg["dpi"])

    fig, ax = _figure(figsize=(w, w * 0.7))
    val_loss_vs_params(ax, fig, trials)
    paths += _save(fig, out, "val_loss_vs_params", cfg["formats"], cfg["dpi"])

    fig, ax = _figure(figsize=(w, w * 0.8))
    families(ax, all_best, whole, max(extend_to, float(best["size"].max()) * 2))
    paths += _save(fig, out, "families", cfg["formats"], cfg["dpi"])

    panels = max(len(result["backtest"]["holdouts"]), 1)
    fig, axes = _figure(1, panels, figsize=(2 * w, w * 0.7), sharey=True, squeeze=False)
    backtest(axes[0], result)
    paths += _save(fig, out, "backtest", cfg["formats"], cfg["dpi"])

    fig, ax = _figure(figsize=(w, w * 0.8))
    cost_curve(ax, best, io.read_json(cost_json), result, extend_to)
    paths += _save(fig, out, "cost", cfg["formats"], cfg["dpi"])
    return paths
