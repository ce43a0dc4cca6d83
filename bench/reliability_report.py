"""Regenerate the figures of docs/reliability.md from the last runs (``python -m
bench.reliability_report``; ``make soak`` and ``make chaos`` call it).

Two blocks of the page are generated, each between its markers, and nothing else is touched:
the soak block from ``bench/results/soak.json`` and the chaos block from the JUnit XML that
``make chaos`` asks pytest to write, summarised into ``bench/results/chaos.json``.
"""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "reliability.md"
RESULTS = ROOT / "bench" / "results"
SOAK_JSON = RESULTS / "soak.json"
CHAOS_XML = RESULTS / ".chaos-junit.xml"
CHAOS_JSON = RESULTS / "chaos.json"


def marked(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- BEGIN generated: {name} .*?-->\n)(.*?)(<!-- END generated: {name} -->)", re.S
    )


def replace_block(page: str, name: str, body: str) -> str:
    pattern = marked(name)
    if not pattern.search(page):
        raise ValueError(f"no generated block named {name!r} in the page")
    return pattern.sub(lambda m: m.group(1) + body + m.group(3), page, count=1)


def soak_block(report: dict[str, Any]) -> str:
    lat, config, rss = report["latency_s"], report["config"], report["rss_mb"]
    growth = ", ".join(f"{name} {value:+.1%}" for name, value in rss["growth"].items())
    verdict = "passed" if report["errors"] == 0 and report["rss_growth_ok"] else "FAILED"
    lines = [
        f"Soak ({report['when']}, {config['jobs']} jobs offered at {config['rate_per_s']}/s, "
        f"{config['backtesters']} backtesters × concurrency {config['worker_concurrency']}, "
        f"{report['machine']['cpus']} CPUs): **{verdict}**",
        "",
        "| figure | value |",
        "|---|---|",
        f"| jobs succeeded | {report['jobs_succeeded']} / {report['jobs_submitted']} |",
        f"| jobs/s sustained | {report['jobs_per_s']} |",
        f"| submit→succeeded p50 / p95 / p99 / max | {lat['p50']} / {lat['p95']} / {lat['p99']} "
        f"/ {lat['max']} s |",
        f"| max backtest queue depth | {report['max_queue_depth']} |",
        f"| status polls | {report['status_polls']} |",
        f"| errors | {report['errors']} {report['errors_by_kind'] or ''} |",
        f"| RSS growth ({rss['start_is']} → end) | {growth} |",
        f"| exit codes | {report['exit_codes']} |",
        "",
        f"{report['note']} Source: `bench/results/soak.json`.",
        "",
    ]
    return "\n".join(lines)


def summarise_junit(path: Path) -> dict[str, Any]:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    cases: list[dict[str, Any]] = []
    for suite in suites:
        for case in suite.iter("testcase"):
            outcome = "passed"
            for child in case:
                if child.tag in ("failure", "error"):
                    outcome = "failed"
                elif child.tag == "skipped":
                    outcome = "xfailed" if child.get("type") == "pytest.xfail" else "skipped"
            properties = {p.get("name"): p.get("value") for p in case.iter("property")}
            cases.append(
                {
                    "test": f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}",
                    "outcome": outcome,
                    "seconds": round(float(case.get("time", 0)), 1),
                    **({"properties": properties} if properties else {}),
                }
            )
    first = suites[0]
    totals: dict[str, int] = {}
    for case in cases:
        totals[case["outcome"]] = totals.get(case["outcome"], 0) + 1
    return {
        "when": first.get("timestamp"),
        "seconds": round(sum(float(s.get("time", 0)) for s in suites), 1),
        "totals": totals,
        "cases": cases,
    }


def chaos_block(summary: dict[str, Any]) -> str:
    totals = ", ".join(f"{count} {outcome}" for outcome, count in sorted(summary["totals"].items()))
    lines = [
        f"`make chaos` ({summary['when']}, {summary['seconds']} s): **{totals}**",
        "",
        "| test | outcome | seconds | recorded |",
        "|---|---|---|---|",
    ]
    for case in summary["cases"]:
        recorded = ", ".join(f"{k} {v}" for k, v in case.get("properties", {}).items())
        lines.append(f"| `{case['test']}` | {case['outcome']} | {case['seconds']} | {recorded} |")
    lines += ["", "Source: `bench/results/chaos.json`.", ""]
    return "\n".join(lines)


def regenerate(
    page_path: Path = PAGE,
    soak_json: Path = SOAK_JSON,
    chaos_xml: Path = CHAOS_XML,
    chaos_json: Path = CHAOS_JSON,
) -> None:
    """Rewrite the page's generated blocks from whichever results exist."""
    page = page_path.read_text()
    if chaos_xml.exists():
        chaos_json.write_text(json.dumps(summarise_junit(chaos_xml), indent=2) + "\n")
    if soak_json.exists():
        page = replace_block(page, "soak", soak_block(json.loads(soak_json.read_text())))
    if chaos_json.exists():
        page = replace_block(page, "chaos", chaos_block(json.loads(chaos_json.read_text())))
    page_path.write_text(page)


def main() -> int:
    regenerate()
    print(f"reliability report regenerated: {PAGE.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
