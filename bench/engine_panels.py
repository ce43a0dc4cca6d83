"""Synthetic but realistic daily price panels for the engine benchmark (fixed seeds).

Geometric Brownian motion with a one-factor structure (market beta + idiosyncratic noise),
annual drifts 2–12 %, volatilities 15–45 %, business-day calendar, a few late listings, so that
covariances are realistic (optimisers see correlated assets) and joins are exercised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SESSIONS_PER_YEAR = 252


def gbm_panel(n_assets: int, years: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_days = years * SESSIONS_PER_YEAR
    dt = 1.0 / SESSIONS_PER_YEAR
    drift = rng.uniform(0.02, 0.12, n_assets)
    vol = rng.uniform(0.15, 0.45, n_assets)
    beta = rng.uniform(0.5, 1.3, n_assets)
    market = rng.normal(0.0, 0.16 * np.sqrt(dt), n_days)
    idio_vol = np.sqrt(np.maximum(vol**2 - (beta * 0.16) ** 2, 0.01))
    noise = rng.normal(0.0, 1.0, (n_days, n_assets)) * idio_vol * np.sqrt(dt)
    log_returns = (drift - 0.5 * vol**2) * dt + market[:, None] * beta + noise
    prices = 100.0 * np.exp(np.cumsum(log_returns, axis=0))
    late = rng.random(n_assets) < 0.1  # ~10 % list during the first third of the panel
    for j in np.flatnonzero(late):
        prices[: rng.integers(1, n_days // 3), j] = np.nan
    index = pd.bdate_range("1994-01-03", periods=n_days)
    return pd.DataFrame(prices, index=index, columns=[f"A{j:03d}" for j in range(n_assets)])
