"""docs/reliability.md's figures are regenerated from the last soak and chaos runs: the
generated blocks change, the hand-written text around them does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.reliability_report import regenerate

PAGE = """# Reliability
Hand-written text.
<!-- BEGIN generated: soak (make soak) -->
old soak figures
<!-- END generated: soak -->
Between the blocks.
<!-- BEGIN generated: chaos (make chaos) -->
old chaos figures
<!-- END generated: chaos -->
Tail.
"""

SOAK = {
    "when": "2026-11-26T13:00:00+00:00",
    "machine": {"cpus": 2, "python": "3.11.7"},
    "config": {"jobs": 2000, "rate_per_s": 2.0, "backtesters": 2, "worker_concurrency": 4},
    "jobs_submitted": 2000,
    "jobs_succeeded": 2000,
    "jobs_per_s": 1.98,
    "latency_s": {"p50": 0.2, "p95": 0.5, "p99": 0.7, "max": 1.1},
    "max_queue_depth": 3,
    "status_polls": 4100,
    "errors": 0,
    "errors_by_kind": {},
    "rss_mb": {"growth": {"gateway": 0.01, "ingestor": 0.0}, "start_is": "after warm-up"},
    "rss_growth_ok": True,
    "exit_codes": {"gateway": 0},
    "note": "a floor.",
}

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" time="120.5" timestamp="2026-11-26T13:30:00">
<testcase classname="tests.reliability.test_abuse" name="test_fuzz" time="60.2">
<properties><property name="fuzz_cases" value="9000"/></properties></testcase>
<testcase classname="tests.reliability.test_dependency_faults" name="test_rolling" time="50.1">
<failure message="boom">trace</failure></testcase>
<testcase classname="tests.reliability.test_x" name="test_known" time="1.0">
<skipped type="pytest.xfail" message="known"/></testcase>
</testsuite></testsuites>
"""


def test_blocks_are_regenerated_and_the_rest_of_the_page_is_kept(tmp_path: Path) -> None:
    page, soak, xml, chaos = (tmp_path / n for n in ("r.md", "s.json", "c.xml", "c.json"))
    page.write_text(PAGE)
    soak.write_text(json.dumps(SOAK))
    xml.write_text(JUNIT)

    regenerate(page, soak, xml, chaos)

    text = page.read_text()
    assert "old soak figures" not in text and "old chaos figures" not in text
    for kept in ("Hand-written text.", "Between the blocks.", "Tail."):
        assert kept in text
    assert "**passed**" in text and "| jobs succeeded | 2000 / 2000 |" in text
    assert "gateway +1.0%" in text
    assert "**1 failed, 1 passed, 1 xfailed**" in text
    assert "| `test_abuse::test_fuzz` | passed | 60.2 | fuzz_cases 9000 |" in text
    assert json.loads(chaos.read_text())["totals"] == {"passed": 1, "failed": 1, "xfailed": 1}


def test_a_failed_soak_is_reported_as_failed(tmp_path: Path) -> None:
    page, soak = tmp_path / "r.md", tmp_path / "s.json"
    page.write_text(PAGE)
    soak.write_text(json.dumps({**SOAK, "errors": 2, "errors_by_kind": {"503": 2}}))
    regenerate(page, soak, tmp_path / "none.xml", tmp_path / "none.json")
    assert "**FAILED**" in page.read_text()
    assert "old chaos figures" in page.read_text()


def test_a_page_without_the_markers_is_refused(tmp_path: Path) -> None:
    page, soak = tmp_path / "r.md", tmp_path / "s.json"
    page.write_text("# no markers\n")
    soak.write_text(json.dumps(SOAK))
    with pytest.raises(ValueError, match="soak"):
        regenerate(page, soak, tmp_path / "none.xml", tmp_path / "none.json")
    assert page.read_text() == "# no markers\n"
