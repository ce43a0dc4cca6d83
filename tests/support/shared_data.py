"""Access to the real vendor data in ../shared/data (never copied into the repository).

Where the folder is absent (a fresh clone) the tests that need it skip with a visible reason;
under CI (``CI`` set) a missing folder is a failure, never a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get(
        "INSIGHT_SHARED_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"
    )
)


def shared_data_dir() -> Path:
    if SHARED_DATA.is_dir():
        return SHARED_DATA
    reason = f"real vendor data not found at {SHARED_DATA} (set INSIGHT_SHARED_DATA)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must not skip these tests")
    pytest.skip(reason)
