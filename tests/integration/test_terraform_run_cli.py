"""`orchestrator terraform-run` against the API emulator: spec Secret in, result Secret out, as a Job would run it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli.operator_main import cli
from orchestrator.clients.terraform import RunResult, RunSpec, pack_module
from tests.k8s import ApiEmulator
from tests.k8s.jobs import JobKubelet
from tests.rbac_coverage import TERRAFORM_JOB, Call, disallowed, recorded_calls, render_rules

from .test_terraform_modules import INPUTS_DIR, MODULES_DIR

pytestmark = pytest.mark.terraform

NAMESPACE = "orchestrator-system"
LABELS = {"orchestrator.dev/request-uid": "uid-1", "app.kubernetes.io/managed-by": "orchestrator"}


def spec_secret(name: str, spec: RunSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": LABELS},
        "data": {"spec": base64.b64encode(spec.to_bytes()).decode()},
    }


def result_of(secret: dict[str, Any] | None) -> RunResult:
    assert secret is not None
    return RunResult.from_bytes(base64.b64decode(secret["data"]["result"]))


@pytest.fixture
def kubelet(k8s_api: ApiEmulator, terraform_job_kubeconfig: Path, tmp_path: Path) -> Iterator[JobKubelet]:
    with JobKubelet(k8s_api, terraform_job_kubeconfig, namespace=NAMESPACE, workdir=tmp_path) as running:
        yield running
    assert not running.errors


def test_a_job_runs_the_spec_and_writes_an_owned_result_once(
    k8s_api: ApiEmulator, terraform_job_kubeconfig: Path, kubelet: JobKubelet, tmp_path: Path
) -> None:
    variables = json.loads((INPUTS_DIR / "object-bucket.tfvars.json").read_text())
    spec = RunSpec(
        "plan-apply", "modules/object-bucket", pack_module(MODULES_DIR / "object-bucket"), variables, lock_id="lock-1"
    )
    k8s_api.create(spec_secret("run-1", spec))
    args = ["terraform-run", "--namespace", NAMESPACE, "--spec-secret", "run-1", "--scratch", str(tmp_path / "s")]
    job = k8s_api.create(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "tf-run-1", "namespace": NAMESPACE},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {"name": "terraform", "image": "operator", "command": ["orchestrator"], "args": args}
                        ],
                    }
                }
            },
        }
    )

    [run] = kubelet.wait_for_runs(1, timeout=60)

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == (f"plan-apply modules/object-bucket: ok; result written to {NAMESPACE}/run-1-result")
    secret = k8s_api.get("secrets", "run-1-result", NAMESPACE)
    assert secret is not None
    meta = secret["metadata"]
    assert meta["labels"] == {**LABELS, "orchestrator.dev/terraform-result": "true"}
    assert meta["annotations"]["orchestrator.dev/lock-id"] == "lock-1"
    assert [(o["kind"], o["name"], o["uid"]) for o in meta["ownerReferences"]] == [
        ("Job", "tf-run-1", job["metadata"]["uid"])
    ]
    result = result_of(secret)
    assert result.ok and result.state is not None
    assert result.outputs["bucket_arn"].value == "arn:aws:s3:::staging-team-orders-assets"
    assert "lock-1" in result.log

    # The Job's pod restarted after writing: nothing runs again, nothing is rewritten.
    again = CliRunner().invoke(cli, [*args, "--kubeconfig", str(terraform_job_kubeconfig)])
    assert again.exit_code == 0, again.output
    assert "already holds the result of lock 'lock-1'; nothing to do" in again.stdout
    assert k8s_api.get("secrets", "run-1-result", NAMESPACE) == secret


def test_a_terraform_failure_is_a_result_not_an_exit_code(
    k8s_api: ApiEmulator, terraform_job_kubeconfig: Path, tmp_path: Path
) -> None:
    variables = {**json.loads((INPUTS_DIR / "object-bucket.tfvars.json").read_text()), "name": "Team_Orders_Assets"}
    spec = RunSpec(
        "plan", "modules/object-bucket", pack_module(MODULES_DIR / "object-bucket"), variables, lock_id="lock-2"
    )
    k8s_api.create(spec_secret("run-2", spec))

    outcome = CliRunner().invoke(
        cli,
        [
            "terraform-run",
            "--namespace",
            NAMESPACE,
            "--spec-secret",
            "run-2",
            "--result-secret",
            "out-2",
            "--scratch",
            str(tmp_path),
            "--kubeconfig",
            str(terraform_job_kubeconfig),
        ],
    )

    assert outcome.exit_code == 0, outcome.output
    result = result_of(k8s_api.get("secrets", "out-2", NAMESPACE))
    assert not result.ok and result.error is not None and result.error.kind == "validation"
    assert "ownerReferences" not in k8s_api.get("secrets", "out-2", NAMESPACE)["metadata"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (None, f"error: spec Secret {NAMESPACE}/missing not found"),
        ({"spec": base64.b64encode(b"garbage").decode()}, f"error: spec Secret {NAMESPACE}/missing: not a RunSpec"),
    ],
    ids=["missing", "garbage"],
)
def test_infrastructure_errors_exit_1_with_one_line(
    setup: dict[str, str] | None, message: str, k8s_api: ApiEmulator, terraform_job_kubeconfig: Path
) -> None:
    if setup is not None:
        k8s_api.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "missing", "namespace": NAMESPACE},
                "data": setup,
            }
        )

    outcome = CliRunner().invoke(
        cli,
        [
            "terraform-run",
            "--namespace",
            NAMESPACE,
            "--spec-secret",
            "missing",
            "--kubeconfig",
            str(terraform_job_kubeconfig),
        ],
    )

    assert outcome.exit_code == 1
    assert outcome.stdout == ""
    assert len(outcome.stderr.splitlines()) == 1 and outcome.stderr.startswith(message)
    assert "Traceback" not in outcome.output
    assert k8s_api.get("secrets", "missing-result", NAMESPACE) is None


def test_a_result_of_an_older_lock_is_replaced_as_the_job_runner_account(
    request: pytest.FixtureRequest, k8s_api: ApiEmulator, terraform_job_kubeconfig: Path, tmp_path: Path
) -> None:
    variables = {**json.loads((INPUTS_DIR / "object-bucket.tfvars.json").read_text()), "name": "Team_Orders_Assets"}
    spec = RunSpec(
        "plan", "modules/object-bucket", pack_module(MODULES_DIR / "object-bucket"), variables, lock_id="lock-new"
    )
    k8s_api.create(spec_secret("run-3", spec))
    stale = spec_secret("run-3-result", spec)
    stale["metadata"]["annotations"] = {"orchestrator.dev/lock-id": "lock-old"}
    k8s_api.create(stale)
    args = ["terraform-run", "--namespace", NAMESPACE, "--spec-secret", "run-3", "--scratch", str(tmp_path)]

    outcome = CliRunner().invoke(cli, [*args, "--kubeconfig", str(terraform_job_kubeconfig)])

    assert outcome.exit_code == 0, outcome.output
    replaced = k8s_api.get("secrets", "run-3-result", NAMESPACE)
    assert replaced is not None and replaced["metadata"]["annotations"]["orchestrator.dev/lock-id"] == "lock-new"
    assert result_of(replaced).error is not None
    # Recorded under the job runner's identity (not the operator's) and allowed by its Role alone.
    calls = recorded_calls(request.config, TERRAFORM_JOB)
    assert {
        Call("get", "", "secrets", NAMESPACE, "run-3"),
        Call("patch", "", "secrets", NAMESPACE, "run-3-result"),
    } <= calls
    assert disallowed(calls, render_rules(NAMESPACE, who=TERRAFORM_JOB)) == []
    assert Call("patch", "", "secrets", NAMESPACE, "run-3-result") not in recorded_calls(request.config)
