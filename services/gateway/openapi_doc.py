"""What FastAPI cannot say on its own in the OpenAPI document: when the API key is optional,
and how one operation's response feeds the next (OpenAPI links).

Links let clients and generators follow the job lifecycle (submit → poll → result → save as a
portfolio) without hard-coding URLs, and let schemathesis test the API statefully.
"""

from __future__ import annotations

from typing import Any

from gateway.container import GatewayOptions

SCHEME = "APIKeyHeader"
KEY_REQUIRED: list[dict[str, list[str]]] = [{SCHEME: []}]
KEY_OPTIONAL: list[dict[str, list[str]]] = [{}, {SCHEME: []}]
READ_METHODS = frozenset({"get", "head"})


def describe_security(schema: dict[str, Any], options: GatewayOptions) -> None:
    """Mark the key optional where the server does not demand it (gateway.security): everywhere
    when no keys are set, on reads unless ``require_key_for_reads``. A wrong key is still 401."""
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            if "security" not in operation:
                continue  # health and metrics take no key at all
            required = bool(options.api_keys) and (
                method not in READ_METHODS or options.require_key_for_reads
            )
            operation["security"] = KEY_REQUIRED if required else KEY_OPTIONAL


# (source path, method, status) → {link name: (target path, method, {parameter: expression})}
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, dict[str, str]]]] = {
    ("/v1/backtests", "post", "202"): {
        "GetBacktest": ("/v1/backtests/{job_id}", "get", {"job_id": "$response.body#/id"}),
        "GetBacktestResult": (
            "/v1/backtests/{job_id}/result",
            "get",
            {"job_id": "$response.body#/id"},
        ),
        "GetBacktestChart": (
            "/v1/backtests/{job_id}/chart.svg",
            "get",
            {"job_id": "$response.body#/id"},
        ),
        "CancelBacktest": ("/v1/backtests/{job_id}", "delete", {"job_id": "$response.body#/id"}),
    },
    ("/v1/portfolios", "post", "201"): {
        "GetPortfolio": (
            "/v1/portfolios/{portfolio_id}",
            "get",
            {"portfolio_id": "$response.body#/id"},
        ),
        "GetPortfolioChart": (
            "/v1/portfolios/{portfolio_id}/chart.svg",
            "get",
            {"portfolio_id": "$response.body#/id"},
        ),
        "DeletePortfolio": (
            "/v1/portfolios/{portfolio_id}",
            "delete",
            {"portfolio_id": "$response.body#/id"},
        ),
    },
    ("/v1/assets", "get", "200"): {
        "GetFirstAsset": (
            "/v1/assets/{asset_id}",
            "get",
            {"asset_id": "$response.body#/items/0/id"},
        ),
        "GetFirstAssetPrices": (
            "/v1/assets/{asset_id}/prices",
            "get",
            {"asset_id": "$response.body#/items/0/id"},
        ),
    },
    ("/v1/macro/series", "get", "200"): {
        "GetFirstSeriesObservations": (
            "/v1/macro/series/{code}/observations",
            "get",
            {"code": "$response.body#/items/0/code"},
        ),
    },
    ("/v1/backtests", "get", "200"): {
        "GetFirstBacktest": (
            "/v1/backtests/{job_id}",
            "get",
            {"job_id": "$response.body#/items/0/id"},
        ),
    },
    ("/v1/portfolios", "get", "200"): {
        "GetFirstPortfolio": (
            "/v1/portfolios/{portfolio_id}",
            "get",
            {"portfolio_id": "$response.body#/items/0/id"},
        ),
    },
}


def add_links(schema: dict[str, Any]) -> None:
    paths = schema.get("paths", {})
    for (path, method, status), links in LINKS.items():
        response = paths[path][method]["responses"][status]
        document = response.setdefault("links", {})
        for name, (target_path, target_method, parameters) in links.items():
            document[name] = {
                "operationId": paths[target_path][target_method]["operationId"],
                "parameters": parameters,
            }
