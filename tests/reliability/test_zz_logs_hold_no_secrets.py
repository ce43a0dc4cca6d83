"""Runs last in the fault suite (file order): every log file the service processes of this test
session wrote holds no API key, DSN, password or secret key."""

from __future__ import annotations

import re

import pytest

from tests.reliability.harness import SECRETS

pytestmark = [pytest.mark.e2e]

# Shapes of secrets whatever their value: a URL with a driver scheme, an inline password, AWS
# secret keys by name.
PATTERNS = (
    re.compile(r"postgres(?:ql)?(?:\+\w+)?://", re.IGNORECASE),
    re.compile(r"password\s*[=:]\s*\S", re.IGNORECASE),
    re.compile(r"aws_secret_access_key", re.IGNORECASE),
    re.compile(r"X-API-Key['\"]?\s*[:=]\s*['\"]?\w", re.IGNORECASE),
)


def test_no_log_line_of_the_suite_holds_a_key_token_password_or_dsn(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str
) -> None:
    logs = sorted(tmp_path_factory.getbasetemp().rglob("*.log"))
    if not logs:
        pytest.skip("no service process wrote a log in this session (run with the suite)")
    secrets = {s for s in (*SECRETS, postgres_url) if s}
    leaks = []
    for path in logs:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            found = [s[:12] + "…" for s in secrets if s in line]
            found += [p.pattern for p in PATTERNS if p.search(line)]
            if found:
                leaks.append(f"{path.name}:{number}: {found}: {line[:300]}")
    assert not leaks, "\n".join(leaks[:50])
    print(f"scanned {len(logs)} log files for {len(secrets)} secrets")
