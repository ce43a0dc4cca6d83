"""Covariance estimation and the long-only portfolio optimisers (docs/engine.md, "Optimisers").

Min variance and max Sharpe both reduce to one non-negative least-squares problem: with
Σ = L Lᵀ, ``v = argmin_{v≥0} ½ vᵀΣv − cᵀv`` is ``nnls(Lᵀ, L⁻¹c)`` and the long-only fully
invested optimum is ``v / Σv`` (c = 1: min variance; c = μ − r_f: max Sharpe). The KKT
conditions of the two problems coincide after that scaling, so the answer is exact, and NNLS
(active set) takes about a millisecond on 200 assets. Weight caps fall back to SLSQP.

Speed (docs/engine.md, "Performance"): the shrunk covariances of many decisions are estimated in one
batched pass (``window_moments``), and the NNLS is solved by an active-set method warm-started
from the previous rebalance's support, which is usually already optimal, so most decisions cost
one small Cholesky solve instead of a full active-set run from zero.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular
from scipy.linalg.lapack import dposv

_CAP_TOLERANCE = 1e-9
# Gradient tolerance of the active-set NNLS, relative to max|c|: far below any weight that
# matters (a variable left out at this gradient would have a weight of order 1e-13), far above
# the rounding of c − Σv.
_KKT_TOLERANCE = 1e-13
# Batched moments are computed in chunks of at most this many window elements (decisions ×
# sessions × assets) — and never more than the panel holds — so the engine's memory stays a
# small multiple of the panel's whatever its size. Half a megabyte per temporary: larger ones
# are fresh pages from the kernel each time (page faults cost more than the arithmetic; 20-asset
# moments take twice as long with 1.2 MB chunks), smaller ones pay numpy's per-call overhead.
_CHUNK_ELEMENTS = 65_536
_MIN_CHUNK_ELEMENTS = 50_000
# …but at least this many decisions per chunk: on wide universes one decision's window is
# already large, and batching several keeps numpy's per-call overhead small.
_MIN_CHUNK_DECISIONS = 16


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


def chunks(count: int, window: int, assets: int, panel_elements: int | None = None) -> list[slice]:
    """Consecutive slices of ``count`` decisions whose stacked windows fit the chunk budget."""
    per_decision = max(1, (window + 1) * assets)
    size = max(_MIN_CHUNK_DECISIONS, _CHUNK_ELEMENTS // per_decision)
    if panel_elements is not None:  # never more than the panel holds
        size = min(size, max(1, max(_MIN_CHUNK_ELEMENTS, panel_elements) // per_decision))
    return [slice(a, min(a + size, count)) for a in range(0, count, size)]


def window_moments(
    prices: np.ndarray, lo: np.ndarray, hi: np.ndarray, columns: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Ledoit-Wolf covariances and mean daily returns of ``columns`` over the windows
    ``[lo_k, hi_k]`` of several decisions at once: decisions × assets × assets and
    decisions × assets. Identical to ``ledoit_wolf`` window by window (up to summation order).

    Windows are stacked to the longest one; the sessions past a window's end get a return of
    exactly 0 (as if its last close repeated), and after demeaning they are masked to 0, so they
    add nothing to any sum. The daily returns are computed once for the sessions the windows
    span and gathered a session (a row) at a time."""
    counts = hi - lo  # daily returns per window
    longest = int(counts.max())
    first, last = int(lo.min()), int(hi.max())
    closes = (
        prices[first : last + 1, columns]
        if len(columns) < prices.shape[1]
        else prices[first : last + 1]
    )
    daily = closes[1:] / closes[:-1] - 1.0  # daily[i]: close first + i → first + i + 1
    offsets = np.minimum(lo[:, None] - first + np.arange(longest)[None, :], len(daily) - 1)
    outside = np.arange(longest)[None, :] >= counts[:, None]
    returns = daily[offsets]
    returns[outside] = 0.0
    t = counts.astype(float)
    means = returns.sum(axis=1) / t[:, None]
    x = returns - means[:, None, :]
    x[outside] = 0.0
    n = len(columns)
    sample = np.matmul(x.transpose(0, 2, 1), x) / t[:, None, None]
    diagonal = np.einsum("kii->ki", sample)  # a view: writes go to the diagonals
    mu = diagonal.sum(axis=1) / n
    sample_sq = np.einsum("kij,kij->k", sample, sample)
    # Σ (S − μI)² = Σ S² − 2μ tr S + nμ² = Σ S² − nμ², since tr S = nμ.
    delta_sq = (sample_sq - n * mu**2) / n
    row_energy = np.einsum("kti,kti->kt", x, x)
    beta_sq = (np.einsum("kt,kt->k", row_energy, row_energy) / t - sample_sq) / (n * t)
    positive = delta_sq > 0
    shrink = np.where(
        positive, np.minimum(beta_sq, delta_sq) / np.where(positive, delta_sq, 1.0), 0.0
    )
    sample *= (1.0 - shrink)[:, None, None]
    diagonal += (shrink * mu)[:, None]
    return sample, means


def _solve_spd(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve a symmetric positive definite system: LAPACK's Cholesky solve, called directly
    (half numpy's LU time on 200 assets, none of scipy.linalg.solve's per-call checks)."""
    _, solved, info = dposv(matrix, rhs)
    if info != 0:  # not numerically positive definite: LU still answers
        solved = np.linalg.solve(matrix, rhs)
    return np.asarray(solved)


def _reduced(cov: np.ndarray, c: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return _solve_spd(cov[idx[:, None], idx], c[idx])


def nnls_qp(
    cov: np.ndarray, c: np.ndarray, support: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``argmin_{v≥0} ½ vᵀΣv − cᵀv`` (Σ positive definite) and its support, by the
    Lawson-Hanson active set warm-started from ``support`` (a previous solution's).

    The optimum is unique, so the warm start changes the path, not the answer. Falls back to
    scipy's NNLS on the Cholesky factor if the active set has not converged after 3n steps."""
    n = len(c)
    passive = np.zeros(n, dtype=bool)
    v = np.zeros(n)
    if support is not None and len(support):
        passive[support] = True
        while passive.any():  # the largest subset of the warm support with a positive solution
            idx = np.flatnonzero(passive)
            z = _reduced(cov, c, idx)
            if (z > 0).all():
                v[idx] = z
                break
            passive[idx[z <= 0]] = False
    tol = _KKT_TOLERANCE * float(np.abs(c).max())
    for _ in range(3 * n):
        gradient = c - cov @ v  # minus the gradient: positive means v_j should grow
        gradient[passive] = -np.inf
        j = int(np.argmax(gradient))
        if gradient[j] <= tol:
            return v, np.flatnonzero(passive)
        passive[j] = True
        while True:
            idx = np.flatnonzero(passive)
            z = _reduced(cov, c, idx)
            if (z > 0).all():
                v[idx] = z
                break
            # Step back to the first variable that hits zero, and release it.
            current = v[idx]
            hit = np.flatnonzero(z <= 0)
            ratios = current[hit] / (current[hit] - z[hit])
            first = int(np.argmin(ratios))
            v[idx] = current + float(ratios[first]) * (z - current)
            drop = v[idx] <= 0
            drop[hit[first]] = True
            passive[idx[drop]] = False
            v[~passive] = 0.0
    v = _nnls_direction(cov, c)
    return v, np.flatnonzero(v > 0)


def _nnls_direction(cov: np.ndarray, c: np.ndarray) -> np.ndarray:
    lower = np.linalg.cholesky(cov)  # numpy's: far less call overhead than scipy's cho_factor
    rhs = solve_triangular(lower, c, lower=True, check_finite=False)
    from scipy.optimize import nnls  # only the optimizer strategies pay its import time

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

    from scipy.optimize import minimize

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


def min_variance(
    cov: np.ndarray, cap: float = 1.0, support: np.ndarray | None = None
) -> np.ndarray:
    """Long-only minimum variance; ``support`` (assets held last time) only speeds it up."""
    v, _ = nnls_qp(cov, np.ones(len(cov)), support)
    w = v / v.sum()
    if w.max() > cap + _CAP_TOLERANCE:
        w = _capped(cov, w, cap, "variance", np.zeros(len(w)))
    result: np.ndarray = w
    return result


def max_sharpe(
    cov: np.ndarray,
    excess_mean: np.ndarray,
    cap: float = 1.0,
    support: np.ndarray | None = None,
) -> np.ndarray | None:
    """Tangency portfolio; None when no asset has a positive expected excess return.
    ``support`` (assets held last time) only speeds it up."""
    if not (excess_mean > 0).any():
        return None
    v, _ = nnls_qp(cov, excess_mean, support)
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
        hessian = sigma.copy()
        hessian.flat[:: n + 1] += b / y**2
        step = _solve_spd(hessian, grad)
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
