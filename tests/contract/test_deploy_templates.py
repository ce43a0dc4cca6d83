"""The templates checked as parsed text: cfn-lint, cron ranges, and everything moto skips,
drops or cannot resolve (deploy_support's allow-lists), so that nothing goes unchecked."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cli.schedules import SCHEDULES
from tests.contract.deploy_support import (
    ALL_TEMPLATES,
    MOTO_DROPPED_PROPERTIES,
    MOTO_PATCHES,
    MOTO_SKIPPED_TYPES,
    REPO_ROOT,
    TEMPLATES_DIR,
    CronError,
    load_template,
    longest_gap,
    parameter_default,
    parse_cron,
    resources,
)

TEMPLATES = {name: load_template(name) for name in ALL_TEMPLATES}


def _ref(node: Any) -> str | None:
    return node.get("Ref") if isinstance(node, dict) else None


def _getatt(node: Any) -> list[str] | None:
    return node.get("Fn::GetAtt") if isinstance(node, dict) else None


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return list(policy["PolicyDocument"]["Statement"])


# ------------------------------------------------------------------------------ cfn-lint
@pytest.fixture(scope="module")
def cfn_lint_report() -> subprocess.CompletedProcess[str]:
    # One run over every template: cfn-lint's start-up dominates its run time.
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    paths = [str(TEMPLATES_DIR / f"{name}.yaml") for name in ALL_TEMPLATES]
    return subprocess.run(
        [str(cfn_lint), "--format", "parseable", *paths],
        capture_output=True,
        text=True,
        timeout=280,
    )


@pytest.mark.parametrize("name", ALL_TEMPLATES)
def test_cfn_lint_reports_no_errors(
    cfn_lint_report: subprocess.CompletedProcess[str], name: str
) -> None:
    # Exit status is a bit mask: 2 = errors, 4 = warnings, 8 = informational; 1 = crashed.
    assert cfn_lint_report.returncode & 1 == 0, cfn_lint_report.stderr
    errors = [
        line
        for line in cfn_lint_report.stdout.splitlines()
        if line.startswith(str(TEMPLATES_DIR / f"{name}.yaml")) and ":E" in line
    ]
    assert not errors, "\n".join(errors)


def test_cfn_lint_exit_status_has_no_error_bit(
    cfn_lint_report: subprocess.CompletedProcess[str],
) -> None:
    # Independent of the output format the per-template test reads: bit 2 = an error anywhere.
    assert cfn_lint_report.returncode & 2 == 0, cfn_lint_report.stdout
    assert cfn_lint_report.returncode & 1 == 0, cfn_lint_report.stderr


def test_every_template_file_is_covered() -> None:
    assert {p.stem for p in TEMPLATES_DIR.glob("*.yaml")} == set(ALL_TEMPLATES)


# ------------------------------------------------------------------------------ cron
def _schedule_rules() -> dict[str, dict[str, Any]]:
    """The messaging stack's schedule rules by the name the CLI's schedule table uses
    (``insight-invest-<env>-us-prices`` -> ``us-prices``)."""
    prefix = "insight-invest-${EnvName}-"
    rules = resources(TEMPLATES["messaging"], "AWS::Events::Rule").values()
    return {r["Properties"]["Name"]["Fn::Sub"].removeprefix(prefix): r["Properties"] for r in rules}


def test_schedules_are_the_crons_of_the_cli_schedule_table() -> None:
    in_templates = {name: rule["ScheduleExpression"] for name, rule in _schedule_rules().items()}
    assert in_templates == {name: cron for name, (cron, _body) in SCHEDULES.items()}


def test_every_schedule_in_every_template_is_a_valid_cron() -> None:
    expressions = [
        rule["Properties"]["ScheduleExpression"]
        for template in TEMPLATES.values()
        for rule in resources(template, "AWS::Events::Rule").values()
        if "ScheduleExpression" in rule["Properties"]
    ]
    assert len(expressions) >= len(SCHEDULES)
    for expression in expressions:
        parse_cron(expression)  # raises CronError, naming the field out of range


@pytest.mark.parametrize(
    "expression",
    [
        "cron(60 9 ? * TUE-SAT *)",  # minute 60
        "cron(0 24 ? * MON-FRI *)",  # hour 24
        "cron(0 9 32 * ? *)",  # day 32
        "cron(0 9 ? 13 MON *)",  # month 13
        "cron(0 9 ? * MON-FRX *)",  # unknown day name
        "cron(0 9 ? * 8 *)",  # day-of-week 8
        "cron(0 9 ? * SAT-MON *)",  # backwards range
        "cron(0 9 1 * MON *)",  # both day fields set
        "cron(0 9 * * *)",  # five fields (Unix style)
        "rate(1 day) ",  # not a cron
    ],
)
def test_cron_validator_rejects_out_of_range_or_malformed_fields(expression: str) -> None:
    with pytest.raises(CronError):
        parse_cron(expression)


@pytest.mark.parametrize(
    ("schedule", "weekdays", "hour"),
    [
        ("us-prices", {"Tue", "Wed", "Thu", "Fri", "Sat"}, 9),
        ("kr-prices", {"Mon", "Tue", "Wed", "Thu", "Fri"}, 21),
        ("macro", {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri"}, 23),
    ],
)
def test_seed_crons_fire_on_the_intended_days_in_utc(
    schedule: str, weekdays: set[str], hour: int
) -> None:
    expression, _body = SCHEDULES[schedule]
    times = parse_cron(expression).fire_times(datetime(2026, 11, 23, tzinfo=UTC))
    week = [next(times) for _ in range(len(weekdays))]
    assert {t.strftime("%a") for t in week} == weekdays
    assert {(t.hour, t.minute) for t in week} == {(hour, 0)}


def _schedules_by_market() -> dict[str, str]:
    """Market dimension of IngestionRunSucceeded -> the cron of the rule that starts its runs.
    A command without a market is the macro run (domain.usecases.runs.report_finished)."""
    by_market = {}
    for rule in resources(TEMPLATES["messaging"], "AWS::Events::Rule").values():
        template = rule["Properties"]["Targets"][0]["InputTransformer"]["InputTemplate"]
        body = json.loads(re.sub(r'"<[a-z]+>"', "null", template))
        by_market[body.get("market") or "MACRO"] = rule["Properties"]["ScheduleExpression"]
    return by_market


def _missing_run_alarms() -> dict[str, dict[str, Any]]:
    """Market -> properties of the alarm that fires when no run of the market succeeded."""
    alarms = {}
    for alarm in resources(TEMPLATES["monitoring"], "AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        if properties.get("MetricName") == "IngestionRunSucceeded" and (
            properties["TreatMissingData"] == "breaching"
        ):
            dimensions = {d["Name"]: d["Value"] for d in properties["Dimensions"]}
            alarms[dimensions["Market"]] = properties
    return alarms


@pytest.mark.parametrize("market", ["US", "KR", "MACRO"])
def test_missing_run_alarm_waits_out_the_longest_gap_plus_a_full_handler_run(market: str) -> None:
    # The window must outlast the weekend gap and the run that ends it, or every Monday pages.
    gap = longest_gap(_schedules_by_market()[market])
    handler_timeout = timedelta(
        seconds=parameter_default(TEMPLATES["app"], "HandlerTimeoutSeconds")
    )
    alarm = _missing_run_alarms()[market]
    window = timedelta(seconds=alarm["Period"] * alarm["EvaluationPeriods"])
    assert window >= gap + handler_timeout + timedelta(hours=1), (market, window, gap)
    # Every period of the window must be empty: one success anywhere in it keeps the alarm OK.
    assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"]
    assert alarm["Statistic"] == "Sum" and alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["Threshold"] == 1


def test_longest_gap_between_seed_runs_is_the_weekend() -> None:
    gaps = {market: longest_gap(cron) for market, cron in _schedules_by_market().items()}
    assert gaps == {
        "US": timedelta(hours=72),
        "KR": timedelta(hours=72),
        "MACRO": timedelta(hours=48),
    }


def test_schedules_post_the_same_bodies_as_the_cli_schedule_table() -> None:
    rules = resources(TEMPLATES["messaging"], "AWS::Events::Rule")
    in_templates = {}
    for rule in rules.values():
        template = rule["Properties"]["Targets"][0]["InputTransformer"]["InputTemplate"]
        body = json.loads(re.sub(r'"<[a-z]+>"', "null", template))
        fixed = {k: v for k, v in body.items() if v is not None}
        in_templates[rule["Properties"]["ScheduleExpression"]] = fixed
    assert in_templates == {cron: body for cron, body in SCHEDULES.values()}


# ------------------------------------------------------------------------------ what moto skips
def _check_queue_policy(name: str, lid: str, resource: dict[str, Any]) -> None:
    template = TEMPLATES[name]
    statements = _statements(resource["Properties"])
    denies = [s for s in statements if s["Effect"] == "Deny"]
    assert any(s["Condition"]["Bool"]["aws:SecureTransport"] == "false" for s in denies), lid
    queues = {_ref(q) for q in resource["Properties"]["Queues"]}
    allows = [s for s in statements if s["Effect"] == "Allow"]
    if "IngestQueue" not in queues:
        assert not allows, f"{lid}: only the ingest queue admits outside senders"
        return
    # The ingest queue (and its DLQ, for undeliverable events) admit exactly the schedules.
    rules = {lid for lid, r in resources(template, "AWS::Events::Rule").items()}
    (allow,) = allows
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    sources = allow["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert {_getatt(s)[0] for s in sources} == rules  # type: ignore[index]
    assert len(rules) == len(SCHEDULES)
    assert {_getatt(r)[0] for r in allow["Resource"]} == queues  # type: ignore[index]


def _check_topic_policy(name: str, lid: str, resource: dict[str, Any]) -> None:
    principals = {s["Principal"]["Service"] for s in _statements(resource["Properties"])}
    assert principals == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}, lid
    for statement in _statements(resource["Properties"]):
        assert statement["Action"] == "sns:Publish" and statement.get("Condition"), lid


def _check_subscription(name: str, lid: str, resource: dict[str, Any]) -> None:
    properties = resource["Properties"]
    assert _ref(properties["TopicArn"]) == "AlarmTopic", lid
    assert properties["Protocol"] in {"email", "lambda"}
    assert resource.get("Condition") in {"HasAlarmEmail", "HasSlack"}, "subscriptions are optional"


def _check_alarm(name: str, lid: str, resource: dict[str, Any]) -> None:
    properties = resource["Properties"]
    (action,) = properties["AlarmActions"]
    target = _ref(action)
    kind = TEMPLATES[name]["Resources"][target]["Type"]
    # Paging alarms notify the topic; autoscaling alarms drive a scaling policy.
    assert kind in {"AWS::SNS::Topic", "AWS::ApplicationAutoScaling::ScalingPolicy"}, lid
    assert properties["TreatMissingData"] in {"breaching", "notBreaching", "missing"}, lid
    assert "#" in properties["AlarmDescription"] or kind != "AWS::SNS::Topic", f"{lid}: runbook"


def _lambdas_reading(template: dict[str, Any], secret: str) -> list[str]:
    """Functions told the secret's ARN whose role may read it."""
    readers = []
    for lid, function in resources(template, "AWS::Lambda::Function").items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        role = template["Resources"][_getatt(function["Properties"]["Role"])[0]]  # type: ignore[index]
        readable = {
            _ref(statement["Resource"])
            for policy in role["Properties"]["Policies"]
            for statement in _statements(policy)
            if statement["Action"] == "secretsmanager:GetSecretValue"
        }
        if {"Ref": secret} in variables.values() and secret in readable:
            readers.append(lid)
    return readers


def _check_secret(name: str, lid: str, resource: dict[str, Any]) -> None:
    properties = resource["Properties"]
    if "SecretString" in properties:
        # Only a value the operator passes in through a NoEcho parameter, never a literal, and
        # a function that reads it at run time.
        parameter = _ref(properties["SecretString"])
        assert parameter, f"{lid}: never a secret value in a template"
        assert TEMPLATES[name]["Parameters"][parameter].get("NoEcho") is True, lid
        assert _lambdas_reading(TEMPLATES[name], lid), f"{lid} is read by no function"
        return
    assert properties["GenerateSecretString"]["PasswordLength"] >= 32
    injected = [
        secret
        for task in resources(TEMPLATES[name], "AWS::ECS::TaskDefinition").values()
        for container in task["Properties"]["ContainerDefinitions"]
        for secret in container.get("Secrets", [])
        if _ref(secret["ValueFrom"]) == lid
    ]
    assert injected, f"{lid} is injected by no task definition"


def _check_scalable_target(name: str, lid: str, resource: dict[str, Any]) -> None:
    template = TEMPLATES[name]
    properties = resource["Properties"]
    service = properties["ResourceId"]["Fn::Sub"].rsplit("${", 1)[1].split(".")[0]
    maximum = parameter_default(template, _ref(properties["MaxCapacity"]))  # type: ignore[arg-type]
    expected = {"GatewayService": (1, 3), "IngestorService": (0, 2), "BacktesterService": (0, None)}
    low, high = expected[service]
    assert properties["MinCapacity"] == low, lid
    assert high is None or maximum == high, lid
    assert properties["ScalableDimension"] == "ecs:service:DesiredCount"


def _check_scaling_policy(name: str, lid: str, resource: dict[str, Any]) -> None:
    properties = resource["Properties"]
    assert _ref(properties["ScalingTargetId"]) in resources(
        TEMPLATES[name], "AWS::ApplicationAutoScaling::ScalableTarget"
    ), lid
    if properties["PolicyType"] == "StepScaling":
        # The wake-up policy: the first task when work waits and none runs.
        (step,) = properties["StepScalingPolicyConfiguration"]["StepAdjustments"]
        assert step["ScalingAdjustment"] == 1
        return
    config = properties["TargetTrackingScalingPolicyConfiguration"]
    if "PredefinedMetricSpecification" in config:
        kind = config["PredefinedMetricSpecification"]["PredefinedMetricType"]
        assert kind in {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}, lid
        return
    metrics = config["CustomizedMetricSpecification"]["Metrics"]
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in metrics if "MetricStat" in m}
    assert names == {
        "ApproximateNumberOfMessagesVisible",
        "ApproximateNumberOfMessagesNotVisible",
        "RunningTaskCount",
    }, f"{lid}: backlog per task"


def _check_capacity_providers(name: str, lid: str, resource: dict[str, Any]) -> None:
    assert set(resource["Properties"]["CapacityProviders"]) == {"FARGATE", "FARGATE_SPOT"}, lid


def _check_oidc_provider(name: str, lid: str, resource: dict[str, Any]) -> None:
    properties = resource["Properties"]
    assert properties["Url"] == "https://token.actions.githubusercontent.com", lid
    assert properties["ClientIdList"] == ["sts.amazonaws.com"]
    role = TEMPLATES[name]["Resources"]["GitHubDeployRole"]["Properties"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    # Exactly the protected deploy environment: no wildcard, no branch, no other operator.
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": {
                "Fn::Sub": "repo:${GitHubRepository}:environment:${DeployEnvironment}"
            },
        }
    }
    assert parameter_default(TEMPLATES[name], "DeployEnvironment") == "prod"


SKIPPED_TYPE_CHECKS: dict[str, Callable[[str, str, dict[str, Any]], None]] = {
    "AWS::SQS::QueuePolicy": _check_queue_policy,
    "AWS::SNS::TopicPolicy": _check_topic_policy,
    "AWS::SNS::Subscription": _check_subscription,
    "AWS::CloudWatch::Alarm": _check_alarm,
    "AWS::SecretsManager::Secret": _check_secret,
    "AWS::ApplicationAutoScaling::ScalableTarget": _check_scalable_target,
    "AWS::ApplicationAutoScaling::ScalingPolicy": _check_scaling_policy,
    "AWS::ECS::ClusterCapacityProviderAssociations": _check_capacity_providers,
    "AWS::IAM::OIDCProvider": _check_oidc_provider,
}

SKIPPED_RESOURCES = [
    (name, lid, resource)
    for name, template in TEMPLATES.items()
    for lid, resource in resources(template).items()
    if resource["Type"] in MOTO_SKIPPED_TYPES
]


def test_every_type_moto_skips_has_a_template_check() -> None:
    assert set(MOTO_SKIPPED_TYPES) == set(SKIPPED_TYPE_CHECKS)


@pytest.mark.parametrize(
    ("name", "lid", "resource"),
    SKIPPED_RESOURCES,
    ids=[f"{n}:{lid}" for n, lid, _ in SKIPPED_RESOURCES],
)
def test_resource_moto_skips_is_checked_against_the_template(
    name: str, lid: str, resource: dict[str, Any]
) -> None:
    SKIPPED_TYPE_CHECKS[resource["Type"]](name, lid, resource)


def test_alarms_cover_dead_letters_missing_runs_latency_cpu_5xx_and_failed_tasks() -> None:
    alarms = resources(TEMPLATES["monitoring"], "AWS::CloudWatch::Alarm")

    def single(metric: str, **dimensions: str) -> list[dict[str, Any]]:
        found = []
        for alarm in alarms.values():
            p = alarm["Properties"]
            dims = {d["Name"]: d["Value"] for d in p.get("Dimensions", [])}
            if p.get("MetricName") == metric and all(
                dims.get(k) == v for k, v in dimensions.items()
            ):
                found.append(p)
        return found

    dlq_names = {
        a["Properties"]["Dimensions"][0]["Value"]["Fn::ImportValue"]["Fn::Sub"]
        for a in alarms.values()
        if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    }
    assert dlq_names == {
        "${EnvName}-IngestDeadLetterQueueName",
        "${EnvName}-BacktestDeadLetterQueueName",
    }
    for market in ("US", "KR", "MACRO"):
        runs = single("IngestionRunSucceeded", Market=market)
        assert {p["TreatMissingData"] for p in runs} == {"breaching", "notBreaching"}, market
        assert all(p["Namespace"] == "InsightInvest" for p in runs)
    (latency,) = single("TargetResponseTime")
    assert latency["ExtendedStatistic"] == "p95"
    assert parameter_default(TEMPLATES["monitoring"], _ref(latency["Threshold"])) == 3  # type: ignore[arg-type]
    (cpu,) = single("CPUUtilization")
    assert parameter_default(TEMPLATES["monitoring"], _ref(cpu["Threshold"])) == 80  # type: ignore[arg-type]
    rate = alarms["Gateway5xxRateAlarm"]["Properties"]["Metrics"]
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in rate if "MetricStat" in m} >= {
        "RequestCount",
        "HTTPCode_Target_5XX_Count",
    }
    ecs_rule = TEMPLATES["monitoring"]["Resources"]["EcsTaskFailureRule"]["Properties"]
    assert _ref(ecs_rule["Targets"][0]["Arn"]) == "AlarmTopic"


# ------------------------------------------------------------------------------ what moto drops
def _service(lid: str) -> dict[str, Any]:
    return TEMPLATES["app"]["Resources"][lid]["Properties"]  # type: ignore[no-any-return]


def test_properties_moto_drops_hold_in_the_template() -> None:
    checked = set()
    database = TEMPLATES["data"]["Resources"]["Database"]["Properties"]
    assert database["DeletionProtection"] is True
    assert database["ManageMasterUserPassword"] is True and "MasterUserPassword" not in database
    assert _ref(database["MaxAllocatedStorage"]) and _ref(database["AllocatedStorage"])
    checked |= {
        ("AWS::RDS::DBInstance", p)
        for p in ("DeletionProtection", "ManageMasterUserPassword", "MaxAllocatedStorage")
    }

    providers = {
        "GatewayService": "FARGATE",
        "IngestorService": "FARGATE_SPOT",
        "BacktesterService": "FARGATE_SPOT",
    }
    for lid, provider in providers.items():
        service = _service(lid)
        assert [s["CapacityProvider"] for s in service["CapacityProviderStrategy"]] == [provider]
        breaker = service["DeploymentConfiguration"]["DeploymentCircuitBreaker"]
        assert breaker == {"Enable": True, "Rollback": True}, lid
        # What these SSM-typed parameters resolve to in each TaskEgress mode, and across a
        # switch: test_deploy_egress.py.
        network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["AssignPublicIp"] == {"Ref": "TaskAssignPublicIp"}, lid
        assert network["Subnets"] == {"Fn::Split": [",", {"Ref": "TaskSubnetIds"}]}, lid
    gateway = _service("GatewayService")
    (balancer,) = gateway["LoadBalancers"]
    assert balancer["ContainerName"] == "gateway"
    group = TEMPLATES["app"]["Resources"][_ref(balancer["TargetGroupArn"])]["Properties"]
    assert group["HealthCheckPath"] == "/health/ready"
    assert gateway["HealthCheckGracePeriodSeconds"] > 0
    assert "LoadBalancers" not in _service("IngestorService")
    checked |= {
        ("AWS::ECS::Service", p)
        for p in (
            "CapacityProviderStrategy",
            "DeploymentConfiguration",
            "LoadBalancers",
            "NetworkConfiguration",
            "HealthCheckGracePeriodSeconds",
        )
    }
    assert checked == set(MOTO_DROPPED_PROPERTIES)


# ------------------------------------------------------------------------------ what moto patches
def test_values_patched_for_moto_are_right_in_the_template() -> None:
    data_outputs = TEMPLATES["data"]["Outputs"]
    assert data_outputs["DbSecretArn"]["Value"] == {
        "Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]
    }
    app_outputs = TEMPLATES["app"]["Outputs"]
    assert app_outputs["GatewayTargetGroupFullName"]["Value"] == {
        "Fn::GetAtt": ["GatewayTargetGroup", "TargetGroupFullName"]
    }
    assert {key for key, _ in MOTO_PATCHES} == {"data", "app", "monitoring"}


def _rendered_dashboard() -> dict[str, Any]:
    body, variables = TEMPLATES["monitoring"]["Resources"]["Dashboard"]["Properties"][
        "DashboardBody"
    ]["Fn::Sub"]
    # Fill every ${...} with a sample value: what CloudFormation would substitute.
    rendered = re.sub(r"\$\{([^}]+)\}", lambda m: "3" if m.group(1) == "P95" else "x", body)
    assert set(variables) <= set(re.findall(r"\$\{([^}.!]+)\}", body))
    return json.loads(rendered)  # type: ignore[no-any-return]


def test_dashboard_shows_the_seeds_metrics() -> None:
    widgets = _rendered_dashboard()["widgets"]
    shown: set[str] = set()
    stats: set[str] = set()
    for widget in widgets:
        for row in widget["properties"].get("metrics", []):
            shown |= {item for item in row if isinstance(item, str) and item[:1].isupper()}
            stats |= {item["stat"] for item in row if isinstance(item, dict) and "stat" in item}
    assert shown >= {
        "RequestCount",  # requests
        "TargetResponseTime",  # latency
        "HTTPCode_Target_5XX_Count",  # error rate
        "BacktestJobSucceeded",  # job count (SampleCount) and success rate (Average)
        "BacktestJobDuration",  # duration
        "IngestionRowsWritten",  # rows processed
        "IngestionRunSucceeded",
        "DatabaseConnections",  # DB connections
    }
    assert stats >= {"p50", "p95", "p99", "SampleCount", "Average"}


def test_every_custom_metric_is_documented_for_the_services_to_emit() -> None:
    operations = (REPO_ROOT / "docs" / "operations.md").read_text()
    used = {
        alarm["Properties"]["MetricName"]
        for alarm in resources(TEMPLATES["monitoring"], "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == "InsightInvest"
    }
    for widget in _rendered_dashboard()["widgets"]:
        for row in widget["properties"].get("metrics", []):
            if row and row[0] == "InsightInvest":
                used.add(row[1])
    assert used
    for metric in used:
        assert f"`{metric}`" in operations, f"{metric} is not documented in docs/operations.md"


# ------------------------------------------------------------------------------ network and logs
def _security_groups() -> dict[str, dict[str, Any]]:
    return {
        lid: r["Properties"]
        for lid, r in resources(TEMPLATES["network"], "AWS::EC2::SecurityGroup").items()
    }


def _ingress(group: dict[str, Any]) -> set[tuple[Any, ...]]:
    """(protocol, from port, to port, source) of each rule; source is a CIDR or a group id."""
    return {
        (
            rule["IpProtocol"],
            json.dumps(rule["FromPort"]),
            json.dumps(rule["ToPort"]),
            rule.get("CidrIp") or _ref(rule["SourceSecurityGroupId"]),
        )
        for rule in group.get("SecurityGroupIngress", [])
    }


def test_each_tier_admits_only_what_it_needs() -> None:
    groups = _security_groups()
    port = json.dumps({"Ref": "GatewayPort"})
    assert set(groups) == {
        "LoadBalancerSecurityGroup",
        "GatewaySecurityGroup",
        "WorkerSecurityGroup",
        "DatabaseSecurityGroup",
    }
    assert _ingress(groups["LoadBalancerSecurityGroup"]) == {
        ("tcp", "443", "443", "0.0.0.0/0"),
        ("tcp", "80", "80", "0.0.0.0/0"),
    }
    assert _ingress(groups["GatewaySecurityGroup"]) == {
        ("tcp", port, port, "LoadBalancerSecurityGroup")
    }
    assert _ingress(groups["WorkerSecurityGroup"]) == set()
    assert _ingress(groups["DatabaseSecurityGroup"]) == {
        ("tcp", "5432", "5432", "GatewaySecurityGroup"),
        ("tcp", "5432", "5432", "WorkerSecurityGroup"),
    }


def test_security_group_rules_live_only_in_their_groups() -> None:
    # A separate rule resource in another stack would widen a tier unseen by the test above.
    for name, template in TEMPLATES.items():
        for type_ in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
            assert not resources(template, type_), f"{name}: {type_}"


def test_database_security_group_allows_no_outbound_traffic() -> None:
    (rule,) = _security_groups()["DatabaseSecurityGroup"]["SecurityGroupEgress"]
    # An ICMP type/code pair that does not exist to the only host no packet is sent to.
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"], rule["CidrIp"]) == (
        "icmp",
        252,
        86,
        "255.255.255.255/32",
    )


@pytest.mark.parametrize("name", ALL_TEMPLATES)
def test_every_log_group_has_a_retention(name: str) -> None:
    for lid, group in resources(TEMPLATES[name], "AWS::Logs::LogGroup").items():
        retention = group["Properties"].get("RetentionInDays")
        assert retention is not None, f"{name}:{lid} keeps logs forever"


def test_rds_log_exports_go_to_declared_log_groups() -> None:
    data = TEMPLATES["data"]
    database = data["Resources"]["Database"]
    identifier = database["Properties"]["DBInstanceIdentifier"]["Fn::Sub"]
    groups = {
        g["Properties"]["LogGroupName"]["Fn::Sub"]: lid
        for lid, g in resources(data, "AWS::Logs::LogGroup").items()
    }
    exports = database["Properties"]["EnableCloudwatchLogsExports"]
    assert exports
    depends = database.get("DependsOn", [])
    for export in exports:
        lid = groups.get(f"/aws/rds/instance/{identifier}/{export}")
        assert lid, f"the {export} export has no declared log group (RDS makes one, no retention)"
        assert lid in (depends if isinstance(depends, list) else [depends]), "created before RDS"


@pytest.mark.parametrize("name", ALL_TEMPLATES)
def test_template_fits_cloudformations_inline_size_limit(name: str) -> None:
    # `aws cloudformation deploy --template-file` without --s3-bucket (deploy.sh, and the
    # bootstrap command in deploy/README.md) sends the body inline: CloudFormation refuses one
    # over 51,200 bytes, and only the real deploy would tell. Through S3 the limit is 1 MB.
    script = (REPO_ROOT / "deploy" / "deploy.sh").read_text()
    limit = 1_000_000 if "--s3-bucket" in script and name != "bootstrap" else 51_200
    size = (TEMPLATES_DIR / f"{name}.yaml").stat().st_size
    assert size <= limit, f"{name}.yaml is {size} bytes: split it, or upload it to S3"


# ------------------------------------------------------------------------------ Slack forwarder
@pytest.mark.parametrize("name", ALL_TEMPLATES)
def test_no_echo_parameters_never_reach_an_environment_variable(name: str) -> None:
    # An environment variable shows in plain text to anyone who may describe the function or
    # task definition; a NoEcho value belongs in Secrets Manager.
    template = TEMPLATES[name]
    hidden = {p for p, spec in template.get("Parameters", {}).items() if spec.get("NoEcho")}
    for lid, resource in resources(template).items():
        properties = resource.get("Properties", {})
        environments = [properties.get("Environment", {}).get("Variables", {})] + [
            {item["Name"]: item["Value"] for item in container.get("Environment", [])}
            for container in properties.get("ContainerDefinitions", [])
        ]
        for variables in environments:
            leaked = {
                k
                for k, v in variables.items()
                if _ref(v) in hidden or hidden & set(re.findall(r"\$\{(\w+)\}", json.dumps(v)))
            }
            assert not leaked, f"{name}:{lid} puts {leaked} in plain environment variables"


def test_slack_forwarder_posts_the_alarm_to_the_webhook_it_reads_from_secrets_manager(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import boto3
    from moto import mock_aws

    posted: list[Any] = []

    class Webhook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            posted.append((self.path, body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    function = TEMPLATES["monitoring"]["Resources"]["SlackForwarder"]["Properties"]
    (variable,) = function["Environment"]["Variables"]
    server = HTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with mock_aws():
            secrets = boto3.client("secretsmanager", region_name="us-east-1")
            url = f"http://127.0.0.1:{server.server_port}/services/T000/B000/x"
            arn = secrets.create_secret(Name="slack", SecretString=url)["ARN"]
            monkeypatch.setenv(variable, arn)
            monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
            module: dict[str, Any] = {}
            exec(compile(function["Code"]["ZipFile"], "index.py", "exec"), module)
            alarm = {
                "AlarmName": "ingestion-missing-us",
                "NewStateValue": "ALARM",
                "NewStateReason": "no run",
            }
            event = {"Records": [{"Sns": {"Message": json.dumps(alarm)}}]}
            module["handler"](event, None)
            # A deploy with a new webhook only changes the secret: the same warm environment
            # must post to the new URL.
            secrets.put_secret_value(SecretId=arn, SecretString=url.replace("/x", "/y"))
            module["handler"](event, None)
    finally:
        server.shutdown()
        server.server_close()
    message = {"text": "*ALARM* ingestion-missing-us\nno run"}
    assert posted == [("/services/T000/B000/x", message), ("/services/T000/B000/y", message)]


def test_the_deploy_role_can_resolve_every_ssm_typed_parameter_of_the_app_stack() -> None:
    """CloudFormation reads `AWS::SSM::Parameter::Value<…>` parameters with the credentials of
    whoever creates the change set: without ssm:GetParameters on their names, CI's app deploy
    fails before it changes anything."""
    ssm_typed = [
        name
        for name, spec in TEMPLATES["app"]["Parameters"].items()
        if str(spec["Type"]).startswith("AWS::SSM::Parameter::Value<")
    ]
    assert ssm_typed, "app resolves its task network settings from SSM"
    script = (Path(__file__).resolve().parents[2] / "deploy" / "deploy.sh").read_text()
    role = TEMPLATES["bootstrap"]["Resources"]["GitHubDeployRole"]["Properties"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    for parameter in ssm_typed:
        [path] = re.findall(rf"{parameter}=(/insight-invest/[^\"\s]+)", script)
        granting = [
            s
            for s in statements
            if "ssm:GetParameters" in _as_list(s["Action"])
            and _resource_text(s["Resource"]).endswith(":parameter/insight-invest/*")
        ]
        assert granting, (parameter, path)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resource_text(resource: Any) -> str:
    return str(resource.get("Fn::Sub", resource)) if isinstance(resource, dict) else str(resource)
