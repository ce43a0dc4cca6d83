"""Helpers for the deploy contract tests: parse the CloudFormation templates, create them in moto,
evaluate EventBridge input transformers, validate cron expressions.

The templates are parsed with cfn-lint's decoder (it reads the short-form YAML tags such as
``!Sub`` and turns them into their ``Fn::`` JSON form), so the tests see exactly what CloudFormation
sees; the same JSON is what is sent to moto.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy"
TEMPLATES_DIR = DEPLOY_DIR / "templates"
# Deployment order (deploy/deploy.sh uses the same): later stacks import earlier stacks' exports.
STACK_ORDER = ("network", "data", "messaging", "app", "monitoring")
ALL_TEMPLATES = ("bootstrap", *STACK_ORDER)

# Parameters every stack gets in the contract tests (the rest keep their template defaults).
TEST_PARAMETERS: dict[str, dict[str, str]] = {
    "app": {"ImageTag": "contract-test"},
    "bootstrap": {"GitHubRepository": "example/insight-invest"},
    # Both optional notification paths switched on, so their conditional resources are created.
    "monitoring": {
        "AlarmEmail": "oncall@example.com",
        "SlackWebhookUrl": "https://hooks.slack.com/services/T000/B000/contract-test",
    },
}

# ---------------------------------------------------------------------------------------------
# What moto cannot do, listed so that nothing is skipped unnoticed. Each entry says why; the
# resources and values concerned are checked against the parsed template instead (see
# test_deploy_templates.py, which fails when an entry goes stale or a new gap appears).
# ---------------------------------------------------------------------------------------------
MOTO_SKIPPED_TYPES: dict[str, str] = {
    "AWS::SQS::QueuePolicy": "moto's CloudFormation has no model for queue policies",
    "AWS::SNS::TopicPolicy": "moto's CloudFormation has no model for topic policies",
    "AWS::SNS::Subscription": "moto's CloudFormation has no model for SNS subscriptions",
    "AWS::CloudWatch::Alarm": "moto's CloudFormation has no model for alarms",
    "AWS::SecretsManager::Secret": "moto's CloudFormation has no model for secrets",
    "AWS::ApplicationAutoScaling::ScalableTarget": "no Application Auto Scaling model in moto",
    "AWS::ApplicationAutoScaling::ScalingPolicy": "no Application Auto Scaling model in moto",
    "AWS::ECS::ClusterCapacityProviderAssociations": "no capacity-provider association model",
    "AWS::IAM::OIDCProvider": "moto's CloudFormation has no model for OIDC providers",
}

# Properties moto accepts but does not keep (describe_* does not return them); checked against
# the parsed template in test_deploy_templates.py.
MOTO_DROPPED_PROPERTIES: dict[tuple[str, str], str] = {
    ("AWS::RDS::DBInstance", "DeletionProtection"): "describe_db_instances reports False",
    ("AWS::RDS::DBInstance", "MaxAllocatedStorage"): "not stored",
    ("AWS::RDS::DBInstance", "ManageMasterUserPassword"): "no secret is created",
    ("AWS::ECS::Service", "CapacityProviderStrategy"): "reported as launchType EC2",
    ("AWS::ECS::Service", "DeploymentConfiguration"): "circuit breaker not stored",
    ("AWS::ECS::Service", "LoadBalancers"): "not stored",
    ("AWS::ECS::Service", "NetworkConfiguration"): "not stored",
    ("AWS::ECS::Service", "HealthCheckGracePeriodSeconds"): "not stored",
}

# Resources a stack update removes that moto drops from the stack but leaves in place (these
# models have no CloudFormation delete). update_stack deletes them through the EC2 API, in this
# order, as CloudFormation would; test_deploy_egress.py fails when moto starts deleting them.
MOTO_KEPT_ON_REMOVAL: dict[str, str] = {
    "AWS::EC2::Route": "the route stays in its route table",
    "AWS::EC2::NatGateway": "the NAT gateway stays available",
    "AWS::EC2::EIP": "the address stays allocated",
}

# Values moto cannot resolve, replaced before the template is sent to moto: (stack, JSON path
# into the template) -> (stand-in value, reason). The original values are checked by the tests.
MOTO_PATCHES: dict[tuple[str, str], tuple[Any, str]] = {
    ("data", "Outputs.DbSecretArn.Value"): (
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-contract-test-AbCdEf",
        "moto's RDS model has no MasterUserSecret.SecretArn attribute",
    ),
    ("app", "Outputs.GatewayTargetGroupFullName.Value"): (
        "targetgroup/insight-invest-contract-gw/0123456789abcdef",
        "moto's target group model has no TargetGroupFullName attribute",
    ),
    ("monitoring", "Resources.Dashboard.Properties.DashboardBody"): (
        '{"widgets": []}',
        "the body names the alarms' ARNs and moto creates no alarms",
    ),
}


def environment_parameters(name: str, template: Mapping[str, Any], env_name: str) -> dict[str, str]:
    """The parameters deploy.sh derives from the environment's name: EnvName, and for app the
    SSM parameters network.yaml writes the task subnets and public-IP setting to."""
    params = {"EnvName": env_name} if "EnvName" in template.get("Parameters", {}) else {}
    if name == "app":
        params |= {
            "TaskSubnetIds": f"/insight-invest/{env_name}/network/task-subnet-ids",
            "TaskAssignPublicIp": f"/insight-invest/{env_name}/network/task-assign-public-ip",
        }
    return params


def load_template(name: str) -> dict[str, Any]:
    """The template as CloudFormation reads it (short-form tags expanded to ``Fn::`` objects)."""
    from cfnlint.decode import decode

    template, problems = decode(str(TEMPLATES_DIR / f"{name}.yaml"))
    if problems or template is None:
        raise AssertionError(f"{name}.yaml does not parse: {problems}")
    # Plain dicts and lists: cfn-lint's node classes carry positions we do not need.
    return json.loads(json.dumps(template))  # type: ignore[no-any-return]


def resources(template: Mapping[str, Any], type_: str | None = None) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if type_ is None or resource["Type"] == type_
    }


def parameter_default(template: Mapping[str, Any], name: str) -> Any:
    return template["Parameters"][name]["Default"]


def condition_holds(template: Mapping[str, Any], condition: str, params: Mapping[str, str]) -> bool:
    """Evaluate the few condition functions the templates use (Equals, Not, And, Or, Ref)."""

    def value(node: Any) -> Any:
        if isinstance(node, dict) and "Ref" in node:
            ref = node["Ref"]
            return params.get(ref, template["Parameters"].get(ref, {}).get("Default"))
        if isinstance(node, dict) and "Condition" in node:
            return condition_holds(template, node["Condition"], params)
        if isinstance(node, dict) and len(node) == 1:
            ((fn, args),) = node.items()
            if fn == "Fn::Equals":
                return str(value(args[0])) == str(value(args[1]))
            if fn == "Fn::Not":
                return not value(args[0])
            if fn == "Fn::And":
                return all(value(a) for a in args)
            if fn == "Fn::Or":
                return any(value(a) for a in args)
        if isinstance(node, dict):
            raise AssertionError(f"unsupported condition function in the templates: {node}")
        return node

    return bool(value(template["Conditions"][condition]))


def expected_resources(
    name: str, template: Mapping[str, Any], overrides: Mapping[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """The resources CloudFormation creates for the test parameters plus ``overrides``
    (conditions applied)."""
    params = {**TEST_PARAMETERS.get(name, {}), **(overrides or {})}
    return {
        logical_id: resource
        for logical_id, resource in resources(template).items()
        if "Condition" not in resource or condition_holds(template, resource["Condition"], params)
    }


# moto's stack update re-creates a resource only when its JSON changed or it Refs a changed
# parameter; resources whose Condition or Fn::If condition changed keep their old state. So
# update_stack sends moto the template with the conditions evaluated for the new parameters (a
# resource whose condition fails is left out, each Fn::If replaced by its chosen branch), which
# is what CloudFormation does server-side.
def conditions_applied(template: Mapping[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
    def resolve(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Fn::If"}:
            condition, when_true, when_false = node["Fn::If"]
            return resolve(
                when_true if condition_holds(template, condition, params) else when_false
            )
        if isinstance(node, dict):
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    def kept(section: str) -> dict[str, Any]:
        return {
            key: resolve(value)
            for key, value in template.get(section, {}).items()
            if "Condition" not in value or condition_holds(template, value["Condition"], params)
        }

    return {**template, "Resources": kept("Resources"), "Outputs": kept("Outputs")}


def patched_for_moto(name: str, template: Mapping[str, Any]) -> dict[str, Any]:
    patched = copy.deepcopy(dict(template))
    for (stack, path), (stand_in, _reason) in MOTO_PATCHES.items():
        if stack != name:
            continue
        *parents, last = path.split(".")
        node = patched
        for key in parents:
            node = node[key]
        if last not in node:
            raise AssertionError(f"stale moto patch {stack}:{path}: the template has no such value")
        node[last] = stand_in
    return patched


# ---------------------------------------------------------------------------------------------
# Creating the stacks in moto
# ---------------------------------------------------------------------------------------------
@dataclass
class DeployedStack:
    name: str
    template: dict[str, Any]
    outputs: dict[str, str]
    # As moto reports them: an SSM-typed parameter by the value it resolved at the last create or
    # update (CloudFormation reports the name, and the value as ResolvedValue).
    parameters: dict[str, str]
    created: dict[str, dict[str, str]]  # logical id -> {"type", "physical_id"}


@dataclass
class Deployment:
    endpoint: str
    env_name: str
    stacks: dict[str, DeployedStack] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1")


def stack_name(env_name: str, name: str) -> str:
    """The stack names deploy/deploy.sh uses."""
    return f"insight-invest-{env_name}-{name}"


def deploy_all(
    endpoint: str,
    env_name: str,
    *,
    stacks: Sequence[str] = ALL_TEMPLATES,
    overrides: Mapping[str, Mapping[str, str]] | None = None,
) -> Deployment:
    """Create ``stacks`` (every stack unless told) in deployment order in the moto server at
    ``endpoint``, with the test parameters plus ``overrides`` (stack name -> parameters)."""
    deployment = Deployment(endpoint=endpoint, env_name=env_name)
    cloudformation = deployment.client("cloudformation")
    for name in [n for n in ALL_TEMPLATES if n in stacks]:
        template = load_template(name)
        params = {
            **TEST_PARAMETERS.get(name, {}),
            **(overrides or {}).get(name, {}),
            **environment_parameters(name, template, env_name),
        }
        full_name = stack_name(env_name, name)
        cloudformation.create_stack(
            StackName=full_name,
            TemplateBody=json.dumps(patched_for_moto(name, template)),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        deployment.stacks[name] = _read_back(deployment, name, template, "CREATE_COMPLETE")
    return deployment


def update_stack(
    deployment: Deployment,
    name: str,
    parameters: Mapping[str, str],
    *,
    delete_what_moto_keeps: bool = True,
) -> None:
    """Update one created stack with its current template and ``parameters`` on top of the
    test parameters (every parameter is sent, as ``aws cloudformation deploy`` resolves them).
    Resources the update removes are deleted (MOTO_KEPT_ON_REMOVAL) unless told not to."""
    previous = deployment.stacks[name]
    template = load_template(name)
    params = {
        **TEST_PARAMETERS.get(name, {}),
        **parameters,
        **environment_parameters(name, template, deployment.env_name),
    }
    sent = conditions_applied(patched_for_moto(name, template), params)
    deployment.client("cloudformation").update_stack(
        StackName=stack_name(deployment.env_name, name),
        TemplateBody=json.dumps(sent),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    deployment.stacks[name] = _read_back(deployment, name, template, "UPDATE_COMPLETE")
    removed = set(previous.created) - set(deployment.stacks[name].created)
    if delete_what_moto_keeps:
        for type_ in MOTO_KEPT_ON_REMOVAL:
            for logical_id in sorted(removed):
                if previous.created[logical_id]["type"] == type_:
                    _delete_kept(deployment, previous, logical_id)


def _delete_kept(deployment: Deployment, stack: DeployedStack, logical_id: str) -> None:
    ec2 = deployment.client("ec2")
    created = stack.created[logical_id]
    if created["type"] == "AWS::EC2::Route":
        properties = stack.template["Resources"][logical_id]["Properties"]
        ec2.delete_route(
            RouteTableId=stack.created[properties["RouteTableId"]["Ref"]]["physical_id"],
            DestinationCidrBlock=properties["DestinationCidrBlock"],
        )
    elif created["type"] == "AWS::EC2::NatGateway":
        ec2.delete_nat_gateway(NatGatewayId=created["physical_id"])
    elif created["type"] == "AWS::EC2::EIP":
        (address,) = ec2.describe_addresses(PublicIps=[created["physical_id"]])["Addresses"]
        ec2.release_address(AllocationId=address["AllocationId"])


def _read_back(
    deployment: Deployment, name: str, template: dict[str, Any], status: str
) -> DeployedStack:
    cloudformation = deployment.client("cloudformation")
    full_name = stack_name(deployment.env_name, name)
    stack = cloudformation.describe_stacks(StackName=full_name)["Stacks"][0]
    if stack["StackStatus"] != status:
        raise AssertionError(
            f"{full_name}: {stack['StackStatus']} {stack.get('StackStatusReason')}"
        )
    summaries = cloudformation.list_stack_resources(StackName=full_name)["StackResourceSummaries"]
    return DeployedStack(
        name=name,
        template=template,
        outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
        parameters={p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])},
        created={
            s["LogicalResourceId"]: {
                "type": s["ResourceType"],
                "physical_id": s.get("PhysicalResourceId", ""),
            }
            for s in summaries
            # moto lists what it skipped as empty summaries.
            if s.get("LogicalResourceId")
        },
    )


# ---------------------------------------------------------------------------------------------
# EventBridge: input transformers and scheduled events
# ---------------------------------------------------------------------------------------------
def sample_scheduled_event(rule_arn: str, time: datetime) -> dict[str, Any]:
    """A scheduled event as EventBridge delivers it to a rule's targets."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [rule_arn],
        "detail": {},
    }


def _json_path(event: Mapping[str, Any], path: str) -> Any:
    if path == "$":
        return event
    if not path.startswith("$."):
        raise AssertionError(f"unsupported InputPathsMap path {path!r}")
    node: Any = event
    for key in path[2:].split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def apply_input_transformer(transformer: Mapping[str, Any], event: Mapping[str, Any]) -> str:
    """What EventBridge sends to the target: each ``<name>`` in the template is replaced by the
    value its path selects. Inside a JSON string a string value goes in without quotes (escaped);
    elsewhere the value goes in as JSON (EventBridge's documented rules)."""
    values = {name: _json_path(event, path) for name, path in transformer["InputPathsMap"].items()}
    template: str = transformer["InputTemplate"]
    out: list[str] = []
    in_string = False
    index = 0
    while index < len(template):
        char = template[index]
        match = re.match(r"<([A-Za-z0-9_.-]+)>", template[index:])
        if match and match.group(1) in values:
            value = values[match.group(1)]
            if in_string:
                out.append(json.dumps(value if isinstance(value, str) else json.dumps(value))[1:-1])
            else:
                out.append(json.dumps(value))
            index += match.end()
            continue
        if char == '"' and (index == 0 or template[index - 1] != "\\"):
            in_string = not in_string
        out.append(char)
        index += 1
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# A small validator for EventBridge cron expressions (cfn-lint only checks the outer syntax)
# ---------------------------------------------------------------------------------------------
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
        start=1,
    )
}
# (name, low, high, names) for minutes, hours, day-of-month, month, day-of-week, year.
_FIELDS: tuple[tuple[str, int, int, Mapping[str, int]], ...] = (
    ("minutes", 0, 59, {}),
    ("hours", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 1, 7, _DAYS),
    ("year", 1970, 2199, {}),
)


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class Cron:
    """A parsed ``cron(...)`` expression: the allowed values of each field (None = any)."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None
    months: frozenset[int]
    days_of_week: frozenset[int] | None
    years: frozenset[int]

    def matches(self, when: datetime) -> bool:
        aws_weekday = (when.isoweekday() % 7) + 1  # SUN=1 … SAT=7
        return (
            when.minute in self.minutes
            and when.hour in self.hours
            and when.month in self.months
            and when.year in self.years
            and (self.days_of_month is None or when.day in self.days_of_month)
            and (self.days_of_week is None or aws_weekday in self.days_of_week)
        )

    def fire_times(self, start: datetime) -> Iterator[datetime]:
        """Successive fire times at or after ``start`` (minute resolution, UTC)."""
        when = start.replace(second=0, microsecond=0)
        for _ in range(60 * 24 * 366 * 2):
            if self.matches(when):
                yield when
            when += timedelta(minutes=1)


def _parse_value(token: str, low: int, high: int, names: Mapping[str, int], field: str) -> int:
    value = names.get(token.upper()) if not token.isdigit() else int(token)
    if value is None:
        raise CronError(f"{field}: {token!r} is neither a number nor a known name")
    if not low <= value <= high:
        raise CronError(f"{field}: {value} is outside {low}-{high}")
    return value


def _parse_field(text: str, index: int) -> frozenset[int] | None:
    field, low, high, names = _FIELDS[index]
    if text == "?":
        if field not in ("day-of-month", "day-of-week"):
            raise CronError(f"{field}: '?' is only allowed in day-of-month or day-of-week")
        return None
    if re.search(r"[LW#]", text):
        raise CronError(f"{field}: L, W and # are not supported by this validator")
    allowed: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) < 1:
                raise CronError(f"{field}: bad step {step_text!r}")
            step = int(step_text)
        if part == "*":
            first, last = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            first = _parse_value(a, low, high, names, field)
            last = _parse_value(b, low, high, names, field)
            if first > last:
                raise CronError(f"{field}: range {part!r} runs backwards")
        else:
            first = _parse_value(part, low, high, names, field)
            last = high if step > 1 else first
        allowed.update(range(first, last + 1, step))
    return frozenset(allowed)


def parse_cron(expression: str) -> Cron:
    """Parse and range-check an EventBridge ``cron(min hour dom month dow year)`` expression."""
    match = re.fullmatch(r"cron\((.*)\)", expression.strip())
    if not match:
        raise CronError(f"{expression!r} is not a cron(...) expression")
    fields = match.group(1).split()
    if len(fields) != 6:
        raise CronError(f"{expression!r} has {len(fields)} fields, EventBridge needs 6")
    parsed = [_parse_field(text, i) for i, text in enumerate(fields)]
    if (parsed[2] is None) == (parsed[4] is None):
        raise CronError("exactly one of day-of-month and day-of-week must be '?'")
    minutes, hours, dom, months, dow, years = parsed
    assert minutes is not None and hours is not None and months is not None and years is not None
    return Cron(minutes, hours, dom, months, dow, years)


def next_fire_time(expression: str, after: datetime | None = None) -> datetime:
    start = after or datetime(2026, 1, 1, tzinfo=UTC)
    return next(parse_cron(expression).fire_times(start))


def longest_gap(expression: str, start: datetime | None = None) -> timedelta:
    """The longest time between two successive fire times over two weeks (every weekday twice)."""
    first = start or datetime(2026, 1, 5, tzinfo=UTC)
    times = parse_cron(expression).fire_times(first)
    previous = next(times)
    gap = timedelta(0)
    for when in times:
        gap = max(gap, when - previous)
        if when - first > timedelta(days=15):
            return gap
        previous = when
    raise AssertionError(f"{expression} fires less than twice in two weeks")


# ---------------------------------------------------------------------------------------------
# The project's own contracts, read from the code
# ---------------------------------------------------------------------------------------------
def cli_subcommands() -> set[str]:
    """The ``insight-invest`` subcommands, from the real argparse parser."""
    import argparse

    from cli.main import build_parser

    parser = build_parser()
    for action in parser._actions:  # argparse offers no public accessor for subcommands
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("insight-invest has no subcommands")


def consume_with_ingestor(
    endpoint: str, queue_name: str, *, assets_per_market: int = 2, deadline_s: float = 60.0
) -> Any:
    """Run the real ingestor consumer on ``queue_name`` at ``endpoint`` until it has finished an
    ingestion run, then stop it. Returns that run.

    The composition root (``ingestor.bootstrap.bootstrap``) gets queue settings that point at
    the endpoint, so the queue adapter is the SQS one the service uses, and the worker it builds
    is the one ``ingestor.main.serve`` runs. Only the repositories are in memory (with a
    universe cut to a few assets per market, to keep the test fast) and the providers are the
    offline samples. ``deadline_s`` only bounds a hang.
    """
    import asyncio

    from adapters.memory.repositories import build_memory_repositories
    from adapters.settings import ProviderSettings, QueueSettings, WorkerRuntimeSettings
    from adapters.universe import seed_assets, seed_macro_series
    from domain.model import RunStatus
    from ingestor.bootstrap import IngestorSettings, bootstrap

    async def first_finished_run(repositories: Any) -> Any:
        while True:
            page = await repositories.runs.list(limit=10, cursor=None)
            finished = [
                r for r in page.items if r.parent_id is None and r.status is not RunStatus.RUNNING
            ]
            if finished:
                return finished[0]
            await asyncio.sleep(0.05)

    async def consume() -> Any:
        repositories = build_memory_repositories()
        per_market: dict[str, int] = {}
        assets = []
        for asset in seed_assets():
            if per_market.get(str(asset.market), 0) < assets_per_market:
                per_market[str(asset.market)] = per_market.get(str(asset.market), 0) + 1
                assets.append(asset)
        await repositories.assets.upsert_many(assets)
        await repositories.macro.upsert_series(seed_macro_series()[:assets_per_market])
        settings = IngestorSettings(
            queues=QueueSettings(
                sqs_endpoint_url=endpoint, aws_region="us-east-1", ingest_queue_name=queue_name
            ),
            providers=ProviderSettings(market_data_provider="sample"),
            # No long poll: one cut short by stopping stays open in the SQS endpoint and would
            # lease the next test's message for the queue's full visibility timeout. One
            # message at a time, so the loop does not poll while the handler runs.
            worker=WorkerRuntimeSettings(worker_wait_seconds=0, worker_concurrency=1),
        )
        async with bootstrap(settings, repositories=repositories) as container:
            stop = asyncio.Event()
            running = asyncio.create_task(container.worker.run(stop))
            try:
                return await asyncio.wait_for(first_finished_run(repositories), deadline_s)
            finally:
                stop.set()
                await running  # drains: the handled message is deleted before this returns

    return asyncio.run(consume())
