"""The engine's error: a request that can never run as given."""

from __future__ import annotations

from domain.errors import InvalidRequest, PermanentFailure


class UnrunnableBacktest(InvalidRequest, PermanentFailure):
    """The backtest cannot run as asked (unknown asset, no data in range, history too short for
    the lookback, FX missing). Both an ``InvalidRequest`` (the gateway answers 4xx with
    ``errors``) and a ``PermanentFailure`` (the worker fails the job without retrying)."""
