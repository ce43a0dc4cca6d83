"""The Makefile's set-up of `.venv`: the uv that CI and the image pin, and a one-line hint, with
no half-made `.venv` left behind, where Python has no venv module (Debian/Ubuntu)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
# Debian's python3 without python3-venv: `-m venv` creates the directory and an interpreter,
# then fails on ensurepip.
DEBIAN_PYTHON_WITHOUT_VENV = """#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
    mkdir -p "$3/bin" && cp "$0" "$3/bin/python"
    echo "The virtual environment was not created successfully because ensurepip is not" >&2
    echo "available." >&2
    exit 1
fi
exit 0
"""

# A Python whose venv works: the venv's pip records what it installs and "installs" a uv that
# records its commands, so the normal path runs offline.
WORKING_PYTHON = """#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
    mkdir -p "$3/bin" && cp "$0" "$3/bin/python"
    exit 0
fi
if [ "$1" = "-m" ] && [ "$2" = "pip" ] && [ "$3" = "install" ]; then
    echo "pip $*" >> "$(dirname "$0")/../calls"
    printf '#!/bin/sh\\necho "uv $*" >> "$(dirname "$0")/../calls"\\n' > "$(dirname "$0")/uv"
    chmod +x "$(dirname "$0")/uv"
fi
exit 0
"""


def _uv_pins(path: Path) -> set[str]:
    return set(re.findall(r"uv==([0-9][0-9.]*)", path.read_text()))


def test_make_installs_the_uv_that_ci_and_the_image_pin():
    makefile = _uv_pins(ROOT / "Makefile")
    assert len(makefile) == 1, makefile
    assert makefile == _uv_pins(ROOT / "deploy" / "Dockerfile")
    assert makefile == _uv_pins(ROOT / ".github" / "workflows" / "ci.yml")


def _make_venv(checkout: Path, python_script: str) -> subprocess.CompletedProcess[str]:
    """`make venv` in a copy of the repository's set-up files, with ``python_script`` as the
    machine's Python."""
    for name in ("Makefile", "pyproject.toml", "uv.lock"):
        shutil.copy(ROOT / name, checkout / name)
    python = checkout / "python3"
    python.write_text(python_script)
    python.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(
        ["make", "-s", "venv", f"PYTHON={python}"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@needs_make
def test_a_fresh_venv_gets_the_pinned_uv_and_is_synced_from_the_lock(tmp_path):
    made = _make_venv(tmp_path, WORKING_PYTHON)

    assert made.returncode == 0, made.stderr
    calls = (tmp_path / ".venv" / "calls").read_text().splitlines()
    (pin,) = _uv_pins(ROOT / "deploy" / "Dockerfile")
    assert calls[0].endswith(f"uv=={pin}")
    assert calls[1].startswith("uv sync --frozen")
    assert (tmp_path / ".venv" / ".synced").exists()


@needs_make
def test_a_python_without_venv_support_gets_a_hint_and_no_half_made_venv(tmp_path):
    made = _make_venv(tmp_path, DEBIAN_PYTHON_WITHOUT_VENV)

    assert made.returncode != 0
    assert "sudo apt-get install python3-venv" in made.stderr
    assert not (tmp_path / ".venv").exists()
