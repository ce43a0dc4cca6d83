"""Scan the service processes' log files for secrets: API keys, DSNs, passwords."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

# Shapes of secrets whatever their value: a URL with a driver scheme, an inline password, AWS
# secret keys by name, an API key header echoed with a value.
PATTERNS = (
    re.compile(r"postgres(?:ql)?(?:\+\w+)?://", re.IGNORECASE),
    re.compile(r"password\s*[=:]\s*\S", re.IGNORECASE),
    re.compile(r"aws_secret_access_key", re.IGNORECASE),
    re.compile(r"X-API-Key['\"]?\s*[:=]\s*['\"]?\w", re.IGNORECASE),
)


def find_leaks(paths: Iterable[Path], secrets: Iterable[str]) -> list[str]:
    """One line per log line that holds a known secret or has the shape of one."""
    known = {s for s in secrets if s}
    leaks = []
    for path in paths:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            found = [s[:12] + "…" for s in known if s in line]
            found += [p.pattern for p in PATTERNS if p.search(line)]
            if found:
                leaks.append(f"{path}:{number}: {found}: {line[:300]}")
    return leaks
