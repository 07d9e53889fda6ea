"""Learning curves with a known truth, for the extrapolation benchmark's --synthetic run.

Five shapes, each a noiseless error curve with drawn parameters, built from the library where it
has the shape:
- plateau, m4: the library's simulator (scalelab.curves.simulate.draw_truth and true_error):
  scalelab's plateau law, or Alabdulmohsin et al.'s M4, both from a plateau at 0.9;
- broken: the library's broken power law (laws.get("broken"), Caballero et al. 2022, one break, no
  floor): slope b1, then b2 past a break at m_b with sharpness f, steeper or flatter;
- hardmin: the library's power law (laws.get("power")) stopped dead at a floor, max(a m^b, floor);
  no library law has a hard stop (hestness's floor, a m^b + g, bends into it over a decade), so
  it has no right law;
- exptail: eps = g + a exp(-(m / tau)^k), saturating faster than any power law; not a library law.

Each is observed at LCDB-like anchors round(16 * 2^(n/2)) up to 2^15-2^16 with 1-4% log-normal
noise per value, by SYNTH_SEEDS seeds (mode replicates) or once (mode medians, the clean-curve
table); fitted on the anchors <= largest / 4 as LCDB's, and scored against the noiseless truth at
every larger anchor and beyond, on the same grid, to 8x the largest fitted anchor (BEYOND). The
headline metrics stop at the largest drawn anchor (4-5.7x, as LCDB's curves); the 2x, 4x and 8x
horizons are reported apart. The draws are those of earlier versions of this benchmark: the same
seed gives the same curves on the anchors they shared.
"""

from __future__ import annotations

import math

import numpy as np
from lcdb_curves import FIT_FRACTION, Curve

from scalelab.curves import laws, simulate

SHAPES = ("hardmin", "broken", "exptail", "plateau", "m4")
SYNTH_SEEDS = 5
SYNTH_NOISE = (0.01, 0.04)  # log-normal sd per value
SYNTH_STEPS = (22, 24)  # largest anchor 16 * 2^(n/2), n drawn in this range: 2^15 .. 2^16
BEYOND = (2, 4, 8)  # horizons (x the largest fitted anchor) reported apart; the grid goes on to the last
LIBRARY_LAW = {"broken": "broken", "plateau": "plateau", "m4": "m4"}  # shape -> the law it is drawn from


def library_law_error(name: str, theta, m, m_ref: float = 16.0, e0: float = 1.0) -> np.ndarray:
    """A library law's error at sizes m, parameters theta in its units (x = m / m_ref)."""
    ctx = laws.Context(e0, 0.0, e0)
    return np.exp(laws.get(name).log_error(np.asarray(theta, float), np.log(np.asarray(m, float) / m_ref), ctx))


def synthetic_truth(shape: str, rng: np.random.Generator):
    """A noiseless error curve of the given shape, as a function of m (parameters drawn)."""
    if shape == "hardmin":  # eps = max(e16 (m / 16)^b, floor)
        e16, b, floor = rng.uniform(0.3, 0.7), rng.uniform(-0.8, -0.2), math.exp(rng.uniform(math.log(0.01), math.log(0.15)))
        return lambda m: np.maximum(library_law_error("power", [math.log(e16), b], m), floor)
    if shape == "broken":  # eps(16) = e16; exponents -b1, -b2; break at m_b, sharpness f; no floor
        e16, b1, b2 = rng.uniform(0.3, 0.7), rng.uniform(-0.7, -0.1), rng.uniform(-0.7, -0.1)
        m_b, f = math.exp(rng.uniform(math.log(256), math.log(2**14))), rng.uniform(0.1, 0.5)
        theta = [0.0, 0.0, -b1, -b2, math.log(m_b / 16), math.log(f)]  # g, log_a, c0, c1, log_d, log_f
        theta[1] = math.log(e16) - math.log(library_law_error("broken", theta, [16.0])[0])  # a: through e16 at 16
        return lambda m: library_law_error("broken", theta, m)
    if shape == "exptail":  # eps = g + a exp(-(m / tau)^k)
        g, a = math.exp(rng.uniform(math.log(0.01), math.log(0.2))), rng.uniform(0.2, 0.6)
        tau, k = math.exp(rng.uniform(math.log(64), math.log(8192))), rng.uniform(0.3, 1.0)
        return lambda m: g + a * np.exp(-(np.asarray(m, float) / tau) ** k)
    truth = simulate.draw_truth(rng, shape)  # scalelab's plateau law, or M4
    return lambda m: simulate.true_error(truth, m)


def synthetic_curves(per_shape: int, seed: int = 0) -> list[Curve]:
    """per_shape curves of each shape, each observed by SYNTH_SEEDS seeds (mode replicates) and
    once (mode medians of a single value), fitted on <= largest / FIT_FRACTION, predicted to
    max(BEYOND) x the largest fitted anchor."""
    curves = []
    for s, shape in enumerate(SHAPES):
        for i in range(per_shape):
            rng = np.random.default_rng([seed, s, i])
            truth = synthetic_truth(shape, rng)
            steps = np.arange(rng.integers(SYNTH_STEPS[0], SYNTH_STEPS[1] + 1) + 1)
            sizes = np.round(16 * 2 ** (steps / 2))
            noisy = truth(sizes)[:, None] * np.exp(rng.normal(0.0, rng.uniform(*SYNTH_NOISE), (len(sizes), SYNTH_SEEDS)))
            fit_upto = sizes[-1] / FIT_FRACTION
            n_fit = int(np.sum(sizes <= fit_upto))
            # Beyond the drawn grid only the truth is scored: its values there are never fitted.
            extra = np.round(16 * 2 ** (np.arange(steps[-1] + 1, steps[n_fit - 1] + 2 * math.log2(max(BEYOND)) + 1) / 2))
            every = np.concatenate([sizes, extra])
            values = list(noisy) + [np.full(SYNTH_SEEDS, np.nan)] * len(extra)
            for mode, seeds in (("replicates", values), ("medians", [v[:1] for v in values])):
                curves.append(Curve({"shape_truth": shape, "index": i, "for_mode": mode}, every, seeds, truth(every),
                                    fit_upto=fit_upto, group=shape, far_size=float(sizes[-1]), law=LIBRARY_LAW.get(shape)))
    return curves
