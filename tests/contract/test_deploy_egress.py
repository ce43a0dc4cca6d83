"""How the ECS tasks reach the internet, in both modes of network.yaml's ``TaskEgress``.

``nat-gateway`` (the default) runs the tasks in the private subnets behind one NAT gateway;
``public-ip`` creates no NAT gateway and runs them in the public subnets with a public IPv4.
Both environments are created in one moto server (the stacks the application needs: network,
data, messaging, app) and read back through the EC2 / RDS / CloudFormation APIs. moto drops the
ECS services' network configuration (deploy_support.MOTO_DROPPED_PROPERTIES), so the services'
``AwsvpcConfiguration`` is taken from app.yaml and resolved against the app stack's parameters
as the created stack holds them: the task subnets and public-IP setting are SSM-typed
parameters naming what the network stack wrote, and moto reports the values it resolved at the
app stack's last create or update (CloudFormation reports those as ResolvedValue).

The mode is switched on a live environment by updating the network stack and then the app
stack (deploy/deploy.sh); the switching tests run that sequence in moto.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.contract.deploy_support import (
    DEPLOY_DIR,
    MOTO_KEPT_ON_REMOVAL,
    TEMPLATES_DIR,
    Deployment,
    deploy_all,
    expected_resources,
    load_template,
    resources,
    update_stack,
)
from tests.support.sqs import local_sqs_endpoint

pytestmark = [
    pytest.mark.sqs,
    # moto warns for each resource type it skips; test_deploy_stack.py's allow-list covers them.
    pytest.mark.filterwarnings("ignore:Tried to parse .* not supported:UserWarning"),
    # update_stack leaves out resources whose condition fails (deploy_support.conditions_applied);
    # moto warns for those it never created.
    pytest.mark.filterwarnings("ignore:Unable to delete .* as it was never created:UserWarning"),
]

MODES = ("nat-gateway", "public-ip")
APPLICATION_STACKS = ("network", "data", "messaging", "app")
SERVICES = ("GatewayService", "IngestorService", "BacktesterService")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with local_sqs_endpoint() as url:
        yield url


def _deploy(endpoint: str, mode: str) -> Deployment:
    return deploy_all(
        endpoint,
        env_name=f"eg{uuid.uuid4().hex[:6]}",
        stacks=APPLICATION_STACKS,
        overrides={"network": {"TaskEgress": mode}},
    )


@pytest.fixture(scope="module")
def deployments(endpoint: str) -> dict[str, Deployment]:
    return {mode: _deploy(endpoint, mode) for mode in MODES}


@dataclass(frozen=True)
class TaskNetwork:
    subnets: list[str]
    assign_public_ip: str
    security_groups: list[str]


def _resolve(node: Any, deployment: Deployment, exports: dict[str, str]) -> Any:
    """The few intrinsic functions app.yaml's network configuration uses, resolved against the
    app stack's parameters and the exports of the created stacks."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and set(node) == {"Ref"}:
        return deployment.stacks["app"].parameters[node["Ref"]]
    if isinstance(node, dict) and set(node) == {"Fn::ImportValue"}:
        name = node["Fn::ImportValue"]["Fn::Sub"].replace("${EnvName}", deployment.env_name)
        return exports[name]
    if isinstance(node, dict) and set(node) == {"Fn::Split"}:
        separator, value = node["Fn::Split"]
        return _resolve(value, deployment, exports).split(separator)
    raise AssertionError(f"unexpected intrinsic in the services' network configuration: {node}")


def _task_network(deployment: Deployment, service: str) -> TaskNetwork:
    """Where the service's tasks run as of the app stack's last create or update."""
    pages = deployment.client("cloudformation").get_paginator("list_exports").paginate()
    exports = {export["Name"]: export["Value"] for page in pages for export in page["Exports"]}
    app = deployment.stacks["app"].template
    network = app["Resources"][service]["Properties"]["NetworkConfiguration"]
    config = network["AwsvpcConfiguration"]
    return TaskNetwork(
        subnets=_resolve(config["Subnets"], deployment, exports),
        assign_public_ip=_resolve(config["AssignPublicIp"], deployment, exports),
        security_groups=[
            _resolve(group, deployment, exports) for group in config["SecurityGroups"]
        ],
    )


def _subnet_ids(deployment: Deployment, output: str) -> list[str]:
    return deployment.stacks["network"].outputs[output].split(",")


def _route_table_of(deployment: Deployment, subnet_id: str) -> str:
    """The route table the network stack associates with the subnet. Taken from the template's
    association resources and the created physical ids: moto creates CloudFormation's subnet
    associations without showing them in describe_route_tables (see the test at the end)."""
    network = deployment.stacks["network"]
    physical = {lid: created["physical_id"] for lid, created in network.created.items()}
    associations = resources(network.template, "AWS::EC2::SubnetRouteTableAssociation")
    for lid, association in associations.items():
        properties = association["Properties"]
        if lid in network.created and physical[properties["SubnetId"]["Ref"]] == subnet_id:
            return physical[properties["RouteTableId"]["Ref"]]
    raise AssertionError(f"{subnet_id} has no route table association")


def _default_route(deployment: Deployment, subnet_id: str) -> dict[str, Any] | None:
    """The 0.0.0.0/0 route of the subnet's route table, as the created route table holds it."""
    (table,) = deployment.client("ec2").describe_route_tables(
        RouteTableIds=[_route_table_of(deployment, subnet_id)]
    )["RouteTables"]
    routes = [r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
    return routes[0] if routes else None


def _attached_internet_gateway(deployment: Deployment, gateway_id: str) -> bool:
    vpc = deployment.stacks["network"].outputs["VpcId"]
    (gateway,) = deployment.client("ec2").describe_internet_gateways(
        InternetGatewayIds=[gateway_id]
    )["InternetGateways"]
    return any(a["VpcId"] == vpc for a in gateway.get("Attachments", []))


def _way_out(deployment: Deployment, subnet_id: str, public_ip: bool) -> str | None:
    """How a task in ``subnet_id`` reaches the internet: "internet-gateway", "nat-gateway", or
    None. An internet gateway only carries a task that has a public IP; a NAT gateway only
    helps if it sits in a subnet whose route leads to the internet gateway."""
    route = _default_route(deployment, subnet_id)
    if route is None:
        return None
    target = route.get("GatewayId", "")
    if target.startswith("igw-"):
        reachable = public_ip and _attached_internet_gateway(deployment, target)
        return "internet-gateway" if reachable else None
    if route.get("NatGatewayId"):
        (nat,) = deployment.client("ec2").describe_nat_gateways(
            NatGatewayIds=[route["NatGatewayId"]]
        )["NatGateways"]
        upstream = _way_out(deployment, nat["SubnetId"], public_ip=bool(nat["NatGatewayAddresses"]))
        return "nat-gateway" if upstream == "internet-gateway" else None
    return None


def _nat_gateways(deployment: Deployment) -> list[dict[str, Any]]:
    vpc = deployment.stacks["network"].outputs["VpcId"]
    gateways = deployment.client("ec2").describe_nat_gateways(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}]
    )["NatGateways"]
    return [g for g in gateways if g["State"] != "deleted"]


def _database_subnets(deployment: Deployment) -> set[str]:
    rds = deployment.client("rds")
    (instance,) = rds.describe_db_instances(
        DBInstanceIdentifier=f"insight-invest-{deployment.env_name}"
    )["DBInstances"]
    return {s["SubnetIdentifier"] for s in instance["DBSubnetGroup"]["Subnets"]}


# ------------------------------------------------------------------------------ templates
def test_network_template_lints_clean_in_each_mode() -> None:
    # test_deploy_templates.py lints every template with its defaults; this lints the network
    # with each mode's parameter set (one run: loading cfn-lint's rules dominates).
    from cfnlint.api import ManualArgs, lint_file
    from cfnlint.config import ParameterSet

    matches = lint_file(
        TEMPLATES_DIR / "network.yaml",
        ManualArgs(
            parameters=[
                ParameterSet(source=mode, parameters={"TaskEgress": mode}) for mode in MODES
            ]
        ),
    )
    errors = [str(m) for m in matches if m.rule.id.startswith("E")]
    assert not errors, "\n".join(errors)


def test_linting_with_parameters_rejects_an_unknown_mode() -> None:
    # Proves the per-mode lint above really applies the parameter set it is given.
    from cfnlint.api import ManualArgs, lint_file
    from cfnlint.config import ParameterSet

    matches = lint_file(
        TEMPLATES_DIR / "network.yaml",
        ManualArgs(parameters=[ParameterSet(parameters={"TaskEgress": "nat-instance"})]),
    )
    assert any("nat-instance" in str(m) for m in matches)


def test_nat_gateway_is_the_default_mode() -> None:
    network = load_template("network")
    assert network["Parameters"]["TaskEgress"]["Default"] == "nat-gateway"
    assert set(network["Parameters"]["TaskEgress"]["AllowedValues"]) == set(MODES)


# ------------------------------------------------------------------------------ created stacks
def test_each_mode_creates_what_its_conditions_select(
    deployments: dict[str, Deployment],
) -> None:
    for mode, deployment in deployments.items():
        stack = deployment.stacks["network"]
        expected = expected_resources("network", stack.template, {"TaskEgress": mode})
        assert set(stack.created) == set(expected), mode


def test_public_ip_mode_has_no_nat_gateway_and_no_nat_address(
    deployments: dict[str, Deployment],
) -> None:
    public = deployments["public-ip"]
    assert _nat_gateways(public) == []
    created_types = {r["type"] for r in public.stacks["network"].created.values()}
    assert not created_types & {"AWS::EC2::NatGateway", "AWS::EC2::EIP"}


def test_nat_gateway_mode_keeps_one_nat_gateway_in_a_public_subnet(
    deployments: dict[str, Deployment],
) -> None:
    nat = deployments["nat-gateway"]
    (gateway,) = _nat_gateways(nat)
    assert gateway["SubnetId"] in _subnet_ids(nat, "PublicSubnetIds")
    assert gateway["NatGatewayAddresses"][0].get("PublicIp")


@pytest.mark.parametrize(
    ("mode", "subnets", "assign_public_ip"),
    [("nat-gateway", "PrivateSubnetIds", "DISABLED"), ("public-ip", "PublicSubnetIds", "ENABLED")],
)
@pytest.mark.parametrize("service", SERVICES)
def test_every_service_runs_in_the_subnets_of_its_mode(
    deployments: dict[str, Deployment],
    mode: str,
    subnets: str,
    assign_public_ip: str,
    service: str,
) -> None:
    deployment = deployments[mode]
    task = _task_network(deployment, service)
    assert sorted(task.subnets) == sorted(_subnet_ids(deployment, subnets))
    assert task.assign_public_ip == assign_public_ip


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_a_way_to_the_internet(
    deployments: dict[str, Deployment], mode: str, service: str
) -> None:
    # Tasks pull their image from ECR, poll SQS and call yfinance / FRED: all outbound.
    deployment = deployments[mode]
    task = _task_network(deployment, service)
    for subnet in task.subnets:
        way_out = _way_out(deployment, subnet, public_ip=task.assign_public_ip == "ENABLED")
        assert way_out == ("internet-gateway" if mode == "public-ip" else "nat-gateway"), subnet


def test_a_task_without_a_public_ip_in_a_public_subnet_would_have_no_way_out(
    deployments: dict[str, Deployment],
) -> None:
    # The check above fails when a mode forgets the public IP, not only when a route is missing.
    public = deployments["public-ip"]
    subnet = _subnet_ids(public, "PublicSubnetIds")[0]
    assert _way_out(public, subnet, public_ip=False) is None
    assert _way_out(public, subnet, public_ip=True) == "internet-gateway"


@pytest.mark.parametrize("mode", MODES)
def test_tasks_still_admit_nothing_but_the_load_balancer(
    deployments: dict[str, Deployment], mode: str
) -> None:
    deployment = deployments[mode]
    outputs = deployment.stacks["network"].outputs
    ec2 = deployment.client("ec2")
    admitted: dict[str, list[tuple[int, int, list[str], list[str]]]] = {}
    for service in SERVICES:
        for group_id in _task_network(deployment, service).security_groups:
            (group,) = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
            admitted[group_id] = [
                (
                    rule["FromPort"],
                    rule["ToPort"],
                    [r["CidrIp"] for r in rule.get("IpRanges", [])],
                    [p["GroupId"] for p in rule.get("UserIdGroupPairs", [])],
                )
                for rule in group["IpPermissions"]
            ]
    assert admitted == {
        outputs["GatewaySecurityGroupId"]: [
            (8000, 8000, [], [outputs["LoadBalancerSecurityGroupId"]])
        ],
        outputs["WorkerSecurityGroupId"]: [],
    }


@pytest.mark.parametrize("mode", MODES)
def test_database_stays_in_the_private_subnets_with_no_way_in_from_the_internet(
    deployments: dict[str, Deployment], mode: str
) -> None:
    deployment = deployments[mode]
    private = _subnet_ids(deployment, "PrivateSubnetIds")
    assert _database_subnets(deployment) == set(private)
    for subnet in private:
        route = _default_route(deployment, subnet)
        # Private: no internet gateway route; in public-ip mode no default route at all.
        assert route is None or not route.get("GatewayId", "").startswith("igw-"), subnet
        if mode == "public-ip":
            assert route is None, subnet


@pytest.mark.parametrize("mode", MODES)
def test_one_off_tasks_follow_the_mode(deployments: dict[str, Deployment], mode: str) -> None:
    deployment = deployments[mode]
    outputs = deployment.stacks["network"].outputs
    gateway = _task_network(deployment, "GatewayService")
    match = re.fullmatch(
        r"awsvpcConfiguration=\{subnets=\[(?P<subnets>[^\]]*)\],"
        r"securityGroups=\[(?P<groups>[^\]]*)\],assignPublicIp=(?P<public>ENABLED|DISABLED)\}",
        outputs["OneOffTaskNetworkConfiguration"],
    )
    assert match, outputs["OneOffTaskNetworkConfiguration"]
    assert match["subnets"].split(",") == gateway.subnets
    assert match["groups"].split(",") == gateway.security_groups
    assert match["public"] == gateway.assign_public_ip
    assert outputs["TaskEgress"] == mode


# ------------------------------------------------------------------------------ switching
def _ways_out(deployment: Deployment) -> dict[str, str | None]:
    """Each service's way out, the same for every subnet it runs in (else a list of them)."""
    ways: dict[str, str | None] = {}
    for service in SERVICES:
        task = _task_network(deployment, service)
        (way,) = {
            _way_out(deployment, subnet, public_ip=task.assign_public_ip == "ENABLED")
            for subnet in task.subnets
        }
        ways[service] = way
    return ways


def _one_off(deployment: Deployment) -> tuple[list[str], str]:
    match = re.search(
        r"subnets=\[(?P<subnets>[^\]]*)\].*assignPublicIp=(?P<public>\w+)",
        deployment.stacks["network"].outputs["OneOffTaskNetworkConfiguration"],
    )
    assert match
    return match["subnets"].split(","), match["public"]


def test_switching_to_public_ips_keeps_a_way_out_at_every_step(endpoint: str) -> None:
    # deploy.sh's sequence: network (NAT kept), app (tasks move), network again (NAT removed).
    deployment = _deploy(endpoint, "nat-gateway")
    public = sorted(_subnet_ids(deployment, "PublicSubnetIds"))

    update_stack(deployment, "network", {"TaskEgress": "public-ip", "RetainNatGateway": "true"})
    assert set(_ways_out(deployment).values()) == {"nat-gateway"}, "running tasks keep the NAT"
    assert (sorted(_one_off(deployment)[0]), _one_off(deployment)[1]) == (public, "ENABLED")

    update_stack(deployment, "app", {})
    assert set(_ways_out(deployment).values()) == {"internet-gateway"}
    for service in SERVICES:
        task = _task_network(deployment, service)
        assert (sorted(task.subnets), task.assign_public_ip) == (public, "ENABLED"), service

    update_stack(deployment, "network", {"TaskEgress": "public-ip", "RetainNatGateway": "false"})
    network = deployment.stacks["network"]
    assert not {"NatGateway", "NatAddress", "PrivateDefaultRoute"} & set(network.created)
    assert "NatGatewayId" not in network.outputs
    assert set(_ways_out(deployment).values()) == {"internet-gateway"}
    for subnet in _subnet_ids(deployment, "PrivateSubnetIds"):
        assert _default_route(deployment, subnet) is None, subnet


def test_dropping_the_nat_before_the_app_moves_would_cut_the_running_tasks_off(
    endpoint: str,
) -> None:
    # Why deploy.sh keeps the NAT for the app update: a one-step network update strands them.
    deployment = _deploy(endpoint, "nat-gateway")
    update_stack(deployment, "network", {"TaskEgress": "public-ip"})
    assert set(_ways_out(deployment).values()) == {None}


def test_switching_to_the_nat_gateway_keeps_a_way_out_at_every_step(endpoint: str) -> None:
    deployment = _deploy(endpoint, "public-ip")
    private = sorted(_subnet_ids(deployment, "PrivateSubnetIds"))

    update_stack(deployment, "network", {"TaskEgress": "nat-gateway"})
    assert "NatGatewayId" in deployment.stacks["network"].outputs
    assert set(_ways_out(deployment).values()) == {"internet-gateway"}, "not moved yet"
    assert (sorted(_one_off(deployment)[0]), _one_off(deployment)[1]) == (private, "DISABLED")

    update_stack(deployment, "app", {})
    assert set(_ways_out(deployment).values()) == {"nat-gateway"}
    for service in SERVICES:
        task = _task_network(deployment, service)
        assert (sorted(task.subnets), task.assign_public_ip) == (private, "DISABLED"), service


def _depends_on(template: dict[str, Any], node: Any, parameter: str) -> bool:
    """Whether a value in ``template`` changes with ``parameter``: it Refs it, chooses by a
    condition on it, or refers to a resource that does either."""

    def condition_depends(name: str) -> bool:
        return _depends_on(template, template["Conditions"][name], parameter)

    if isinstance(node, list):
        return any(_depends_on(template, item, parameter) for item in node)
    if not isinstance(node, dict):
        return False
    if node.get("Ref") == parameter:
        return True
    if isinstance(node.get("Condition"), str) and condition_depends(node["Condition"]):
        return True
    if "Fn::If" in node and condition_depends(node["Fn::If"][0]):
        return True
    referenced = node.get("Ref") or (node.get("Fn::GetAtt") or [None])[0]
    resource = template.get("Resources", {}).get(referenced)
    if resource is not None and _depends_on(template, resource, parameter):
        return True
    return any(_depends_on(template, value, parameter) for value in node.values())


def _imported_exports(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_imported_exports(item) for item in node))
    if not isinstance(node, dict):
        return set()
    if "Fn::ImportValue" in node:
        return {node["Fn::ImportValue"]["Fn::Sub"]}
    return set().union(*(_imported_exports(value) for value in node.values()))


def test_app_imports_no_export_that_changes_with_the_mode() -> None:
    # CloudFormation refuses to change an imported export: such an import would pin the mode.
    network = load_template("network")
    exported = {
        output["Export"]["Name"]["Fn::Sub"]: output["Value"]
        for output in network["Outputs"].values()
        if "Export" in output
    }
    imported = _imported_exports(load_template("app")) & set(exported)
    assert imported, "app imports network exports (VPC, security groups)"
    assert [e for e in imported if _depends_on(network, exported[e], "TaskEgress")] == []
    # The check sees a dependency where there is one.
    assert _depends_on(network, {"Ref": "TaskSubnetIdsParameter"}, "TaskEgress")
    assert _depends_on(network, network["Outputs"]["OneOffTaskNetworkConfiguration"], "TaskEgress")


def test_app_reads_the_ssm_parameters_the_network_writes() -> None:
    network = load_template("network")
    app = load_template("app")
    written = {
        resource["Properties"]["Name"]["Fn::Sub"]
        for resource in resources(network, "AWS::SSM::Parameter").values()
    }
    ssm_typed = {
        name
        for name, parameter in app["Parameters"].items()
        if parameter["Type"].startswith("AWS::SSM::Parameter::Value<")
    }
    assert ssm_typed == {"TaskSubnetIds", "TaskAssignPublicIp"}
    script = (DEPLOY_DIR / "deploy.sh").read_text()
    passed = dict(re.findall(r'echo "(Task\w+)=(/insight-invest/\$ENV_NAME/[\w/-]+)"', script))
    assert set(passed) == ssm_typed, "deploy.sh names the parameters for each environment"
    assert {name.replace("$ENV_NAME", "${EnvName}") for name in passed.values()} == written


def test_moto_still_keeps_what_a_network_update_removes(endpoint: str) -> None:
    # Why update_stack deletes these itself. When this fails, moto deletes them: empty
    # deploy_support.MOTO_KEPT_ON_REMOVAL.
    deployment = _deploy(endpoint, "nat-gateway")
    nat = deployment.stacks["network"].created["NatGateway"]["physical_id"]
    private = _subnet_ids(deployment, "PrivateSubnetIds")[0]
    update_stack(deployment, "network", {"TaskEgress": "public-ip"}, delete_what_moto_keeps=False)
    removed = {"NatGateway", "NatAddress", "PrivateDefaultRoute"}
    assert not removed & set(deployment.stacks["network"].created)
    assert set(MOTO_KEPT_ON_REMOVAL) == {
        "AWS::EC2::NatGateway",
        "AWS::EC2::EIP",
        "AWS::EC2::Route",
    }
    (gateway,) = deployment.client("ec2").describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"]
    assert gateway["State"] == "available"
    assert _default_route(deployment, private) is not None


def test_moto_still_hides_the_subnet_associations_cloudformation_creates(
    deployments: dict[str, Deployment],
) -> None:
    # Why _route_table_of reads the associations from the template. When this fails, moto
    # shows them: read the subnet's route table from describe_route_tables instead.
    deployment = deployments["public-ip"]
    subnet = _subnet_ids(deployment, "PublicSubnetIds")[0]
    shown = deployment.client("ec2").describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet]}]
    )["RouteTables"]
    assert shown == []


# ------------------------------------------------------------------------------ deploy guide
def _guide_section(title: str) -> str:
    guide = (DEPLOY_DIR / "README.md").read_text()
    return guide.split(f"\n## {title}", 1)[1].split("\n## ", 1)[0]


def _allowed(template: dict[str, Any], name: str, value: str | None) -> bool:
    parameter = template["Parameters"].get(name)
    if parameter is None:
        return False
    return value is None or value in [str(v) for v in parameter.get("AllowedValues", [value])]


def test_the_guides_egress_setting_is_a_network_parameter_value() -> None:
    section = _guide_section("Task egress: NAT gateway or public IPs")
    (block,) = re.findall(r"```text\n(.*?)```", section, flags=re.DOTALL)
    network = load_template("network")
    for line in block.splitlines():
        name, value = line.split("=", 1)
        assert _allowed(network, name, value), line


def test_the_cost_levers_the_guide_names_are_parameters_of_the_stacks_it_names() -> None:
    section = _guide_section("Cost")
    levers = re.findall(r"`(\w+)(?:=([\w-]+))?` \(([a-z, ]+)\)", section)
    assert {name for name, _, _ in levers} >= {"ContainerInsights", "LogRetentionDays"}
    for name, value, stacks in levers:
        for stack in stacks.split(", "):
            assert _allowed(load_template(stack), name, value or None), (name, value, stack)


def test_the_cost_table_adds_up_in_each_profile() -> None:
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in _guide_section("Cost").splitlines()
        if line.startswith("| ") and not line.startswith("| item")
    ]
    *items, total = rows
    assert total[0] == "**total**"
    for column in (1, 2):
        listed = float(total[column].strip("*"))
        assert round(sum(float(row[column]) for row in items), 2) == listed, column


# ------------------------------------------------------------------------------ deploy.sh
# A stand-in for the aws CLI: logs each call, answers describe-stacks from a JSON file of
# "<stack>.<output>" -> value (a missing stack or output prints nothing, as the real query does).
FAKE_AWS = """#!{python}
import json, os, re, sys
args = sys.argv[1:]
with open(os.environ["FAKE_AWS_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:2] == ["cloudformation", "describe-stacks"]:
    stack = args[args.index("--stack-name") + 1]
    key = re.search(r"OutputKey=='(\\w+)'", args[args.index("--query") + 1]).group(1)
    outputs = json.load(open(os.environ["FAKE_AWS_OUTPUTS"]))
    print(outputs.get(stack + "." + key, ""))
"""


def _run_deploy_script(
    tmp_path: Path, outputs: dict[str, str], network_params: str | None
) -> list[tuple[str, dict[str, str]]]:
    """Run deploy.sh against the stand-in; the stacks it deployed, in order, with the
    parameters each got."""
    env_name = "switch"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    aws = bin_dir / "aws"
    aws.write_text(FAKE_AWS.format(python=sys.executable))
    aws.chmod(0o755)
    (tmp_path / "outputs.json").write_text(
        json.dumps({f"insight-invest-{env_name}-{k}": v for k, v in outputs.items()})
    )
    if network_params is not None:
        (tmp_path / "params" / env_name).mkdir(parents=True)
        (tmp_path / "params" / env_name / "network.params").write_text(network_params)
    log = tmp_path / "aws.log"
    result = subprocess.run(
        ["bash", str(DEPLOY_DIR / "deploy.sh"), env_name, "contract-test"],
        env={
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "AWS_REGION": "us-east-1",
            "SKIP_SMOKE": "1",
            "PARAMS_DIR": str(tmp_path / "params"),
            "FAKE_AWS_LOG": str(log),
            "FAKE_AWS_OUTPUTS": str(tmp_path / "outputs.json"),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    deployed = []
    for line in log.read_text().splitlines():
        args = json.loads(line)
        if args[:2] == ["cloudformation", "deploy"]:
            stack = args[args.index("--stack-name") + 1].removeprefix(f"insight-invest-{env_name}-")
            start = args.index("--parameter-overrides") + 1
            end = next(i for i in range(start, len(args)) if args[i].startswith("--"))
            deployed.append((stack, dict(a.split("=", 1) for a in args[start:end])))
    return deployed


def _network_retains(deployed: list[tuple[str, dict[str, str]]]) -> list[tuple[int, str]]:
    return [
        (i, p["RetainNatGateway"]) for i, (stack, p) in enumerate(deployed) if stack == "network"
    ]


def test_deploy_script_keeps_the_nat_until_the_app_moved_when_switching_to_public_ips(
    tmp_path: Path,
) -> None:
    deployed = _run_deploy_script(
        tmp_path,
        {"network.TaskEgress": "nat-gateway", "network.NatGatewayId": "nat-0123"},
        "TaskEgress=public-ip\n",
    )
    order = [stack for stack, _ in deployed]
    assert order == ["network", "data", "messaging", "app", "monitoring", "network"]
    assert _network_retains(deployed) == [(0, "true"), (5, "false")]
    app = dict(deployed)["app"]
    assert app["TaskSubnetIds"] == "/insight-invest/switch/network/task-subnet-ids"
    assert app["TaskAssignPublicIp"] == "/insight-invest/switch/network/task-assign-public-ip"


def test_deploy_script_retains_the_nat_again_after_a_run_stopped_between_the_updates(
    tmp_path: Path,
) -> None:
    # The first network update went through (TaskEgress is public-ip, the NAT still there) and
    # the run stopped: the tasks may still be behind the NAT, so the next run keeps it again.
    deployed = _run_deploy_script(
        tmp_path, {"network.TaskEgress": "public-ip", "network.NatGatewayId": "nat-0123"}, None
    )
    assert _network_retains(deployed) == [(0, "true"), (5, "false")]


@pytest.mark.parametrize(
    ("outputs", "network_params"),
    [
        # Already public-ip: nothing to keep.
        ({"network.TaskEgress": "public-ip"}, None),
        # Staying behind the NAT, or switching to it (the network update adds it first).
        ({"network.TaskEgress": "nat-gateway", "network.NatGatewayId": "nat-0123"}, None),
        ({"network.TaskEgress": "public-ip"}, "TaskEgress=nat-gateway\n"),
        # A new environment.
        ({}, None),
    ],
)
def test_deploy_script_updates_the_network_once_otherwise(
    tmp_path: Path, outputs: dict[str, str], network_params: str | None
) -> None:
    deployed = _run_deploy_script(tmp_path, outputs, network_params)
    assert [stack for stack, _ in deployed] == ["network", "data", "messaging", "app", "monitoring"]
    assert _network_retains(deployed) == [(0, "false")]
