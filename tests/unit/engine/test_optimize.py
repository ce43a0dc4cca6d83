"""The fast optimiser paths give the answers of the plain ones they replace."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import nnls

from domain.backtest import optimize


def _covariance(rng: np.random.Generator, n: int) -> np.ndarray:
    returns = rng.normal(0.0, 0.01, (120, n)) + rng.normal(0.0, 0.01, (120, 1))
    return optimize.ledoit_wolf(returns)


def _reference_nnls(cov: np.ndarray, c: np.ndarray) -> np.ndarray:
    lower = np.linalg.cholesky(cov)
    v, _ = nnls(lower.T, np.linalg.solve(lower, c), maxiter=50 * len(c))
    return np.asarray(v)


@pytest.mark.parametrize("n", [1, 5, 40])
@pytest.mark.parametrize("warm", ["none", "all", "random"])
def test_active_set_nnls_matches_scipy_whatever_the_warm_start(n: int, warm: str) -> None:
    rng = np.random.default_rng(n)
    cov = _covariance(rng, n)
    for c in (np.ones(n), rng.normal(0.0005, 0.001, n)):
        support = {
            "none": None,
            "all": np.arange(n),
            "random": np.flatnonzero(rng.random(n) < 0.5),
        }[warm]
        v, found = optimize.nnls_qp(cov, c, support)
        expected = _reference_nnls(cov, c)
        scale = max(float(np.abs(expected).max()), 1e-300)
        assert np.abs(v - expected).max() <= 1e-10 * scale
        assert (v >= 0).all()
        assert set(found.tolist()) >= set(np.flatnonzero(expected > 1e-9 * scale).tolist())


def test_batched_window_moments_equal_ledoit_wolf_window_by_window() -> None:
    rng = np.random.default_rng(7)
    prices = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, (400, 6)), axis=0))
    lo = np.array([0, 20, 55, 100])
    hi = np.array([120, 150, 170, 390])  # windows of different lengths
    columns = np.array([0, 2, 3, 5])
    covs, means = optimize.window_moments(prices, lo, hi, columns)
    for k in range(len(lo)):
        window = prices[lo[k] : hi[k] + 1][:, columns]
        returns = window[1:] / window[:-1] - 1.0
        np.testing.assert_allclose(covs[k], optimize.ledoit_wolf(returns), rtol=1e-12, atol=0)
        np.testing.assert_allclose(means[k], returns.mean(axis=0), rtol=1e-12, atol=1e-18)
