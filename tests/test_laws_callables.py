"""The laws as plain functions of m (laws.CALLABLES): the same curves as the law classes, and what
scipy.optimize.curve_fit needs."""

import math

import numpy as np
import pytest
from scipy.optimize import curve_fit

from test_curves import E0, SIZES, true_error

from scalelab.curves import laws


def in_units_of_m(fitted: laws.Fitted) -> tuple:
    """A fitted law's parameters as its callable takes them: x = m / m_ref undone, logs undone."""
    t, r, e0 = [float(v) for v in fitted.theta], fitted.m_ref, fitted.ctx.e0
    return {
        "power": lambda: (math.exp(t[0]) * r ** -t[1], t[1]),
        "hestness": lambda: (math.exp(t[0]) * r ** -t[1], t[1], t[2]),
        "m3": lambda: (math.exp(t[0]) * r ** t[1], t[1], math.exp(t[2]) / r),
        "m4": lambda: (math.exp(t[0]) * r ** -t[1], t[1], t[2], t[3], e0),
        "broken": lambda: (t[0], math.exp(t[1]) * r ** t[2], t[2], t[3], math.exp(t[4]) * r, math.exp(t[5])),
        "plateau": lambda: (math.exp(t[0]) * r, t[1], t[2], math.exp(t[3]), e0),
    }[fitted.law.name]()


def test_every_law_has_its_callable():
    assert list(laws.CALLABLES) == list(laws.LAWS)


@pytest.mark.parametrize("name", list(laws.LAWS))
def test_each_callable_is_its_laws_curve(name):
    """Catches a callable whose conversion (log_a vs a, x vs m, e0) differs from its class: on a
    law fitted to its own noisy truth, converted to m's units, it gives Fitted.error at every size."""
    eps = true_error(name, SIZES) * np.exp(np.random.default_rng(0).normal(0, 0.02, SIZES.size))
    fitted = laws.fit_law(laws.get(name), SIZES, eps, ctx=laws.context(eps, E0))
    at = np.concatenate([SIZES, 4 * SIZES[-1:]])
    np.testing.assert_allclose(laws.CALLABLES[name](at, *in_units_of_m(fitted)), fitted.error(at), rtol=1e-9)


def test_curve_fit_recovers_hestness_on_a_clean_curve():
    """Catches a callable scipy cannot fit (wrong argument order, no arrays): the docs' example."""
    alpha, beta, gamma = 3.0, -0.4, 0.02
    m = 2.0 ** np.arange(7, 17)
    found, _ = curve_fit(laws.hestness, m, alpha * m ** beta + gamma, p0=[1.0, -0.5, 0.01])
    np.testing.assert_allclose(found, [alpha, beta, gamma], rtol=0.01)
