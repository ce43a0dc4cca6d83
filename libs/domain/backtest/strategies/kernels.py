"""Array kernels of the signals: top N without a sort, and window sums of daily returns.

Each is a fast path of a plain computation (a stable sort, a sum over each window) that the
engine's figures in docs/engine.md ("Performance") rest on; ``tests/unit/engine/
test_fast_paths.py`` holds each to that plain computation.
"""

from __future__ import annotations

import numpy as np

# Sessions × assets per block of daily returns in window_sums: small enough to stay in the L2
# cache while it is divided, squared and summed (streaming the whole panel through memory for
# each step costs several times more, the more so on a loaded machine).
_BLOCK_ELEMENTS = 65_536


def first_n_stable(keyed: np.ndarray, n: int) -> np.ndarray:
    """Row-wise mask of the first ``n`` entries of a stable ascending sort, without the sort:
    every key below the n-th smallest, then the ties at it from the left."""
    rows, width = keyed.shape
    if n >= width:
        return np.ones(keyed.shape, dtype=bool)
    if rows == 0 or np.isnan(keyed).any():  # NaN sorts after inf: let the sort place it
        chosen = np.zeros(keyed.shape, dtype=bool)
        ranked = np.argsort(keyed, axis=1, kind="stable")[:, :n]
        chosen[np.arange(rows)[:, None], ranked] = True
        return chosen
    nth = np.partition(keyed, n - 1, axis=1)[:, n - 1 : n]
    below = keyed < nth
    ties = keyed == nth
    room = n - below.sum(axis=1, keepdims=True)
    result: np.ndarray = below | (ties & (np.cumsum(ties, axis=1) <= room))
    return result


def window_sums(
    prices: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sums of the daily returns, and of their squares, over each window ``(lo_k, hi_k]``
    (returns from close ``lo_k`` to close ``hi_k``; a NaN return counts as 0): windows × assets.

    Windows overlap (six months at each month end), so the sums are differences of prefix sums
    taken only at the windows' ends ("cuts"): the returns between consecutive cuts are summed
    with ``reduceat`` (a cumulative sum down each column of the panel runs at the latency of one
    addition per element), a block of consecutive cuts at a time, then a cumulative sum over
    those few partial sums. Only the sessions from the first cut to the last are read; the
    prefix starts there, which also keeps the differences small."""
    cuts, where = np.unique(np.concatenate([lo, hi]), return_inverse=True)
    m = prices.shape[1]
    count = len(lo)
    if len(cuts) < 2:
        return np.zeros((count, m)), np.zeros((count, m))
    part1 = np.empty((len(cuts) - 1, m))
    part2 = np.empty((len(cuts) - 1, m))
    span = max(1, _BLOCK_ELEMENTS // m)  # sessions per block
    j = 0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        while j < len(cuts) - 1:
            k = max(j + 1, int(np.searchsorted(cuts, cuts[j] + span, side="right")) - 1)
            first, last = int(cuts[j]), int(cuts[k])
            daily = np.divide(prices[first + 1 : last + 1], prices[first:last])
            daily -= 1.0
            starts = cuts[j:k] - first
            part1[j:k] = np.add.reduceat(daily, starts, axis=0)
            part2[j:k] = np.add.reduceat(np.square(daily, out=daily), starts, axis=0)
            j = k
    if not (np.isfinite(part1).all() and np.isfinite(part2).all()):
        first, last = int(cuts[0]), int(cuts[-1])
        return _window_sums_non_finite(prices[first : last + 1], cuts[:-1] - first, where, count)
    return _differences(part1, where, count), _differences(part2, where, count)


def _window_sums_non_finite(
    prices: np.ndarray, starts: np.ndarray, where: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """``window_sums`` when some return is not finite: NaN counts as 0, ±inf as ±max float."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        daily = np.nan_to_num(prices[1:] / prices[:-1] - 1.0)
        part1 = np.add.reduceat(daily, starts, axis=0)
        part2 = np.add.reduceat(np.square(daily, out=daily), starts, axis=0)
    return _differences(part1, where, count), _differences(part2, where, count)


def _differences(parts: np.ndarray, where: np.ndarray, count: int) -> np.ndarray:
    """Window sums from the partial sums between consecutive cuts: ``where`` maps each window's
    (lo, hi) to its cuts (first ``count`` entries: lo, next ``count``: hi)."""
    prefix = np.zeros((len(parts) + 1, parts.shape[1]))
    np.cumsum(parts, axis=0, out=prefix[1:])
    with np.errstate(invalid="ignore", over="ignore"):
        result: np.ndarray = prefix[where[count:]] - prefix[where[:count]]
    return result
