"""Server-side SVG charts: NAV against the benchmark on a log scale, drawdown underneath.

matplotlib's object API (no pyplot global state) on the Agg backend; rendering is CPU-bound, so
routes run it in a worker thread, one at a time (matplotlib is not thread-safe), and cache it."""

from __future__ import annotations

import io
import threading
from typing import Any

import pandas as pd
from cachetools import LRUCache

_RENDER_LOCK = threading.Lock()


def _series(data: dict[str, list[Any]] | None) -> pd.Series | None:
    if not data or not data.get("dates"):
        return None
    values = pd.to_numeric(pd.Series(data.get("values", []), dtype="object"), errors="coerce")
    index = pd.DatetimeIndex(pd.to_datetime(data["dates"]))
    return pd.Series(values.to_numpy(dtype="float64"), index=index).dropna()


def render_nav_chart(
    title: str, nav: dict[str, list[Any]], benchmark: dict[str, list[Any]] | None
) -> bytes:
    """An SVG with two panels: NAV (and benchmark, rebased to the NAV's start) on a log scale,
    and the strategy's drawdown in percent."""
    strategy = _series(nav)
    bench = _series(benchmark)
    with _RENDER_LOCK:
        # Imported on first use: matplotlib costs seconds of start-up every gateway task pays.
        from matplotlib.figure import Figure

        figure = Figure(figsize=(9, 6), dpi=100)
        top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        if strategy is not None and not strategy.empty and (strategy > 0).all():
            top.plot(strategy.index, strategy.to_numpy(), label="strategy", color="#1f77b4", lw=1.4)
            if bench is not None and not bench.empty and (bench > 0).all():
                rebased = bench / bench.iloc[0] * strategy.iloc[0]
                top.plot(
                    rebased.index, rebased.to_numpy(), label="benchmark", color="#7f7f7f", lw=1.0
                )
            top.set_yscale("log")
            drawdown = (strategy / strategy.cummax() - 1.0) * 100.0
            bottom.fill_between(
                drawdown.index, drawdown.to_numpy(), 0.0, color="#d62728", alpha=0.4
            )
            top.legend(loc="upper left", frameon=False)
        else:
            top.text(0.5, 0.5, "no NAV to plot", ha="center", va="center", transform=top.transAxes)
        top.set_title(title)
        top.set_ylabel("NAV (log scale)")
        bottom.set_ylabel("drawdown %")
        top.grid(True, which="both", alpha=0.3)
        bottom.grid(True, alpha=0.3)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


class ChartCache:
    """A small LRU of rendered charts keyed by what determines them (immutable results); a
    size of 0 keeps nothing. Locked: cachetools caches are not thread-safe."""

    def __init__(self, size: int) -> None:
        self._items: LRUCache[str, bytes] | None = LRUCache(maxsize=size) if size > 0 else None
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        if self._items is None:
            return None
        with self._lock:
            return self._items.get(key)

    def put(self, key: str, svg: bytes) -> None:
        if self._items is None:
            return
        with self._lock:
            self._items[key] = svg


__all__ = ["ChartCache", "render_nav_chart"]
