"""Macro observations as frames: the one shape every macro store reads and writes.

Columns ``OBSERVATION_COLUMNS``: ``date`` (datetime.date) and ``value`` (float64, NaN where the
source has no value; stored as NULL, never zero, never dropped).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd

from domain.model import OBSERVATION_COLUMNS


def normalize_observations(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with ``date`` (datetime.date) and float ``value``, one row per date (last wins)."""
    if frame.empty:
        return observations_frame([])
    out = frame.loc[:, list(OBSERVATION_COLUMNS)].copy()
    out["date"] = pd.to_datetime(out["date"]).dt.date
    out["value"] = pd.to_numeric(out["value"], errors="coerce").astype("float64")
    out = out.drop_duplicates(subset="date", keep="last").sort_values("date")
    return out.reset_index(drop=True)


def observations_frame(rows: Sequence[tuple[date, float | None]]) -> pd.DataFrame:
    """The read shape: ``date`` objects and float ``value`` with NaN for NULL."""
    return pd.DataFrame(
        {
            "date": pd.Series([r[0] for r in rows], dtype="object"),
            "value": pd.Series(
                [float("nan") if r[1] is None else r[1] for r in rows], dtype="float64"
            ),
        }
    )
