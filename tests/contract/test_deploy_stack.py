"""The stacks created in the local AWS emulator (moto server) and read back.

Every template is created in deployment order; queues, DLQs, rules, ECS task definitions and
the database are then read back through the AWS APIs. What moto skips is listed in
``deploy_support.MOTO_SKIPPED_TYPES`` / ``MOTO_PATCHES`` and checked against the parsed templates
in test_deploy_templates.py; a resource moto skips that is not on the list fails here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from cli.schedules import SCHEDULES
from tests.contract.deploy_support import (
    MOTO_DROPPED_PROPERTIES,
    MOTO_SKIPPED_TYPES,
    STACK_ORDER,
    Deployment,
    apply_input_transformer,
    consume_with_ingestor,
    deploy_all,
    expected_resources,
    next_fire_time,
    sample_scheduled_event,
)
from tests.support.sqs import local_sqs_endpoint

pytestmark = [
    pytest.mark.sqs,
    # moto warns for each resource type it skips; the allow-list test below covers those.
    pytest.mark.filterwarnings("ignore:Tried to parse .* not supported:UserWarning"),
]


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    # A moto server of its own (same helper as the sqs_endpoint fixture): the stacks must not
    # disappear if another test resets or fills the shared endpoint.
    with local_sqs_endpoint() as endpoint:
        yield deploy_all(endpoint, env_name=f"ct{uuid.uuid4().hex[:6]}")


def _queue_attributes(deployment: Deployment, name: str) -> dict[str, str]:
    sqs = deployment.client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]  # type: ignore[no-any-return]


def _messaging_queue_names(deployment: Deployment) -> dict[str, str]:
    outputs = deployment.stacks["messaging"].outputs
    return {key: value for key, value in outputs.items() if key.endswith("QueueName")}


def test_every_template_resource_is_created_or_explicitly_allow_listed(
    deployment: Deployment,
) -> None:
    unnoticed = []
    for name, stack in deployment.stacks.items():
        expected = expected_resources(name, stack.template)
        missing = {lid: r["Type"] for lid, r in expected.items() if lid not in stack.created}
        unnoticed += [
            f"{name}:{lid} ({type_})"
            for lid, type_ in missing.items()
            if type_ not in MOTO_SKIPPED_TYPES
        ]
        for lid, created in stack.created.items():
            assert created["type"] == expected[lid]["Type"], f"{name}:{lid}"
    assert not unnoticed, f"moto skipped resources that are not allow-listed: {unnoticed}"


def test_allow_list_names_only_types_moto_really_skips(deployment: Deployment) -> None:
    skipped_types = {
        resource["Type"]
        for name, stack in deployment.stacks.items()
        for lid, resource in expected_resources(name, stack.template).items()
        if lid not in stack.created
    }
    stale = set(MOTO_SKIPPED_TYPES) - skipped_types
    assert not stale, f"moto now creates {stale}: remove them from MOTO_SKIPPED_TYPES"


def test_work_queues_dead_letter_after_three_receives(deployment: Deployment) -> None:
    names = _messaging_queue_names(deployment)
    for kind in ("Ingest", "Backtest"):
        queue = names[f"{kind}QueueName"]
        dlq = names[f"{kind}DeadLetterQueueName"]
        # The services derive the DLQ as "<queue>-dlq" (docs/architecture.md).
        assert dlq == f"{queue}-dlq"
        redrive = json.loads(_queue_attributes(deployment, queue)["RedrivePolicy"])
        dlq_arn = _queue_attributes(deployment, dlq)["QueueArn"]
        assert redrive == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}


def test_every_queue_is_encrypted_at_rest(deployment: Deployment) -> None:
    for name in _messaging_queue_names(deployment).values():
        attributes = _queue_attributes(deployment, name)
        assert attributes.get("SqsManagedSseEnabled") == "true" or "KmsMasterKeyId" in attributes


def test_visibility_timeout_outlasts_the_longest_handler_plus_one_heartbeat(
    deployment: Deployment,
) -> None:
    ecs = deployment.client("ecs")
    consumers = {
        "ingestor": ("IngestQueueName", "INGEST_QUEUE_NAME"),
        "backtester": ("BacktestQueueName", "BACKTEST_QUEUE_NAME"),
    }
    for service, (queue_key, queue_env) in consumers.items():
        family = f"insight-invest-{deployment.env_name}-{service}"
        container = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"][
            "containerDefinitions"
        ][0]
        env = {item["name"]: item["value"] for item in container["environment"]}
        longest = float(env["HANDLER_TIMEOUT_SECONDS"]) + float(env["WORKER_LEASE_SECONDS"])
        queue = _messaging_queue_names(deployment)[queue_key]
        assert env[queue_env] == queue
        assert int(_queue_attributes(deployment, queue)["VisibilityTimeout"]) > longest


def test_schedules_are_the_cli_schedule_table_targeting_the_ingest_queue(
    deployment: Deployment,
) -> None:
    events = deployment.client("events")
    prefix = f"insight-invest-{deployment.env_name}-"
    rules = {
        rule["Name"].removeprefix(prefix): rule
        for rule in events.list_rules(NamePrefix=prefix)["Rules"]
        if "ScheduleExpression" in rule
    }
    assert {name: rule["ScheduleExpression"] for name, rule in rules.items()} == {
        name: cron for name, (cron, _body) in SCHEDULES.items()
    }
    ingest_arn = deployment.stacks["messaging"].outputs["IngestQueueArn"]
    dlq_arn = deployment.stacks["messaging"].outputs["IngestDeadLetterQueueArn"]
    for name, rule in rules.items():
        assert rule["State"] == "ENABLED", name
        (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        assert target["Arn"] == ingest_arn
        assert target["DeadLetterConfig"]["Arn"] == dlq_arn
        assert target["InputTransformer"]["InputPathsMap"] == {"id": "$.id", "time": "$.time"}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [(name, body) for name, (_cron, body) in SCHEDULES.items()],
    ids=list(SCHEDULES),
)
def test_scheduled_event_becomes_a_valid_ingest_command_on_the_ingest_queue(
    deployment: Deployment, rule: str, expected: dict[str, str]
) -> None:
    from domain.messages import parse_ingest_command

    events = deployment.client("events")
    rule_name = f"insight-invest-{deployment.env_name}-{rule}"
    described = events.describe_rule(Name=rule_name)
    (target,) = events.list_targets_by_rule(Rule=rule_name)["Targets"]
    # moto never fires schedules: build the event EventBridge would send at the next fire time.
    fire_time = next_fire_time(described["ScheduleExpression"], datetime(2026, 11, 23, tzinfo=UTC))
    event = sample_scheduled_event(described["Arn"], fire_time)
    body = apply_input_transformer(target["InputTransformer"], event)

    command = parse_ingest_command(body)
    assert {k: v for k, v in json.loads(body).items() if k in expected} == expected
    assert command.command_id == event["id"]
    assert command.scheduled_at == fire_time

    sqs = deployment.client("sqs")
    queue_name = target["Arn"].rsplit(":", 1)[1]
    queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    run = consume_with_ingestor(deployment.endpoint, queue_name)
    assert str(run.status) == "succeeded"
    assert str(run.trigger) == "schedule"
    assert run.command["command_id"] == event["id"]
    # The worker deleted the message it handled: nothing waits and nothing is in flight.
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attributes == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }


def test_each_ecs_service_runs_the_image_with_its_own_command(deployment: Deployment) -> None:
    from tests.contract.deploy_support import cli_subcommands

    ecs = deployment.client("ecs")
    cluster = deployment.stacks["app"].outputs["ClusterName"]
    services = ecs.describe_services(
        cluster=cluster, services=["gateway", "ingestor", "backtester"]
    )["services"]
    images = set()
    for service in services:
        definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
        main = next(
            c for c in definition["taskDefinition"]["containerDefinitions"] if c["essential"]
        )
        images.add(main["image"])
        assert main["command"] == [service["serviceName"]]
        assert main["command"][0] in cli_subcommands()
    assert len(images) == 1
    assert images.pop().endswith(":contract-test")


def test_database_is_private_encrypted_and_backed_up(deployment: Deployment) -> None:
    rds = deployment.client("rds")
    (instance,) = rds.describe_db_instances(
        DBInstanceIdentifier=f"insight-invest-{deployment.env_name}"
    )["DBInstances"]
    assert instance["Engine"] == "postgres"
    assert instance["PubliclyAccessible"] is False
    assert instance["StorageEncrypted"] is True
    assert instance["BackupRetentionPeriod"] >= 7
    # DeletionProtection and the managed secret: moto drops them (MOTO_DROPPED_PROPERTIES).


def test_stacks_are_created_in_dependency_order() -> None:
    # deploy.sh and the tests agree on the order the exports require.
    from pathlib import Path

    script = (Path(__file__).resolve().parents[2] / "deploy" / "deploy.sh").read_text()
    assert f"STACKS=({' '.join(STACK_ORDER)})" in script


def test_application_outputs_give_the_api_url_and_queue_urls(deployment: Deployment) -> None:
    assert deployment.stacks["app"].outputs["ApiUrl"].startswith("http")
    outputs = deployment.stacks["messaging"].outputs
    for key in ("IngestQueueUrl", "BacktestQueueUrl"):
        assert outputs[key].endswith("/" + outputs[key.replace("Url", "Name")])


def test_one_off_task_outputs_resolve_to_the_gateways_private_network(
    deployment: Deployment,
) -> None:
    app = deployment.stacks["app"].outputs
    network = deployment.stacks["network"].outputs
    assert network["OneOffTaskNetworkConfiguration"] == (
        f"awsvpcConfiguration={{subnets=[{network['PrivateSubnetIds']}],"
        f"securityGroups=[{network['GatewaySecurityGroupId']}],assignPublicIp=DISABLED}}"
    )
    ecs = deployment.client("ecs")
    definition = ecs.describe_task_definition(taskDefinition=app["GatewayTaskDefinitionArn"])
    names = [c["name"] for c in definition["taskDefinition"]["containerDefinitions"]]
    assert "gateway" in names  # the container deploy/README.md's one_off overrides


# What MOTO_DROPPED_PROPERTIES claims, read back: each check is True while moto still drops
# the property. When one turns False, moto keeps it now: read it back in a test above and
# remove it from the allow-list instead of only checking the template.
def _database(deployment: Deployment) -> dict[str, Any]:
    rds = deployment.client("rds")
    identifier = f"insight-invest-{deployment.env_name}"
    (instance,) = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
    return instance  # type: ignore[no-any-return]


def _ecs_services(deployment: Deployment) -> dict[str, dict[str, Any]]:
    ecs = deployment.client("ecs")
    described = ecs.describe_services(
        cluster=deployment.stacks["app"].outputs["ClusterName"],
        services=["gateway", "ingestor", "backtester"],
    )["services"]
    return {service["serviceName"]: service for service in described}


def _all_services(deployment: Deployment, dropped: Callable[[dict[str, Any]], bool]) -> bool:
    return all(dropped(service) for service in _ecs_services(deployment).values())


STILL_DROPPED: dict[tuple[str, str], Callable[[Deployment], bool]] = {
    ("AWS::RDS::DBInstance", "DeletionProtection"): lambda d: (
        _database(d)["DeletionProtection"] is False
    ),
    ("AWS::RDS::DBInstance", "MaxAllocatedStorage"): lambda d: (
        "MaxAllocatedStorage" not in _database(d)
    ),
    ("AWS::RDS::DBInstance", "ManageMasterUserPassword"): lambda d: (
        "MasterUserSecret" not in _database(d)
    ),
    ("AWS::ECS::Service", "CapacityProviderStrategy"): lambda d: _all_services(
        d, lambda s: not s.get("capacityProviderStrategy") and s["launchType"] == "EC2"
    ),
    ("AWS::ECS::Service", "DeploymentConfiguration"): lambda d: _all_services(
        d, lambda s: "deploymentCircuitBreaker" not in (s.get("deploymentConfiguration") or {})
    ),
    ("AWS::ECS::Service", "LoadBalancers"): lambda d: (
        not _ecs_services(d)["gateway"].get("loadBalancers")
    ),
    ("AWS::ECS::Service", "NetworkConfiguration"): lambda d: _all_services(
        d, lambda s: not s.get("networkConfiguration")
    ),
    ("AWS::ECS::Service", "HealthCheckGracePeriodSeconds"): lambda d: (
        _ecs_services(d)["gateway"].get("healthCheckGracePeriodSeconds") is None
    ),
}


def test_every_property_allow_listed_as_dropped_has_a_read_back() -> None:
    assert set(STILL_DROPPED) == set(MOTO_DROPPED_PROPERTIES)


@pytest.mark.parametrize("key", list(STILL_DROPPED), ids=[f"{t}.{p}" for t, p in STILL_DROPPED])
def test_moto_really_drops_what_the_allow_list_says(
    deployment: Deployment, key: tuple[str, str]
) -> None:
    assert STILL_DROPPED[key](deployment), (
        f"moto now keeps {key}: read it back here and remove it from MOTO_DROPPED_PROPERTIES"
    )


def test_every_log_group_is_created_with_a_retention(deployment: Deployment) -> None:
    logs = deployment.client("logs")
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups()["logGroups"]}
    env = deployment.env_name
    assert {
        f"/insight-invest/{env}/gateway",
        f"/insight-invest/{env}/ingestor",
        f"/insight-invest/{env}/backtester",
        f"/aws/rds/instance/insight-invest-{env}/postgresql",
    } <= set(groups)
    for name, group in groups.items():
        assert group.get("retentionInDays"), f"{name} keeps logs forever"
