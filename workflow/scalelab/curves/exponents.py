"""Do the families share one learning-curve exponent? The paper's headline claim, tested as a
nested-model comparison on the seed-level points.

Model 1: every family its own law (all parameters free). Model 0: the same, but one exponent
beta_g shared by all families (each keeps its own scale, floor and shape). Both are fitted by
least squares on log error of every seed of each family's best configuration per shard. An F test
on the two residual sums (and their AIC) gives the p-value. The verdict in words:

- different: the shared exponent is rejected (p < 0.05);
- same: not rejected, and every pair of exponents differs by less than `margin` (relative to the
  shared exponent) with 95% confidence: equality shown, not merely not refuted;
- undecided: neither.

Then the verdict's stability: the seed-level points are jittered 200 times by log-normal noise of
the measured seed spread and the test is rerun; below 95% agreement the verdict is "undecided".
"""

from __future__ import annotations

import math

import numpy as np

from scalelab.curves import fit, laws
from scalelab.errors import ScalelabError

P_VALUE = 0.05
STABLE = 0.95


def _residuals_separate(law, data, thetas):
    return np.concatenate([(law.log_error(t, d["log_x"], d["ctx"]) - d["log_eps"]) for t, d in zip(thetas, data)])


def _fit_shared(law, data, thetas_init):
    """Least squares with the exponent parameter shared: theta = [shared exponent, then each
    family's other parameters]."""
    from scipy.optimize import least_squares

    j = law.exponent_index
    others = [np.delete(np.asarray(t, float), j) for t in thetas_init]
    lo_all, hi_all = [], []
    for d in data:
        lo, hi = law.bounds(d["ctx"])
        lo_all.append(np.delete(lo, j))
        hi_all.append(np.delete(hi, j))
    lo0, hi0 = law.bounds(data[0]["ctx"])
    x0 = np.concatenate([[np.mean([t[j] for t in thetas_init])], *others])
    lo = np.concatenate([[lo0[j]], *lo_all])
    hi = np.concatenate([[hi0[j]], *hi_all])
    x0 = np.clip(x0, lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo))
    size = law.n_params - 1

    def unpack(x):
        return [np.insert(x[1 + i * size:1 + (i + 1) * size], j, x[0]) for i in range(len(data))]

    with np.errstate(all="ignore"):
        sol = least_squares(lambda x: _residuals_separate(law, data, unpack(x)), x0, bounds=(lo, hi), method="trf")
    return unpack(sol.x), 2 * sol.cost


def _prepare(law, points: dict[str, tuple], best_guess):
    data = []
    for family, (m, eps) in points.items():
        m, eps = np.asarray(m, float), np.asarray(eps, float)
        sizes = np.unique(m)
        medians = np.array([np.median(eps[m == size]) for size in sizes])
        curve = fit.Curve(sizes, medians, None, best_guess)  # the regions, from the median per size
        start_m = curve.m[curve.start(law)]
        keep = m >= start_m
        ctx = laws.context(eps[keep], best_guess)
        m_ref = float(np.exp(np.mean(np.log(m[keep]))))
        data.append({"family": family, "m": m[keep], "eps": eps[keep], "log_x": np.log(m[keep] / m_ref),
                     "log_eps": np.log(eps[keep]), "ctx": ctx, "m_ref": m_ref})
    return data


def _test(law, data, margin: float, inits=None) -> dict:
    """The F test of one shared exponent against one each; `inits`: start each family's fit there
    alone (the jittered repeats start at the measured fits) instead of from the law's starts."""
    separate = [laws.fit_law(law, d["m"], d["eps"], None, d["ctx"], m_ref=d["m_ref"], init=None if inits is None else inits[i])
                for i, d in enumerate(data)]
    rss1 = sum(2 * f.cost for f in separate)
    shared_thetas, rss0 = _fit_shared(law, data, [f.theta for f in separate])
    n = sum(len(d["m"]) for d in data)
    k = len(data)
    p1 = k * law.n_params
    df1, df2 = k - 1, max(n - p1, 1)
    f_stat = max(rss0 - rss1, 0.0) / df1 / max(rss1 / df2, 1e-300)
    from scipy.stats import f as f_dist

    p_value = float(f_dist.sf(f_stat, df1, df2))
    betas = [f.asymptote()[1] for f in separate]
    ses = [laws.jacobian_se(f, d["m"], d["eps"])[law.exponent_index] for f, d in zip(separate, data)]
    shared_beta = float(laws.Fitted(law, shared_thetas[0], data[0]["m_ref"], data[0]["ctx"]).asymptote()[1])
    worst = 0.0  # the largest |difference| of two exponents that 95% confidence allows
    for a in range(k):
        for b in range(a + 1, k):
            worst = max(worst, abs(betas[a] - betas[b]) + 1.96 * math.hypot(ses[a], ses[b]))
    if p_value < P_VALUE:
        verdict = "different"
    elif worst < margin * abs(shared_beta):
        verdict = "same"
    else:
        verdict = "undecided"
    aic = lambda rss, p: n * math.log(max(rss, 1e-300) / n) + 2 * p  # noqa: E731
    return {"verdict": verdict, "p_value": p_value, "f": f_stat, "df": [df1, df2], "shared_beta_g": shared_beta,
            "aic_shared": aic(rss0, p1 - k + 1), "aic_separate": aic(rss1, p1),
            "beta_g": {d["family"]: float(b) for d, b in zip(data, betas)},
            "beta_g_se": {d["family"]: float(s) for d, s in zip(data, ses)},
            "largest_difference_95": worst, "thetas": [f.theta for f in separate]}


def compare(points: dict[str, tuple], law_name: str, best_guess: float | None, seed_sd: float | None,
            margin: float = 0.25, n_jitter: int = 200, seed: int = 0) -> dict:
    """points: {family: (sizes, errors)} with one entry per seed and size. Returns the test, its
    verdict in words and the verdict's stability under jitter of the measured seed spread."""
    if len(points) < 2:
        return {"verdict": "one family: nothing to compare", "families": list(points)}
    law = laws.get(law_name)
    data = _prepare(law, points, best_guess)
    for d in data:
        if len(d["m"]) < law.min_points + 1:
            raise ScalelabError(f"the exponent test needs at least {law.min_points + 1} points of {d['family']} for law "
                                f"{law.name}; it has {len(d['m'])}: add shards or seeds")
    result = _test(law, data, margin)
    inits = result.pop("thetas")
    stability, votes = None, {}
    if seed_sd and n_jitter:
        rng = np.random.default_rng(seed)
        for _ in range(n_jitter):
            jittered = [{**d, "eps": d["eps"] * np.exp(rng.normal(0, seed_sd, len(d["eps"])))} for d in data]
            for d in jittered:
                d["log_eps"] = np.log(d["eps"])
            try:
                v = _test(law, jittered, margin, inits)["verdict"]
            except ScalelabError:
                v = "failed"
            votes[v] = votes.get(v, 0) + 1
        stability = votes.get(result["verdict"], 0) / n_jitter
    measured = result["verdict"]
    final = measured if stability is None or stability >= STABLE else "undecided"
    words = {
        "different": "the families' exponents differ: one shared beta_g is rejected",
        "same": "one exponent shared by every family fits, and their exponents agree within the margin",
        "undecided": "the data cannot tell whether the families share one exponent",
    }[final]
    if final != measured:
        words += f" (the test leans '{measured}', but only {stability:.0%} of {n_jitter} jittered repeats agree)"
    return {**result, "law": law.name, "margin": margin, "measured_verdict": measured, "verdict": final,
            "verdict_text": words, "stability": stability, "jitter": {"n": n_jitter, "seed_sd": seed_sd, "votes": votes},
            "families": list(points)}
