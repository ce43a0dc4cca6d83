"""How the ECS tasks reach the internet, in both modes of network.yaml's ``TaskEgress``.

``nat-gateway`` (the default) runs the tasks in the private subnets behind one NAT gateway;
``public-ip`` creates no NAT gateway and runs them in the public subnets with a public IPv4.
Both environments are created in one moto server (the stacks the application needs: network,
data, messaging, app) and read back through the EC2 / RDS / CloudFormation APIs. moto drops the
ECS services' network configuration (deploy_support.MOTO_DROPPED_PROPERTIES), so the services'
``AwsvpcConfiguration`` is taken from app.yaml and resolved against the exports the created
network stack really holds.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.contract.deploy_support import (
    DEPLOY_DIR,
    TEMPLATES_DIR,
    Deployment,
    deploy_all,
    expected_resources,
    load_template,
    resources,
)
from tests.support.sqs import local_sqs_endpoint

pytestmark = [
    pytest.mark.sqs,
    # moto warns for each resource type it skips; test_deploy_stack.py's allow-list covers them.
    pytest.mark.filterwarnings("ignore:Tried to parse .* not supported:UserWarning"),
]

MODES = ("nat-gateway", "public-ip")
APPLICATION_STACKS = ("network", "data", "messaging", "app")
SERVICES = ("GatewayService", "IngestorService", "BacktesterService")


@pytest.fixture(scope="module")
def deployments() -> Iterator[dict[str, Deployment]]:
    with local_sqs_endpoint() as endpoint:
        yield {
            mode: deploy_all(
                endpoint,
                env_name=f"eg{uuid.uuid4().hex[:6]}",
                stacks=APPLICATION_STACKS,
                overrides={"network": {"TaskEgress": mode}},
            )
            for mode in MODES
        }


@dataclass(frozen=True)
class TaskNetwork:
    subnets: list[str]
    assign_public_ip: str
    security_groups: list[str]


def _resolve(node: Any, env_name: str, exports: dict[str, str]) -> Any:
    """The few intrinsic functions app.yaml's network configuration uses, resolved against
    the exports of the created stacks."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and set(node) == {"Fn::ImportValue"}:
        name = node["Fn::ImportValue"]["Fn::Sub"].replace("${EnvName}", env_name)
        return exports[name]
    if isinstance(node, dict) and set(node) == {"Fn::Split"}:
        separator, value = node["Fn::Split"]
        return _resolve(value, env_name, exports).split(separator)
    raise AssertionError(f"unexpected intrinsic in the services' network configuration: {node}")


def _task_network(deployment: Deployment, service: str) -> TaskNetwork:
    exports = {
        export["Name"]: export["Value"]
        for export in deployment.client("cloudformation").list_exports()["Exports"]
    }
    app = deployment.stacks["app"].template
    network = app["Resources"][service]["Properties"]["NetworkConfiguration"]
    config = network["AwsvpcConfiguration"]
    return TaskNetwork(
        subnets=_resolve(config["Subnets"], deployment.env_name, exports),
        assign_public_ip=_resolve(config["AssignPublicIp"], deployment.env_name, exports),
        security_groups=[
            _resolve(group, deployment.env_name, exports) for group in config["SecurityGroups"]
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
