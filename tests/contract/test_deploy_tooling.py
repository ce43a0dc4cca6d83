"""The image, the compose file and the pipelines, checked offline (no Docker engine here: the
image build itself runs in GitHub Actions, see deploy/README.md)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.contract.deploy_support import DEPLOY_DIR, REPO_ROOT

BIN = Path(sys.executable).parent
WORKFLOWS = REPO_ROOT / ".github" / "workflows"


def _tool(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {BIN}: run `make venv`")
    return path


def test_dockerfile_passes_hadolint_without_errors() -> None:
    result = subprocess.run(
        [str(_tool("hadolint")), "--failure-threshold", "error", str(DEPLOY_DIR / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_pins_its_base_runs_as_non_root_and_checks_health() -> None:
    text = (DEPLOY_DIR / "Dockerfile").read_text()
    assert "python:3.11-slim-bookworm@sha256:" in text
    assert text.count("FROM ${PYTHON_IMAGE}") == 2, "multi-stage: build, then a clean runtime"
    runtime = text.split("AS runtime", 1)[1]
    assert "USER 10001" in runtime and "HEALTHCHECK" in runtime
    assert "uv sync --frozen --no-dev" in text, "installs exactly what uv.lock pins"
    assert (DEPLOY_DIR / "healthcheck.py").exists()


# Values a developer exports before `docker compose up` (deploy/README.md, Local).
COMPOSE_SECRETS = {"POSTGRES_PASSWORD": "p@ss/word:local", "API_KEYS": "key-one,key-two"}


def _compose(
    *args: str, secrets: dict[str, str] | None = None, tmp_env_file: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_SECRETS}
    env.update(COMPOSE_SECRETS if secrets is None else secrets)
    # An empty env file: a developer's own deploy/.env must not decide the outcome.
    env_file = ["--env-file", str(tmp_env_file)] if tmp_env_file else []
    return subprocess.run(
        [str(_tool("docker-compose")), *env_file, "-f", str(DEPLOY_DIR / "compose.yaml"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _compose_config() -> dict[str, Any]:
    result = _compose("config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)  # type: ignore[no-any-return]


def test_compose_file_is_valid() -> None:
    result = _compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", sorted(COMPOSE_SECRETS))
def test_compose_refuses_to_start_without_each_secret(missing: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    secrets = {k: v for k, v in COMPOSE_SECRETS.items() if k != missing}
    result = _compose("config", "--quiet", secrets=secrets, tmp_env_file=empty)
    assert result.returncode != 0
    assert f"set {missing}" in result.stderr  # the message says what to do


def test_compose_services_use_the_password_postgres_is_created_and_the_given_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from adapters.settings import DatabaseSettings, GatewaySettings

    services = _compose_config()["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "p@ss/word:local"
    user = services["postgres"]["environment"]["POSTGRES_USER"]
    for name in ("migrate", "seed", "gateway", "ingestor", "backtester"):
        for key in [k for k in os.environ if k.startswith(("DB_", "DATABASE_", "API_KEYS"))]:
            monkeypatch.delenv(key)
        for key, value in services[name]["environment"].items():
            monkeypatch.setenv(key, str(value))
        url = DatabaseSettings().url()
        assert url.startswith(f"postgresql+asyncpg://{user}:p%40ss%2Fword%3Alocal@postgres:"), name
        if name == "gateway":
            keys = [k.get_secret_value() for k in GatewaySettings().api_keys]
            assert keys == ["key-one", "key-two"]


def test_compose_runs_the_three_services_migrations_and_local_sqs_from_the_cli() -> None:
    from cli.main import build_parser

    services = _compose_config()["services"]
    assert {"postgres", "sqs", "migrate", "seed", "gateway", "ingestor", "backtester"} <= set(
        services
    )
    for name, service in services.items():
        if "command" in service and name != "postgres":
            build_parser().parse_args(service["command"])  # a real command with real options
    assert services["sqs"]["command"][0] == "local-sqs"
    for worker in ("gateway", "ingestor", "backtester"):
        depends = services[worker]["depends_on"]
        assert depends["seed"]["condition"] == "service_completed_successfully"


def _workflow(name: str) -> dict[Any, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())  # type: ignore[no-any-return]


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_pull_requests_run_lint_type_check_tests_and_a_dependency_audit() -> None:
    ci = _workflow("ci.yml")
    assert "pull_request" in ci[True]  # PyYAML reads the key `on` as True
    runs = " ".join(step.get("run", "") for step in _steps(ci))
    for command in ("make lint", "make typecheck", "make test", "uv export --frozen", "pip-audit"):
        assert command in runs, command
    assert "-r requirements-audit.txt" in runs


def test_main_deploys_with_oidc_and_no_stored_aws_keys() -> None:
    text = (WORKFLOWS / "deploy.yml").read_text()
    deploy = _workflow("deploy.yml")
    assert deploy[True]["push"]["branches"] == ["main"]
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    for job in ("build", "deploy"):
        assert deploy["jobs"][job]["permissions"]["id-token"] == "write"
    credential_steps = [
        s for s in _steps(deploy) if "configure-aws-credentials" in s.get("uses", "")
    ]
    assert credential_steps and all("role-to-assume" in s["with"] for s in credential_steps)
    # The role trusts only the deploy environment's subject (bootstrap.yaml): a job assuming
    # it outside that environment would be refused by AWS.
    for name, job in deploy["jobs"].items():
        if any("configure-aws-credentials" in s.get("uses", "") for s in job.get("steps", [])):
            assert job.get("environment") == "${{ inputs.environment || 'prod' }}", name
    runs = " ".join(step.get("run", "") for step in _steps(deploy))
    assert "deploy/deploy.sh" in runs, "deploy through change sets, smoke test, rollback"
    assert deploy["jobs"]["build"]["needs"] == "test"


def test_deploy_script_smoke_tests_ready_and_rolls_back() -> None:
    script = (DEPLOY_DIR / "deploy.sh").read_text()
    smoke = (DEPLOY_DIR / "scripts" / "smoke.sh").read_text()
    assert "aws cloudformation deploy" in script  # creates and executes a change set
    assert "/health/ready" in smoke
    assert "previous_tag" in script and "IMAGE_TAG=$previous_tag deploy_stack app" in script
    for path in (
        DEPLOY_DIR / "deploy.sh",
        DEPLOY_DIR / "rollback.sh",
        DEPLOY_DIR / "scripts" / "smoke.sh",
    ):
        result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def _after_first_deploy_script() -> str:
    guide = (DEPLOY_DIR / "README.md").read_text()
    section = guide.split("## After the first deploy", 1)[1].split("\n## ", 1)[0]
    (script,) = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    return script  # type: ignore[no-any-return]


def test_one_off_tasks_in_the_deploy_guide_are_runnable_commands() -> None:
    from cli.main import build_parser
    from tests.contract.deploy_support import load_template

    script = _after_first_deploy_script()
    result = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    app = load_template("app")
    # Every stack output the commands read exists.
    used = set(re.findall(r"stack_output (\w+) (\w+)", script))
    assert used == {
        ("app", "ClusterName"),
        ("app", "GatewayTaskDefinitionArn"),
        ("network", "OneOffTaskNetworkConfiguration"),
    }
    for stack, output in used:
        assert output in load_template(stack)["Outputs"], (stack, output)
    # The container the override names is in the task definition the output points at.
    task = app["Resources"][app["Outputs"]["GatewayTaskDefinitionArn"]["Value"]["Ref"]]
    containers = {c["Name"] for c in task["Properties"]["ContainerDefinitions"]}
    (named,) = set(re.findall(r'name: "(\w+)"', script))
    assert named in containers
    # Each one-off command is one the CLI accepts; seed comes first.
    commands = [
        shlex.split(line)[1:] for line in script.splitlines() if line.startswith("one_off ")
    ]
    assert [c[0] for c in commands] == ["seed", "send", "send", "send"]
    for command in commands:
        build_parser().parse_args(command)
    bodies = [json.loads(c[1]) for c in commands if c[0] == "send"]
    assert {(b["type"], b.get("market")) for b in bodies} == {
        ("update_prices", "US"),
        ("update_prices", "KR"),
        ("update_macro", None),
    }, "one first run per schedule, so every missing-run alarm clears"


def test_deploy_guide_links_point_to_existing_sections() -> None:
    guide = (DEPLOY_DIR / "README.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")
        for title in re.findall(r"^#+ (.+)$", guide, flags=re.MULTILINE)
    }
    links = set(re.findall(r"\]\(#([^)]+)\)", guide))
    assert links and links <= anchors, links - anchors
    # Alarm descriptions and notifications link their runbook.
    templates = " ".join(p.read_text() for p in (DEPLOY_DIR / "templates").glob("*.yaml"))
    runbooks = set(re.findall(r"deploy/README\.md#([a-z0-9-]+)", templates))
    assert runbooks and runbooks <= anchors, runbooks - anchors
    quoted = set(re.findall(r'see "([^"]+)"', guide))
    assert not quoted, f"link sections instead of quoting them: {quoted}"


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_workflow_scripts_take_expressions_only_through_the_environment(name: str) -> None:
    # `${{ }}` inside `run:` is pasted into the script before bash sees it (script injection,
    # e.g. from a workflow_dispatch input); through `env:` it stays data.
    for step in _steps(_workflow(name)):
        assert "${{" not in step.get("run", ""), f"{name}: {step.get('name', step['run'])}"


def test_ci_validates_compose_with_the_secrets_it_requires() -> None:
    (step,) = [s for s in _steps(_workflow("ci.yml")) if "compose" in s.get("run", "")]
    assert set(COMPOSE_SECRETS) <= set(step.get("env", {})), "compose refuses to run without them"
