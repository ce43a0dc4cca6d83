"""The deployment against the code: the queues the services read, the commands the containers
run, the secrets their settings need, and the IAM each task gets."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from tests.contract.deploy_support import cli_subcommands, load_template, resources

APP = load_template("app")
MESSAGING = load_template("messaging")
TASKS = resources(APP, "AWS::ECS::TaskDefinition")
SERVICES = {
    resource["Properties"]["ServiceName"]: resource["Properties"]
    for resource in resources(APP, "AWS::ECS::Service").values()
}
ALL_CONTAINERS = [
    (lid, container)
    for lid, task in TASKS.items()
    for container in task["Properties"]["ContainerDefinitions"]
]


def _task_of(service: str) -> dict[str, Any]:
    return TASKS[SERVICES[service]["TaskDefinition"]["Ref"]]["Properties"]  # type: ignore[no-any-return]


def _main_container(service: str) -> dict[str, Any]:
    (main,) = [c for c in _task_of(service)["ContainerDefinitions"] if c["Essential"]]
    return main  # type: ignore[no-any-return]


def _import_name(value: Any) -> str | None:
    """``{"Fn::ImportValue": {"Fn::Sub": "${EnvName}-X"}}`` -> ``X``."""
    if isinstance(value, dict) and "Fn::ImportValue" in value:
        return str(value["Fn::ImportValue"]["Fn::Sub"]).removeprefix("${EnvName}-")
    return None


def _exported_resource(template: dict[str, Any], export: str) -> tuple[str, str]:
    """The (logical id, attribute) behind an export of ``template``."""
    for output in template["Outputs"].values():
        if output.get("Export", {}).get("Name", {}).get("Fn::Sub") == f"${{EnvName}}-{export}":
            value = output["Value"]
            if "Ref" in value:
                return value["Ref"], "Ref"
            lid, attribute = value["Fn::GetAtt"]
            return lid, attribute
    raise AssertionError(f"nothing exports {export}")


# Sample values for the other stacks' exports, as CloudFormation would resolve them.
EXPORT_SAMPLES = {"DbPort": "5432", "DbHost": "db.internal", "DbName": "insight_invest"}


def _sample_value(value: Any) -> str:
    """A plain value standing for what CloudFormation resolves ``value`` to."""
    export = _import_name(value)
    if export is not None:
        return EXPORT_SAMPLES.get(export, f"sample-{export}")
    if isinstance(value, dict) and "Ref" in value:
        ref = value["Ref"]
        return "us-east-1" if ref == "AWS::Region" else str(APP["Parameters"][ref]["Default"])
    assert not isinstance(value, dict), f"unresolved intrinsic {value}"
    return str(value)


def _settings_env(container: dict[str, Any]) -> dict[str, str]:
    """The environment the container's process sees; secrets get a placeholder value."""
    env = {item["Name"]: _sample_value(item["Value"]) for item in container.get("Environment", [])}
    env.update({secret["Name"]: "injected-secret" for secret in container.get("Secrets", [])})
    return env


def _queue_env_vars() -> set[str]:
    from adapters.settings import QueueSettings

    return {name.upper() for name in QueueSettings.model_fields if name.endswith("_queue_name")}


def test_every_queue_a_service_reads_exists_with_a_dead_letter_queue() -> None:
    queue_vars = _queue_env_vars()
    assert queue_vars == {"INGEST_QUEUE_NAME", "BACKTEST_QUEUE_NAME"}
    seen = set()
    for lid, container in ALL_CONTAINERS:
        for item in container.get("Environment", []):
            if item["Name"] not in queue_vars:
                continue
            export = _import_name(item["Value"])
            assert export, f"{lid}/{container['Name']}: {item['Name']} must come from the stack"
            queue, attribute = _exported_resource(MESSAGING, export)
            assert attribute == "QueueName"
            properties = MESSAGING["Resources"][queue]["Properties"]
            dlq = properties["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            assert properties["RedrivePolicy"]["maxReceiveCount"] == 3
            dlq_name = MESSAGING["Resources"][dlq]["Properties"]["QueueName"]["Fn::Sub"]
            assert dlq_name == properties["QueueName"]["Fn::Sub"] + "-dlq"
            seen.add(item["Name"])
    assert seen == queue_vars


@pytest.mark.parametrize(
    ("service", "queue_var"),
    [("ingestor", "INGEST_QUEUE_NAME"), ("backtester", "BACKTEST_QUEUE_NAME")],
)
def test_each_worker_is_told_the_queue_it_consumes(service: str, queue_var: str) -> None:
    names = {item["Name"] for item in _main_container(service)["Environment"]}
    assert queue_var in names


@pytest.mark.parametrize(
    ("lid", "container"), ALL_CONTAINERS, ids=[f"{lid}:{c['Name']}" for lid, c in ALL_CONTAINERS]
)
def test_container_command_is_a_real_cli_command_the_parser_accepts(
    lid: str, container: dict[str, Any]
) -> None:
    from cli.main import build_parser

    command = container["Command"]
    assert command[0] in cli_subcommands()
    build_parser().parse_args(command)  # exits (SystemExit) on an unknown option


def test_each_service_runs_its_own_command_from_one_image() -> None:
    images = set()
    for service in ("gateway", "ingestor", "backtester"):
        main = _main_container(service)
        assert main["Command"] == [service]
        images.add(json.dumps(main["Image"]))
    assert len(images) == 1


def _settings_for(service: str) -> list[type[BaseSettings]]:
    from adapters import settings

    common: list[type[BaseSettings]] = [settings.DatabaseSettings, settings.LoggingSettings]
    per_service: dict[str, list[type[BaseSettings]]] = {
        "gateway": [
            *common,
            settings.QueueSettings,
            settings.GatewaySettings,
            settings.BacktestLimitSettings,
        ],
        "ingestor": [
            *common,
            settings.QueueSettings,
            settings.ProviderSettings,
            settings.WorkerRuntimeSettings,
            settings.IngestSettings,
        ],
        "backtester": [*common, settings.QueueSettings, settings.WorkerRuntimeSettings],
    }
    return per_service[service]


@pytest.mark.parametrize("service", ["gateway", "ingestor", "backtester"])
def test_the_settings_of_each_service_validate_with_what_its_task_injects(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapters.settings import DatabaseSettings

    env = _settings_env(_main_container(service))
    # Only what the task injects: nothing from the developer's or CI's environment.
    for key in list(os.environ):
        if key.startswith(("DB_", "DATABASE_", "FRED_", "API_KEYS", "MARKET_", "MACRO_", "SQS_")):
            monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for settings_class in _settings_for(service):
        settings_class()  # a missing secret (e.g. FRED_API_KEY for yfinance+fred) raises here
    url = DatabaseSettings().url()
    assert url.startswith("postgresql+asyncpg://") and "injected-secret@" in url


@pytest.mark.parametrize("service", ["gateway", "ingestor", "backtester"])
def test_no_secret_setting_is_passed_as_plain_environment(service: str) -> None:
    secret_vars = set()
    for settings_class in _settings_for(service):
        for name, field in settings_class.model_fields.items():
            if "SecretStr" in str(field.annotation) or field.annotation is SecretStr:
                secret_vars.add(name.upper())
    assert {"DB_PASSWORD", "DATABASE_URL"} <= secret_vars
    for _lid, container in ALL_CONTAINERS:
        plain = {item["Name"] for item in container.get("Environment", [])}
        assert not plain & secret_vars, f"{container['Name']} passes {plain & secret_vars} in clear"


@pytest.mark.parametrize(
    ("service", "secrets"),
    [
        ("gateway", {"DB_USER", "DB_PASSWORD", "API_KEYS"}),
        ("ingestor", {"DB_USER", "DB_PASSWORD", "FRED_API_KEY"}),
        ("backtester", {"DB_USER", "DB_PASSWORD"}),
    ],
)
def test_every_secret_a_service_needs_is_injected_and_nothing_more(
    service: str, secrets: set[str]
) -> None:
    assert {s["Name"] for s in _main_container(service)["Secrets"]} == secrets


def _policy_statements(role_lid: str) -> list[dict[str, Any]]:
    role = APP["Resources"][role_lid]["Properties"]
    assert "ManagedPolicyArns" not in role, f"{role_lid}: inline, least-privilege policies only"
    return [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("service", ["gateway", "ingestor", "backtester"])
def test_execution_role_reads_exactly_the_secrets_its_task_injects(service: str) -> None:
    task = _task_of(service)
    role = task["ExecutionRoleArn"]["Fn::GetAtt"][0]
    readable = set()
    for statement in _policy_statements(role):
        actions = set(_as_list(statement["Action"]))
        if actions & {"secretsmanager:GetSecretValue", "ssm:GetParameters"}:
            readable |= {json.dumps(r, sort_keys=True) for r in _as_list(statement["Resource"])}
    injected = set()
    for container in task["ContainerDefinitions"]:
        for secret in container.get("Secrets", []):
            value_from = secret["ValueFrom"]
            if (
                isinstance(value_from, dict)
                and "Fn::Sub" in value_from
                and isinstance(value_from["Fn::Sub"], list)
            ):  # "${SecretArn}:username::" -> the secret itself
                value_from = value_from["Fn::Sub"][1]["SecretArn"]
            injected.add(json.dumps(value_from, sort_keys=True))
    assert readable == injected


@pytest.mark.parametrize(
    ("service", "consumes", "sends_to"),
    [
        ("gateway", set(), {"IngestQueueArn", "BacktestQueueArn"}),
        ("ingestor", {"IngestQueueArn"}, {"IngestQueueArn", "IngestDeadLetterQueueArn"}),
        ("backtester", {"BacktestQueueArn"}, {"BacktestDeadLetterQueueArn"}),
    ],
)
def test_task_role_reaches_only_the_queues_its_service_uses(
    service: str, consumes: set[str], sends_to: set[str]
) -> None:
    role = _task_of(service)["TaskRoleArn"]["Fn::GetAtt"][0]
    receivers: set[str] = set()
    senders: set[str] = set()
    for statement in _policy_statements(role):
        assert statement["Effect"] == "Allow"
        actions = set(_as_list(statement["Action"]))
        assert all(a.startswith("sqs:") and "*" not in a for a in actions), role
        queues = {_import_name(r) for r in _as_list(statement["Resource"])}
        assert None not in queues, f"{role}: SQS access only to the stack's own queues"
        if "sqs:ReceiveMessage" in actions:
            receivers |= queues  # type: ignore[arg-type]
        if "sqs:SendMessage" in actions:
            senders |= queues  # type: ignore[arg-type]
    assert receivers == consumes
    assert senders == sends_to
