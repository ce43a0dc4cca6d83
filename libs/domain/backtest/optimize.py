"""Covariance estimation and the long-only portfolio optimisers (docs/engine.md, "Optimisers").

Min variance and max Sharpe both reduce to one non-negative least-squares problem: with
Σ = L Lᵀ, ``v = argmin_{v≥0} ½ vᵀΣv − cᵀv`` is ``nnls(Lᵀ, L⁻¹c)`` and the long-only fully
invested optimum is ``v / Σv`` (c = 1: min variance; c = μ − r_f: max Sharpe). The KKT
conditions of the two problems coincide after that scaling, so the answer is exact, and NNLS
(active set, Fortran) takes about a millisecond on 200 assets. Weight caps fall back to SLSQP.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import minimize, nnls

_CAP_TOLERANCE = 1e-9


def ledoit_wolf(returns: np.ndarray) -> np.ndarray:
    """Ledoit-Wolf (2004) shrinkage of the sample covariance towards a scaled identity.

    ``returns`` is observations × assets. Keeps the estimate well conditioned when there are
    fewer observations than assets (200 assets on a six-month window)."""
    t, n = returns.shape
    x = returns - returns.mean(axis=0)
    sample = x.T @ x / t
    mu = np.trace(sample) / n
    delta = sample.copy()
    delta[np.diag_indices_from(delta)] -= mu
    delta_sq = float((delta**2).sum()) / n
    # Σ_ij [(x²)ᵀ(x²)]_ij = Σ_k (Σ_i x_ki²)²: the O(n²t) product is never formed.
    row_energy = (x**2).sum(axis=1)
    beta_sq = (float(row_energy @ row_energy) / t - float((sample**2).sum())) / (n * t)
    shrink = 0.0 if delta_sq <= 0 else min(beta_sq, delta_sq) / delta_sq
    cov = (1.0 - shrink) * sample
    cov[np.diag_indices_from(cov)] += shrink * mu
    result: np.ndarray = cov
    return result


def _nnls_direction(cov: np.ndarray, c: np.ndarray) -> np.ndarray:
    lower = np.linalg.cholesky(cov)  # numpy's: far less call overhead than scipy's cho_factor
    rhs = solve_triangular(lower, c, lower=True, check_finite=False)
    v, _ = nnls(lower.T, rhs, maxiter=50 * len(c))
    return np.asarray(v)


def _capped(
    cov: np.ndarray, start: np.ndarray, cap: float, objective: str, mu: np.ndarray
) -> np.ndarray:
    """SLSQP under 0 ≤ w ≤ cap, Σw = 1, started from the clipped uncapped optimum."""
    n = len(start)
    x0 = np.minimum(start, cap)
    x0 = x0 + (1.0 - x0.sum()) * (cap - x0) / max((cap - x0).sum(), 1e-12)

    def variance(w: np.ndarray) -> tuple[float, np.ndarray]:
        return float(w @ cov @ w), 2.0 * cov @ w

    def neg_sharpe(w: np.ndarray) -> tuple[float, np.ndarray]:
        var = float(w @ cov @ w)
        sd = np.sqrt(var)
        ret = float(mu @ w)
        grad = -(mu * sd - ret * (cov @ w) / sd) / var
        return -ret / sd, grad

    result = minimize(
        variance if objective == "variance" else neg_sharpe,
        x0,
        jac=True,
        method="SLSQP",
        bounds=[(0.0, cap)] * n,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(n)}],
        options={"maxiter": 200, "ftol": 1e-12},
    )
    w = np.clip(result.x, 0.0, cap)
    return np.asarray(w / w.sum())


def min_variance(cov: np.ndarray, cap: float = 1.0) -> np.ndarray:
    v = _nnls_direction(cov, np.ones(len(cov)))
    w = v / v.sum()
    if w.max() > cap + _CAP_TOLERANCE:
        w = _capped(cov, w, cap, "variance", np.zeros(len(w)))
    result: np.ndarray = w
    return result


def max_sharpe(cov: np.ndarray, excess_mean: np.ndarray, cap: float = 1.0) -> np.ndarray | None:
    """Tangency portfolio; None when no asset has a positive expected excess return."""
    if not (excess_mean > 0).any():
        return None
    v = _nnls_direction(cov, excess_mean)
    if v.sum() <= 0:
        return None
    w = v / v.sum()
    if w.max() > cap + _CAP_TOLERANCE:
        w = _capped(cov, w, cap, "sharpe", excess_mean)
    result: np.ndarray | None = w
    return result


def risk_parity(cov: np.ndarray, start: np.ndarray | None = None, tol: float = 1e-10) -> np.ndarray:
    """Equal risk contribution: Newton's method on the convex problem
    ``min ½ yᵀΣy − Σ bᵢ log yᵢ`` (b = 1/n); w = y / Σy. Warm-started from the last rebalance."""
    n = len(cov)
    scale = np.trace(cov) / n
    sigma = cov / scale
    b = np.full(n, 1.0 / n)
    y = start.copy() if start is not None and len(start) == n else 1.0 / np.sqrt(np.diag(sigma))
    y *= np.sqrt(1.0 / max(float(y @ sigma @ y), 1e-300))

    def objective(z: np.ndarray) -> float:
        return float(0.5 * z @ sigma @ z - b @ np.log(z))

    value = objective(y)
    for _ in range(50):
        grad = sigma @ y - b / y
        if np.abs(grad * y).max() < tol:
            break
        step = np.linalg.solve(sigma + np.diag(b / y**2), grad)
        # Newton steps stay inside y > 0 (fraction to the boundary), then Armijo backtracking.
        shrinking = step > 0
        t = (
            min(1.0, 0.99 * float((y[shrinking] / step[shrinking]).min()))
            if shrinking.any()
            else 1.0
        )
        slope = float(grad @ step)  # the squared Newton decrement
        if slope < 1e-24:
            break
        if slope < 1e-8 and t == 1.0:
            # Quadratic-convergence region: full steps; f is too flat for Armijo in floats.
            y = y - step
            value = objective(y)
            continue
        while t > 1e-12:
            candidate = y - t * step
            new_value = objective(candidate)
            if new_value <= value - 1e-4 * t * slope:
                break
            t *= 0.5
        else:
            break
        y, value = candidate, new_value
    result: np.ndarray = y / y.sum()
    return result
