"""Weighted least squares for many parameter rows at once: a box-constrained Levenberg-Marquardt.

Every fit here is small (2 to 6 parameters, 3 to 100 points), and a curve needs hundreds of them:
several starting points per law, every law on the whole curve and on the backtest's prefixes,
and the bootstrap's refits. scipy.optimize.least_squares solves one problem per call, with a
Python-level loop and a finite-difference Jacobian per iteration, so a curve took 1.5-2 s, nearly
all of it solver overhead (bench/README.md, fit-curve's speed). The laws broadcast over rows of
parameters, so here one iteration moves every row at once: one call of the law gives the
residuals and the forward-difference Jacobian of all rows together.

Each row minimises 1/2 sum_j (w_j (f(theta, x_j) - y_j))^2 within lo <= theta <= hi:
- damped Gauss-Newton steps (J'J + lam diag(J'J)) d = -J'r, with lam shrunk after a step that
  lowers the cost and grown after one that does not (the step is then not taken);
- a parameter at a bound whose gradient pushes outwards is held there for the step (its column
  of J is dropped), and every step is clipped into the box;
- a row stops when a taken step lowers its cost by less than `ftol` relative, or lam runs away.
"""

from __future__ import annotations

import numpy as np

FTOL = 1e-7  # a near Gauss-Newton step that lowers the cost by less than this fraction ends a row
XTOL = 1e-9  # ... and so does a step shorter than this fraction of the parameters' norm
MAX_ITER = 80  # enough for predictions to agree with scipy's least_squares (bench/README.md)
LAM_START, LAM_DOWN, LAM_UP, LAM_MAX = 1e-3, 0.3, 4.0, 1e10


def solve_rows(residual_rows, starts, lo, hi, max_iter: int = MAX_ITER, ftol: float = FTOL):
    """Minimise each row's cost from its start. `residual_rows(theta, which)` maps (R, p)
    parameters of problems `which` (R indices into the rows of `starts`) to (R, n) weighted
    residuals (non-finite where the law cannot be evaluated); the rows of `starts` (B, p) are
    solved together. Returns (theta (B, p), cost (B,)): cost is inf where a row never had a
    finite residual."""
    theta = np.array(starts, float, ndmin=2)
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    span = hi - lo
    theta = np.clip(theta, lo + 1e-9 * span, hi - 1e-9 * span)
    b, p = theta.shape
    with np.errstate(all="ignore"):
        r = residual_rows(theta, np.arange(b))
        cost = _cost(r)
        lam = np.full(b, LAM_START)
        active = np.isfinite(cost)
        eye = np.eye(p)
        for _ in range(max_iter):
            if not active.any():
                break
            rows = np.nonzero(active)[0]
            t, rr = theta[rows], r[rows]
            jac = _jacobian(residual_rows, t, rr, rows, lo, hi)
            grad = np.einsum("rnp,rn->rp", jac, rr)
            held = ((t <= lo + 1e-12 * span) & (grad > 0)) | ((t >= hi - 1e-12 * span) & (grad < 0))
            jac = np.where(held[:, None, :], 0.0, jac)
            grad = np.where(held, 0.0, grad)
            jtj = np.einsum("rnp,rnq->rpq", jac, jac)
            diag = np.einsum("rpp->rp", jtj)
            scale = np.where(diag > 0, diag, 1.0)
            system = jtj + (lam[rows, None] * scale)[:, :, None] * eye + 1e-12 * eye
            step = -np.linalg.solve(system, grad[:, :, None])[:, :, 0]
            trial = np.clip(t + step, lo, hi)
            r_trial = residual_rows(trial, rows)
            c_trial = _cost(r_trial)
            better = np.isfinite(c_trial) & (c_trial < cost[rows])
            gain = np.where(better, (cost[rows] - c_trial) / np.maximum(cost[rows], 1e-300), 0.0)
            take = rows[better]
            theta[take], r[take], cost[take] = trial[better], r_trial[better], c_trial[better]
            # A tiny gain ends a row only from a near Gauss-Newton step: a heavily damped one is
            # tiny because it is damped, as in a curved valley (the broken law's).
            # A step too small to move any parameter ends a row too, taken or not.
            tiny = np.linalg.norm(step, axis=1) <= XTOL * (1.0 + np.linalg.norm(t, axis=1))
            done = (better & (gain < ftol) & (lam[rows] < 1.0)) | tiny | (lam[rows] > LAM_MAX)
            lam[rows] = np.where(better, lam[rows] * LAM_DOWN, lam[rows] * LAM_UP)
            active[rows[done]] = False
    return theta, cost


def _cost(r) -> np.ndarray:
    c = 0.5 * np.sum(r * r, axis=1)
    return np.where(np.isfinite(c), c, np.inf)


def _jacobian(residual_rows, theta, r, which, lo, hi) -> np.ndarray:
    """Forward differences of every row in one call: (R, n, p). A step that would leave the box
    goes the other way."""
    rows, p = theta.shape
    h = 1e-7 * np.maximum(1.0, np.abs(theta))
    h = np.where(theta + h > hi, -h, h)
    shifted = np.repeat(theta[:, None, :], p, axis=1) + h[:, None, :] * np.eye(p)[None]
    moved = residual_rows(shifted.reshape(rows * p, p), np.repeat(which, p)).reshape(rows, p, -1)
    jac = (moved - r[:, None, :]) / h[:, :, None]
    return np.where(np.isfinite(jac), jac, 0.0).transpose(0, 2, 1)
