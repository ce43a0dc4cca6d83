"""The seed universe shipped with the project: assets and the FRED series catalog.

Adding an asset or a series is a data change: edit ``assets.csv`` or ``macro_series.csv``.
"""

from adapters.universe.loader import (
    load_assets_csv,
    load_macro_series_csv,
    seed_assets,
    seed_macro_series,
)

__all__ = ["load_assets_csv", "load_macro_series_csv", "seed_assets", "seed_macro_series"]
