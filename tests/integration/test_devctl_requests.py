"""`devctl request ...` and `devctl workspace ...` against the API emulator, with the real operator where the
request has to move (JIRA-fulfilled through the fake JIRA, workspaces), and without it where the objects are fixed.

devctl runs in-process (click's runner, the `devctl` fixture: no traceback allowed) and talks to the emulator over
HTTP through a kubeconfig, as it would to a cluster.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.api.service_request import (
    ABORT_ANNOTATION,
    APPROVE_PLAN_ANNOTATION,
    ESCALATE_ANNOTATION,
    REQUESTER_ANNOTATION,
    RETRY_ANNOTATION,
)
from orchestrator.cli.common import table_lines
from orchestrator.cli.request_view import fit_rows, list_rows
from tests.conftest import CliResult
from tests.fakes.jira_model import DEFAULT_PROJECTS
from tests.fakes.jira_server import FakeJira
from tests.k8s import ApiEmulator

from .conftest import TEAM, request
from .harness import BOT, NAMESPACE, TOKEN, OperatorUnderTest, is_true, phase, wait_until

SR = "servicerequests"
REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden"
EXAMPLES = REPO / "examples"
Devctl = Callable[..., CliResult]


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    """The fake JIRA, with the project the catalog's object-bucket review ticket uses (SEC) besides the defaults."""
    projects = {
        **DEFAULT_PROJECTS,
        "SEC": {
            "name": "Security Engineering",
            "components": ["Data Governance"],
            "issue_types": ["Compliance Review"],
        },
    }
    with FakeJira(users={BOT: TOKEN}, projects=projects) as fake:
        yield fake


@pytest.fixture
def kube(devctl: Callable[..., CliResult], k8s_kubeconfig: Path) -> Devctl:
    """devctl with the emulator's kubeconfig and -n team-orders (global flags after the command, as people type)."""

    def run(*args: str) -> CliResult:
        return devctl(*args, "--kubeconfig", str(k8s_kubeconfig), "-n", TEAM)

    return run


@pytest.fixture
def with_item(cluster: ApiEmulator, ticket_item: dict[str, Any]) -> ApiEmulator:
    cluster.create(ticket_item)
    return cluster


@pytest.fixture
def running(with_item: ApiEmulator, start_operator: Callable[..., OperatorUnderTest]) -> OperatorUnderTest:
    return start_operator()


def requests_in(api: ApiEmulator, namespace: str = TEAM) -> list[dict[str, Any]]:
    return api.list(SR, namespace)


def current(api: ApiEmulator, name: str) -> dict[str, Any]:
    obj = api.get(SR, name, TEAM)
    assert obj is not None, f"{name} is gone"
    return obj


def open_ticket(api: ApiEmulator, jira: FakeJira, name: str) -> dict[str, Any]:
    wait_until(lambda: ((current(api, name).get("status") or {}).get("actions") or [{}])[0].get("externalRef"))
    uid = current(api, name)["metadata"]["uid"]
    [ticket] = [
        i
        for i in jira.issues_with_label(f"orchestrator-{uid}")
        if "orchestrator-escalation" not in i["fields"]["labels"]
    ]
    return ticket


def failed_request(api: ApiEmulator, jira: FakeJira, name: str = "orders-dns") -> dict[str, Any]:
    """A request whose ticket was closed as Won't Do: phase Failed, Stalled ActionFailed."""
    api.create(request(name))
    ticket = open_ticket(api, jira, name)
    jira.complete(ticket["key"], "Won't Do", status="Closed")
    wait_until(lambda: phase(current(api, name)) == "Failed", what="Failed")
    return ticket


def backdate(api: ApiEmulator, name: str, namespace: str, created: datetime) -> None:
    """Set creationTimestamp (server-owned, so not writable through the API) in the emulator's store directly:
    the fixed object set of the listing tests was "created" at known times."""

    def op() -> None:
        obj = api.store.current(api.resource(SR), namespace, name)
        assert obj is not None
        obj["metadata"]["creationTimestamp"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")

    api.call(op)


def stored(api: ApiEmulator, body: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    created = api.create(body)
    if status is not None:
        created = api.replace({**created, "status": status}, status=True)
    return created


def condition(type_: str, status: str, reason: str, message: str = "", generation: int = 1) -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "observedGeneration": generation,
    }


def fixed_status(phase_: str, ready: str, reason: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "phase": phase_,
        "observedGeneration": 1,
        "conditions": [condition("Ready", ready, reason, message)],
        **extra,
    }


# ---- submit ------------------------------------------------------------------------------------------------------


def test_submit_wait_reaches_ready_with_typed_fields(
    kube: Devctl, with_item: ApiEmulator, jira: FakeJira, running: OperatorUnderTest
) -> None:
    jira.auto_complete_after = 0.3
    result = kube("request", "submit", "dns-ticket", "--field", "host=orders", "--field", "ttl=600", "--wait")
    assert result.exit_code == 0, result.output
    [created] = requests_in(with_item)
    name = created["metadata"]["name"]
    assert name.startswith("dns-ticket-") and len(name) == len("dns-ticket-") + 5
    assert created["spec"] == {"catalogItem": "dns-ticket", "fields": {"host": "orders", "ttl": 600}}
    assert created["metadata"]["annotations"][REQUESTER_ANNOTATION] == "emulator"  # the kubeconfig's user
    assert phase(created) == "Ready" and is_true(created, "Ready")
    assert f"{name}: Provisioning" in result.output  # one plain line per phase change (not a terminal)
    assert f"servicerequest.orchestrator.dev/{name} is Ready" in result.output
    assert "fqdn: orders.example.com" in result.output


def test_submit_wait_ends_with_exit_1_and_the_reason_when_stalled(
    kube: Devctl, cluster: ApiEmulator, ticket_item: dict[str, Any], start_operator: Callable[..., OperatorUnderTest]
) -> None:
    ticket_item["spec"]["fulfillment"]["manual"][0]["jira"]["summary"] = "DNS {{ request.nonexistent }}"
    cluster.create(ticket_item)
    start_operator()
    result = kube("request", "submit", "dns-ticket", "--field", "host=orders", "--name", "broken", "--wait")
    assert result.exit_code == 1, result.output
    assert "devctl: broken is Failed: TemplateError: action 'ticket', template" in result.output
    assert "nonexistent" in result.output
    assert is_true(current(cluster, "broken"), "Stalled", "TemplateError")


def test_submit_wait_times_out_with_exit_4(kube: Devctl, with_item: ApiEmulator) -> None:
    # No operator: the request never gets a status.
    result = kube("request", "submit", "dns-ticket", "--field", "host=orders", "--wait", "--timeout", "1s")
    assert result.exit_code == 4, result.output
    assert "timed out after 1s" in result.output


def test_submit_with_follow_logs_prints_the_story_while_waiting(
    kube: Devctl, with_item: ApiEmulator, jira: FakeJira, running: OperatorUnderTest
) -> None:
    jira.auto_complete_after = 0.3
    result = kube("request", "submit", "dns-ticket", "--field", "host=orders", "--name", "followed", "--follow-logs")
    assert result.exit_code == 0, result.output
    assert "action/ticket" in result.output and "started (jira, attempt 1)" in result.output
    assert "event/Normal" in result.output


def test_invalid_fields_are_refused_with_the_validator_messages_and_nothing_is_created(
    kube: Devctl, devctl: Devctl, with_item: ApiEmulator, ticket_item: dict[str, Any], tmp_path: Path
) -> None:
    args = ("--field", "host=Bad_Host", "--field", "ttl=5", "--field", "extra=1")
    result = kube("request", "submit", "dns-ticket", *args)
    assert result.exit_code == 1, result.output
    assert "nothing was created" in result.output
    assert requests_in(with_item) == []
    # The same messages as `devctl validate request` on the same request against the same item.
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "item.yaml").write_text(yaml.safe_dump(ticket_item))
    manifest = tmp_path / "request.yaml"
    body = request(fields={"host": "Bad_Host", "ttl": 5, "extra": 1})
    del body["spec"]["environment"]
    manifest.write_text(yaml.safe_dump(body))
    offline = devctl("validate", "request", str(manifest), "--catalog", str(catalog), "-o", "json")
    expected = sorted(f"{d['path']}: {d['message']}" for d in json.loads(offline.output)["diagnostics"])
    got = sorted(line.split(": error: ", 1)[1] for line in result.output.splitlines() if ": error: " in line)
    assert got == expected and len(got) == 3
    assert any("spec.fields.host: 'Bad_Host' does not match the pattern" in line for line in got)


def test_submit_refuses_unknown_items_and_bad_flags(kube: Devctl, with_item: ApiEmulator, tmp_path: Path) -> None:
    missing = kube("request", "submit", "dns-tiket", "--field", "host=orders")
    assert missing.exit_code == 3 and "no catalog item named 'dns-tiket'" in missing.output
    syntax = kube("request", "submit", "dns-ticket", "--field", "host")
    assert syntax.exit_code == 2 and "expected KEY=VALUE" in syntax.output
    values = tmp_path / "values.yaml"
    values.write_text("host: [unclosed\n")
    broken = kube("request", "submit", "dns-ticket", "-f", str(values))
    assert (
        broken.exit_code == 1
        and "values.yaml:2:1: error: YAML syntax error" in broken.output
        and "YAML syntax error" in broken.output
    )
    assert requests_in(with_item) == []


def test_values_file_then_fields_and_environment_checked_against_the_operator_config(
    kube: Devctl, with_item: ApiEmulator, tmp_path: Path
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("host: fromfile\nttl: 900\n")
    result = kube("request", "submit", "dns-ticket", "-f", str(values), "--field", "host=fromflag", "--name", "merged")
    assert result.exit_code == 0, result.output
    assert current(with_item, "merged")["spec"]["fields"] == {"host": "fromflag", "ttl": 900}
    unknown = kube("request", "submit", "dns-ticket", "--field", "host=x1", "--environment", "stagin")
    assert unknown.exit_code == 1
    assert "unknown environment 'stagin' (did you mean 'staging'?)" in unknown.output


def test_dry_run_prints_the_manifest_and_the_server_answer_and_stores_nothing(
    kube: Devctl, with_item: ApiEmulator
) -> None:
    text = kube("request", "submit", "dns-ticket", "--field", "host=orders", "--dry-run")
    assert text.exit_code == 0, text.output
    manifest_text, _, verdict = text.output.rpartition("servicerequest.orchestrator.dev/")
    manifest = yaml.safe_load(manifest_text)
    assert manifest["metadata"]["generateName"] == "dns-ticket-"
    assert manifest["spec"]["fields"] == {"host": "orders"}
    assert verdict.startswith("dns-ticket-") and "server dry run: nothing was stored" in verdict
    as_json = kube(
        "request", "submit", "dns-ticket", "--field", "host=orders", "--name", "dry", "--dry-run", "-o", "json"
    )
    answer = json.loads(as_json.output)
    assert answer["metadata"]["name"] == "dry" and answer["metadata"]["uid"]  # stamped by the server
    assert requests_in(with_item) == []
    named = kube("request", "submit", "dns-ticket", "--field", "host=orders", "--name", "real", "-o", "name")
    assert named.output == "servicerequest.orchestrator.dev/real\n"
    as_yaml = yaml.safe_load(kube("request", "submit", "dns-ticket", "--field", "host=other", "-o", "yaml").output)
    assert as_yaml["metadata"]["name"].startswith("dns-ticket-") and as_yaml["spec"]["fields"] == {"host": "other"}
    assert len(requests_in(with_item)) == 2


# ---- logs, get, status --------------------------------------------------------------------------------------------


def test_logs_merge_events_and_action_transitions_in_time_order(
    kube: Devctl, with_item: ApiEmulator, jira: FakeJira, running: OperatorUnderTest
) -> None:
    jira.auto_complete_after = 0.3
    with_item.create(request())
    wait_until(lambda: phase(current(with_item, "orders-dns")) == "Ready", what="Ready")
    wait_until(lambda: any(e["reason"] == "Succeeded" for e in with_item.events(TEAM)), what="the Succeeded event")
    result = kube("request", "logs", "orders-dns")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    times = [line.split()[0] for line in lines]
    assert times == sorted(times)
    sources = {line.split()[1] for line in lines}
    assert {"event/Normal", "action/ticket"} <= sources
    text = result.output
    ticket = current(with_item, "orders-dns")["status"]["actions"][0]["externalRef"]["id"]
    assert "started (jira, attempt 1)" in text and f"succeeded [jira {ticket}" in text
    assert "WaitingForBackend: Provisioning: action 'ticket'" in text and "Succeeded: Ready: fulfilled" in text
    started = next(i for i, line in enumerate(lines) if "started (jira" in line)
    succeeded = next(i for i, line in enumerate(lines) if f"succeeded [jira {ticket}" in line)
    assert started < succeeded

    data = json.loads(kube("request", "logs", "orders-dns", "-o", "json").output)
    assert [e["time"] for e in data["entries"]] == sorted(e["time"] for e in data["entries"])
    only = kube("request", "logs", "orders-dns", "--action", "ticket").output.splitlines()
    assert only and all("ticket" in line for line in only)
    assert len(kube("request", "logs", "orders-dns", "--tail", "2").output.splitlines()) == 2


def test_logs_follow_until_the_request_settles(
    kube: Devctl, with_item: ApiEmulator, jira: FakeJira, running: OperatorUnderTest
) -> None:
    jira.auto_complete_after = 1.0
    with_item.create(request())
    result = kube("request", "logs", "orders-dns", "--follow", "-o", "json")
    assert result.exit_code == 0, result.output
    entries = [json.loads(line) for line in result.output.splitlines()]  # JSON lines
    assert any(e["source"] == "action/ticket" and e["message"].startswith("succeeded") for e in entries)
    assert phase(current(with_item, "orders-dns")) == "Ready"


def test_logs_include_terraform_job_output_from_the_pod_in_the_operator_namespace(
    kube: Devctl, cluster: ApiEmulator
) -> None:
    created = stored(
        cluster,
        request("bucket", catalogItem="object-bucket"),
        {
            "phase": "Ready",
            "observedGeneration": 1,
            "actions": [
                {
                    "name": "provision",
                    "type": "terraform",
                    "state": "Succeeded",
                    "attempts": 1,
                    "startedAt": "2026-05-01T10:00:00Z",
                    "finishedAt": "2026-05-01T10:02:00Z",
                    "message": "applied plan 3f9a +1 ~0 -0",
                    "plan": {"hash": "3f9a", "add": 1, "change": 0, "destroy": 0, "createdAt": "2026-05-01T10:01:00Z"},
                }
            ],
        },
    )
    uid = created["metadata"]["uid"]
    labels = {
        "orchestrator.dev/terraform-run": "true",
        "orchestrator.dev/request-uid": uid,
        "orchestrator.dev/action": "provision",
    }
    cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "tf-planapply-abc-x1", "namespace": NAMESPACE, "labels": labels},
            "spec": {"containers": [{"name": "terraform", "image": "orchestrator"}]},
        }
    )
    cluster.write_pod_log(NAMESPACE, "tf-planapply-abc-x1", "init: ok", at=datetime(2026, 5, 1, 10, 0, 30, tzinfo=UTC))
    cluster.write_pod_log(
        NAMESPACE, "tf-planapply-abc-x1", "apply: 1 added", at=datetime(2026, 5, 1, 10, 1, 30, tzinfo=UTC)
    )
    lines = kube("request", "logs", "bucket").output.splitlines()
    assert [line.split(None, 2)[1:] for line in lines] == [
        ["action/provision", "started (terraform, attempt 1)"],
        ["terraform/provision", "init: ok"],
        ["action/provision", "plan 3f9a: +1 ~0 -0"],
        ["terraform/provision", "apply: 1 added"],
        ["action/provision", "succeeded: applied plan 3f9a +1 ~0 -0"],
    ]
    other = stored(cluster, request("other", catalogItem="object-bucket"), created["status"])
    assert other["metadata"]["uid"] != uid
    result = kube("request", "logs", "other")
    assert "terraform/" not in result.output and "no Terraform run output" in result.output


def test_get_and_status_describe_a_ready_request(
    kube: Devctl, with_item: ApiEmulator, jira: FakeJira, running: OperatorUnderTest
) -> None:
    jira.auto_complete_after = 0.3
    with_item.create(request())
    wait_until(lambda: phase(current(with_item, "orders-dns")) == "Ready", what="Ready")
    described = kube("request", "get", "orders-dns", "--actions", "--events")
    assert described.exit_code == 0, described.output
    for expected in ("Phase:         Ready", "fqdn: orders.example.com", "Conditions:", "Actions:", "Events:"):
        assert expected in described.output
    assert "Outputs Secret: orders-dns-outputs" in described.output
    as_json = json.loads(kube("request", "get", "orders-dns", "-o", "json").output)
    assert as_json["status"]["phase"] == "Ready" and "managedFields" not in as_json["metadata"]
    with_events = yaml.safe_load(kube("request", "get", "orders-dns", "--events", "-o", "yaml").output)
    assert with_events["kind"] == "List" and with_events["items"][0]["kind"] == "ServiceRequest"
    assert {"Event"} == {i["kind"] for i in with_events["items"][1:]}
    assert kube("request", "get", "orders-dns", "-o", "name").output == "servicerequest.orchestrator.dev/orders-dns\n"
    status = json.loads(kube("request", "status", "orders-dns", "-o", "json").output)
    assert status["phase"] == "Ready" and status["conditions"]["Ready"]["status"] == "True"
    assert status["actions"][0]["state"] == "Succeeded"
    as_yaml = yaml.safe_load(kube("request", "status", "orders-dns", "-o", "yaml").output)
    assert as_yaml["name"] == "orders-dns" and as_yaml["ready"] == "True"
    watched = kube("request", "status", "orders-dns", "--watch", "--interval", "100ms")
    assert watched.exit_code == 0 and "Ready=True" in watched.output


# ---- user operations ------------------------------------------------------------------------------------------------


def test_retry_sets_a_fresh_token_and_the_operator_reruns_the_failed_action(
    kube: Devctl, with_item: ApiEmulator, jira: FakeJira, running: OperatorUnderTest
) -> None:
    first = failed_request(with_item, jira)
    unknown = kube("request", "retry", "orders-dns", "--action", "nope")
    assert unknown.exit_code == 1 and "no action named 'nope' (actions: ticket)" in unknown.output
    result = kube("request", "retry", "orders-dns", "--action", "ticket")
    assert result.exit_code == 0, result.output
    token = current(with_item, "orders-dns")["metadata"]["annotations"][RETRY_ANNOTATION]
    assert f"retry requested for ticket (token {token})" in result.output
    wait_until(lambda: current(with_item, "orders-dns")["status"]["actions"][0]["attempts"] == 2, what="attempt 2")
    new = wait_until(
        lambda: [i for i in jira.issues.values() if i["key"] != first["key"] and i["key"].startswith("DBA-")],
        what="a second ticket",
    )
    assert len(new) == 1
    assert current(with_item, "orders-dns")["status"]["lastHandledRetry"] == token
    nothing = kube("request", "retry", "orders-dns", "-o", "yaml")
    assert nothing.exit_code == 1 and "nothing to retry" in nothing.output


def test_abort_needs_confirmation_and_then_stops_the_request(
    kube: Devctl, with_item: ApiEmulator, jira: FakeJira, running: OperatorUnderTest
) -> None:
    with_item.create(request())
    ticket = open_ticket(with_item, jira, "orders-dns")
    unconfirmed = kube("request", "abort", "orders-dns")
    assert unconfirmed.exit_code == 2 and "pass --yes" in unconfirmed.output
    assert ABORT_ANNOTATION not in (current(with_item, "orders-dns")["metadata"].get("annotations") or {})
    result = kube("request", "abort", "orders-dns", "--yes", "--reason", "no longer needed", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["metadata"]["annotations"][ABORT_ANNOTATION] == "no longer needed"
    wait_until(lambda: phase(current(with_item, "orders-dns")) == "Aborted", what="Aborted")
    comments = jira.issue(ticket["key"])["fields"]["comment"]["comments"]
    assert any("aborted: no longer needed" in c["body"] for c in comments)
    again = kube("request", "abort", "orders-dns", "--yes")
    assert again.exit_code == 0 and "already aborted (no longer needed)" in again.output
    retry = kube("request", "retry", "orders-dns")
    assert retry.exit_code == 1 and f"{ABORT_ANNOTATION}-" in retry.output


def test_escalate_opens_a_support_ticket_in_jira(
    kube: Devctl, with_item: ApiEmulator, jira: FakeJira, running: OperatorUnderTest
) -> None:
    failed_request(with_item, jira)
    assert kube("request", "escalate", "orders-dns").exit_code == 2  # --reason is required
    result = kube("request", "escalate", "orders-dns", "--reason", "rejected, please help", "-o", "name")
    assert result.exit_code == 0, result.output
    assert result.output == "servicerequest.orchestrator.dev/orders-dns\n"
    assert current(with_item, "orders-dns")["metadata"]["annotations"][ESCALATE_ANNOTATION] == "rejected, please help"
    key = wait_until(lambda: (current(with_item, "orders-dns")["status"].get("escalation") or {}).get("ticket"))
    assert key.startswith("OPS-")
    assert "rejected, please help" in jira.issue(key)["fields"]["description"]
    again = kube("request", "escalate", "orders-dns", "--reason", "rejected, please help")
    assert again.exit_code == 0 and f"already escalated with this reason (ticket {key})" in again.output


def waiting_plan(hash_: str, action: str = "bucket") -> dict[str, Any]:
    return {
        "name": action,
        "type": "terraform",
        "state": "Waiting",
        "attempts": 1,
        "message": f"plan {hash_} (+2 ~0 -0) awaits approval",
        "plan": {"hash": hash_, "add": 2, "change": 0, "destroy": 0, "createdAt": "2026-05-01T10:00:00Z"},
    }


def test_approve_plan_approves_the_plan_awaiting_approval(kube: Devctl, cluster: ApiEmulator) -> None:
    provisioning = fixed_status("Provisioning", "False", "AwaitingPlanApproval", "plan awaits approval")
    stored(
        cluster, request("one", catalogItem="object-bucket"), {**provisioning, "actions": [waiting_plan("3f9a2c77")]}
    )
    result = kube("request", "approve-plan", "one")
    assert result.exit_code == 0, result.output
    assert "plan 3f9a2c77 of action 'bucket': +2 ~0 -0" in result.output
    assert current(cluster, "one")["metadata"]["annotations"][APPROVE_PLAN_ANNOTATION] == "3f9a2c77"

    two = {**provisioning, "actions": [waiting_plan("aaaa1111"), waiting_plan("bbbb2222", "dns")]}
    stored(cluster, request("two", catalogItem="object-bucket"), two)
    ambiguous = kube("request", "approve-plan", "two")
    assert ambiguous.exit_code == 1 and "choose one with --hash" in ambiguous.output
    chosen = kube("request", "approve-plan", "two", "--hash", "bbbb", "-o", "json")
    assert json.loads(chosen.output)["metadata"]["annotations"][APPROVE_PLAN_ANNOTATION] == "bbbb2222"
    stale = kube("request", "approve-plan", "two", "--hash", "cccc")
    assert stale.exit_code == 1 and "plan cccc is not awaiting approval" in stale.output

    ready = {
        **fixed_status("Ready", "True", "Succeeded", "fulfilled"),
        "actions": [{**waiting_plan("dd"), "state": "Succeeded"}],
    }
    stored(cluster, request("done", catalogItem="object-bucket"), ready)
    none = kube("request", "approve-plan", "done")
    assert none.exit_code == 1 and "no plan awaits approval on done" in none.output
    assert APPROVE_PLAN_ANNOTATION not in (current(cluster, "done")["metadata"].get("annotations") or {})


@pytest.fixture
def terraform_operator(
    cluster: ApiEmulator,
    start_operator: Callable[..., OperatorUnderTest],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> OperatorUnderTest:
    """The operator with the real Terraform engine (inProcess runner) and the example environments."""
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")
    monkeypatch.delenv("TF_CLI_CONFIG_FILE", raising=False)
    cluster.patch(
        "configmaps",
        "orchestrator-environments",
        {"data": {"environments.yaml": (EXAMPLES / "environments.yaml").read_text()}},
        NAMESPACE,
    )
    settings = {"work_dir": tmp_path / "tf", "module_root": REPO / "catalog", "job_poll_interval": 0.2}
    return start_operator(terraform=settings)


@pytest.mark.terraform
def test_approve_plan_lets_the_operator_apply_the_plan_with_real_terraform(
    kube: Devctl, cluster: ApiEmulator, jira: FakeJira, terraform_operator: OperatorUnderTest
) -> None:
    jira.auto_complete_after = 0.3  # the item's compliance review ticket
    item = yaml.safe_load((REPO / "catalog" / "storage" / "object-bucket.yaml").read_text())
    item["spec"]["fulfillment"]["automated"][0]["terraform"]["approvePlan"] = "manual"
    cluster.create(item)
    body = yaml.safe_load((EXAMPLES / "object-bucket.yaml").read_text())
    name = body["metadata"]["name"]
    cluster.create(body)
    waiting = wait_until(lambda: phase(o := current(cluster, name)) == "AwaitingApproval" and o, 60, "a plan")
    plan = next(a for a in waiting["status"]["actions"] if a["name"] == "bucket")["plan"]
    result = kube("request", "approve-plan", name)
    assert result.exit_code == 0, result.output
    assert f"plan {plan['hash']} of action 'bucket': +{plan['add']} ~0 -0" in result.output
    wait_until(lambda: phase(current(cluster, name)) == "Ready", 60, "Ready after the approval")
    logs = kube("request", "logs", name, "--action", "bucket")
    assert f"plan {plan['hash']}: +{plan['add']} ~0 -0" in logs.output
    assert "no Terraform run output" in logs.output  # the inProcess runner keeps no run output in the cluster


# ---- list, export, batch -----------------------------------------------------------------------------------------

FIXED: list[tuple[str, str, str, timedelta, dict[str, Any] | None]] = [
    # name, namespace, item, age, status (None: the operator has not written one yet)
    (
        "orders-db",
        TEAM,
        "postgresql-standard",
        timedelta(minutes=30),
        fixed_status(
            "Ready", "True", "Succeeded", "fulfilled", outputs={"endpoint": "orders.db.internal", "port": 5432}
        ),
    ),
    (
        "orders-dns",
        TEAM,
        "dns-ticket",
        timedelta(hours=20),
        fixed_status(
            "Provisioning", "False", "ActionInProgress", "action 'ticket' waiting (DBA-7): the ticket is In Progress"
        ),
    ),
    (
        "orders-cache",
        TEAM,
        "redis-standard",
        timedelta(days=10),
        fixed_status(
            "Failed",
            "False",
            "ActionFailed",
            "action 'provision' failed: Terraform apply failed: the provider rejected the configuration because "
            "of an invalid instance class in eu-west-1",
        ),
    ),
    (
        "payments-db",
        "team-payments",
        "postgresql-standard",
        timedelta(minutes=45),
        fixed_status("AwaitingApproval", "False", "ApprovalRequired", "waiting for approval by team-data-platform"),
    ),
    ("orders-new", TEAM, "dns-ticket", timedelta(minutes=45), None),
]
"""A fixed set of requests; ages are chosen so that kubectl's age format does not change for minutes."""


def fixed_objects(now: datetime) -> list[dict[str, Any]]:
    objects = []
    for name, namespace, item, created_ago, status in FIXED:
        body = copy.deepcopy(request(name, catalogItem=item))
        body["metadata"].update(
            namespace=namespace, creationTimestamp=(now - created_ago).strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        if status is not None:
            body["status"] = status
        objects.append(body)
    return sorted(objects, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))


@pytest.fixture
def fixed(cluster: ApiEmulator) -> ApiEmulator:
    now = datetime.now(UTC)
    for obj in fixed_objects(now):
        meta = obj["metadata"]
        created = datetime.fromisoformat(meta.pop("creationTimestamp").replace("Z", "+00:00"))
        stored(cluster, {k: v for k, v in obj.items() if k != "status"}, obj.get("status"))
        backdate(cluster, meta["name"], meta["namespace"], created)
    return cluster


def test_list_table_matches_the_golden_file(kube: Devctl, fixed: ApiEmulator) -> None:
    for args, golden in (
        (("request", "list"), "request-list.txt"),
        (("request", "list", "-A"), "request-list-all.txt"),
    ):
        result = kube(*args)
        assert result.exit_code == 0, result.output
        expected = GOLDEN / golden
        if os.environ.get("UPDATE_GOLDEN"):
            expected.write_text(result.output)
        assert result.output == expected.read_text(), f"{' '.join(args)} differs from {expected}"


def test_list_table_fits_80_columns_on_a_terminal() -> None:
    """What print_table prints when stdout is a terminal: the widest columns shortened with an ellipsis."""
    now = datetime(2026, 5, 1, tzinfo=UTC)
    text = ""
    for all_namespaces in (False, True):
        objects = [o for o in fixed_objects(now) if all_namespaces or o["metadata"]["namespace"] == TEAM]
        headers, rows = list_rows(objects, now=now, all_namespaces=all_namespaces)
        lines = table_lines(headers, fit_rows(headers, rows, 80), max_width=80)
        assert all(len(line) <= 80 for line in lines)
        text += "\n".join(lines) + "\n\n"
    expected = GOLDEN / "request-list-80.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        expected.write_text(text)
    assert text == expected.read_text()


def names(result: CliResult) -> list[str]:
    assert result.exit_code == 0, result.output
    return [line.rsplit("/", 1)[1] for line in result.output.splitlines()]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), ["orders-cache", "orders-db", "orders-dns", "orders-new"]),
        (("-A",), ["orders-cache", "orders-db", "orders-dns", "orders-new", "payments-db"]),
        (("--phase", "Ready"), ["orders-db"]),
        (("--phase", "ready,failed"), ["orders-cache", "orders-db"]),
        (("--phase", "Pending"), ["orders-new"]),
        (("-A", "--phase", "AwaitingApproval", "--phase", "Provisioning"), ["orders-dns", "payments-db"]),
        (("--item", "dns-ticket"), ["orders-dns", "orders-new"]),
        (("-A", "--item", "postgresql-standard"), ["orders-db", "payments-db"]),
        (("--since", "1h"), ["orders-db", "orders-new"]),
        (("-A", "--since", "2d"), ["orders-db", "orders-dns", "orders-new", "payments-db"]),
        (("--since", "1h", "--item", "postgresql-standard"), ["orders-db"]),
    ],
    ids=[
        "namespace",
        "all",
        "phase",
        "phases",
        "pending",
        "all-phases",
        "item",
        "all-item",
        "since",
        "all-since",
        "both",
    ],
)
def test_list_filters(kube: Devctl, fixed: ApiEmulator, args: tuple[str, ...], expected: list[str]) -> None:
    assert names(kube("request", "list", *args, "-o", "name")) == expected


def test_list_json_and_yaml_parse_back_and_bad_filters_are_usage_errors(kube: Devctl, fixed: ApiEmulator) -> None:
    as_json = json.loads(kube("request", "list", "--phase", "Ready", "-o", "json").output)
    assert as_json["kind"] == "List" and [i["metadata"]["name"] for i in as_json["items"]] == ["orders-db"]
    as_yaml = yaml.safe_load(kube("request", "list", "-A", "-o", "yaml").output)
    assert len(as_yaml["items"]) == 5
    bad_phase = kube("request", "list", "--phase", "Redy")
    assert bad_phase.exit_code == 2 and "unknown phase 'Redy'" in bad_phase.output
    assert kube("request", "list", "--since", "soon").exit_code == 2
    assert kube("request", "list", "-o", "csv").exit_code == 2
    empty = kube("request", "list", "--item", "nothing-like-it")
    assert empty.exit_code == 0 and "No service requests found in team-orders namespace." in empty.output


def test_export_csv_json_and_yaml(kube: Devctl, fixed: ApiEmulator) -> None:
    result = kube("request", "export", "-A", "-o", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == ["namespace", "name", "item", "phase", "ready", "age", "output.endpoint", "output.port"]
    assert [r[:2] for r in rows[1:]] == [
        [TEAM, "orders-cache"],
        [TEAM, "orders-db"],
        [TEAM, "orders-dns"],
        [TEAM, "orders-new"],
        ["team-payments", "payments-db"],
    ]
    assert rows[2] == [TEAM, "orders-db", "postgresql-standard", "Ready", "True", "30m", "orders.db.internal", "5432"]
    assert rows[4][3:5] == ["Pending", "-"]
    assert kube("request", "export", "-A", "-o", "csv").output == result.output  # stable
    as_json = json.loads(kube("request", "export", "--phase", "Ready", "-o", "json").output)
    assert [i["metadata"]["name"] for i in as_json["items"]] == ["orders-db"]
    default = yaml.safe_load(kube("request", "export").output)  # YAML unless -o says otherwise
    assert default["kind"] == "List" and len(default["items"]) == 4
    assert kube("request", "export", "-o", "table").exit_code == 2


def manifest(name: str, host: str, **extra: Any) -> dict[str, Any]:
    body = request(name, fields={"host": host}, **extra)
    del body["metadata"]["namespace"]
    return body


def test_batch_submit_creates_the_valid_manifests_and_reports_the_bad_one(
    kube: Devctl, with_item: ApiEmulator, tmp_path: Path
) -> None:
    folder = tmp_path / "requests"
    folder.mkdir()
    (folder / "a.yaml").write_text(yaml.safe_dump(manifest("dns-a", "alpha")))
    (folder / "b.yaml").write_text(yaml.safe_dump_all([manifest("dns-b", "beta"), manifest("dns-c", "gamma")]))
    (folder / "bad.yaml").write_text(yaml.safe_dump(manifest("dns-bad", "Not_Valid")))
    (folder / "notes.txt").write_text("not a manifest")
    result = kube("request", "batch", "submit", "--dir", str(folder), "--parallel", "2")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["FILE", "NAME", "RESULT", "MESSAGE"]

    def row(text: str) -> list[str]:
        return next(line for line in lines if text in line).split(None, 3)

    assert row("a.yaml")[1:3] == ["dns-a", "created"]
    assert row("b.yaml   ")[1:3] == ["dns-b", "created"]
    assert row("b.yaml #1")[2:4] == ["dns-c", "created"]
    bad_line = (folder / "bad.yaml").read_text().splitlines().index("    host: Not_Valid") + 1
    _, name, outcome, message = row("bad.yaml")
    assert (name, outcome) == ("dns-bad", "invalid")
    assert f"bad.yaml:{bad_line}:" in message and "spec.fields.host: 'Not_Valid' does not match" in message
    assert "3 of 4 request(s) created; 1 failed" in result.output
    assert sorted(o["metadata"]["name"] for o in requests_in(with_item)) == ["dns-a", "dns-b", "dns-c"]
    again = json.loads(kube("request", "batch", "submit", "--dir", str(folder), "-o", "json").output)
    outcome = {r["name"]: (r["result"], r["message"]) for r in again["results"]}
    assert outcome["dns-a"][0] == "failed" and "already exists" in outcome["dns-a"][1]
    assert outcome["dns-bad"][0] == "invalid"


# ---- workspaces ----------------------------------------------------------------------------------------------------

WORKSPACE_ITEM = REPO / "catalog" / "workspaces" / "dev-workspace.yaml"


def workspace_request(**labels: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / "dev-workspace.yaml").read_text())
    if labels:
        body["metadata"]["labels"] = labels
    return body


def test_workspace_hibernate_and_resume_through_the_operator(
    kube: Devctl, cluster: ApiEmulator, start_operator: Callable[..., OperatorUnderTest]
) -> None:
    cluster.patch(
        "configmaps",
        "orchestrator-environments",
        {"data": {"environments.yaml": (EXAMPLES / "environments.yaml").read_text()}},
        NAMESPACE,
    )
    item = yaml.safe_load(WORKSPACE_ITEM.read_text())
    cluster.create(item)
    start_operator(workspace={"poll_interval": 0.2, "conflict_retry_interval": 0.5})
    cluster.create(workspace_request())
    wait_until(lambda: phase(current(cluster, "checkout-redesign")) == "Ready", 20, "workspace Ready")
    result = kube("workspace", "hibernate", "checkout-redesign", "--wait", "--timeout", "30s")
    assert result.exit_code == 0, result.output
    hibernated = current(cluster, "checkout-redesign")
    assert hibernated["spec"]["state"] == "Hibernated" and phase(hibernated) == "Hibernated"
    assert "is Hibernated" in result.output
    resumed = kube("workspace", "resume", "checkout-redesign", "--wait", "--timeout", "30s")
    assert resumed.exit_code == 0, resumed.output
    assert current(cluster, "checkout-redesign")["spec"]["state"] == "Active"
    assert phase(current(cluster, "checkout-redesign")) == "Ready"


@pytest.mark.parametrize(
    ("labels", "tool"),
    [
        ({"argocd.argoproj.io/instance": "team-orders-requests"}, "Argo CD"),
        (
            {"kustomize.toolkit.fluxcd.io/name": "requests", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"},
            "Flux",
        ),
        ({"helm.toolkit.fluxcd.io/name": "requests"}, "Flux"),
    ],
    ids=["argocd", "flux-kustomization", "flux-helmrelease"],
)
def test_workspace_state_of_a_gitops_managed_request_is_refused_unless_forced(
    kube: Devctl, cluster: ApiEmulator, labels: dict[str, str], tool: str
) -> None:
    cluster.create(yaml.safe_load(WORKSPACE_ITEM.read_text()))
    cluster.create(workspace_request(**labels))
    refused = kube("workspace", "hibernate", "checkout-redesign")
    assert refused.exit_code == 1, refused.output
    assert f"managed by {tool}" in refused.output and "the next sync would set spec.state back" in refused.output
    assert current(cluster, "checkout-redesign")["spec"].get("state", "Active") == "Active"
    forced = kube("workspace", "hibernate", "checkout-redesign", "--force", "-o", "json")
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.output.split("\n", 1)[1] if forced.output.startswith("warning") else forced.output)
    assert current(cluster, "checkout-redesign")["spec"]["state"] == "Hibernated"


def test_workspace_commands_refuse_requests_without_a_workspace(kube: Devctl, with_item: ApiEmulator) -> None:
    with_item.create(request())
    result = kube("workspace", "hibernate", "orders-dns")
    assert result.exit_code == 1 and "has no workspace action" in result.output
    assert (
        "state" not in current(with_item, "orders-dns")["spec"]
        or current(with_item, "orders-dns")["spec"]["state"] == "Active"
    )


# ---- init ------------------------------------------------------------------------------------------------------------


def fill(text: str, values: dict[str, Any]) -> str:
    """Fill the REQUIRED placeholders of a skeleton, as a person editing the file would."""
    lines = []
    for line in text.splitlines():
        key = line.strip().split(":", 1)[0]
        if line.rstrip().endswith("# REQUIRED: fill in") and key in values:
            line = line.split(":", 1)[0] + f": {json.dumps(values[key])}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_init_from_the_cluster_writes_a_skeleton_that_validates_once_filled(
    kube: Devctl, devctl: Devctl, with_item: ApiEmulator, ticket_item: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "orders-dns.yaml"
    result = kube("request", "init", "dns-ticket", "-f", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    skeleton = yaml.safe_load(text)
    assert skeleton["spec"] == {"catalogItem": "dns-ticket", "fields": {"host": None}}
    assert skeleton["metadata"]["namespace"] == TEAM
    assert "# REQUIRED" in text and "# ttl: 300" in text and "minimum: 60" in text
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "dns-ticket.yaml").write_text(yaml.safe_dump(ticket_item))
    assert devctl("validate", "request", str(out), "--catalog", str(catalog)).exit_code == 1
    out.write_text(fill(text, {"host": "orders"}))
    assert devctl("validate", "request", str(out), "--catalog", str(catalog)).exit_code == 0


def test_init_offline_from_a_catalog_folder(devctl: Devctl, tmp_path: Path) -> None:
    result = devctl("request", "init", "dev-workspace", "--catalog", "catalog")
    assert result.exit_code == 0, result.output
    text = result.output
    body = text[text.index("apiVersion:") :]
    assert list(yaml.safe_load(body)["spec"]["fields"]) == ["name", "owners"]  # required first; optional commented
    assert text.index("name:   # REQUIRED") < text.index("# size: medium")
    out = tmp_path / "ws.yaml"
    out.write_text(fill(text, {"name": "checkout", "owners": "team-orders-developers"}))
    assert devctl("validate", "request", str(out), "--catalog", "catalog").exit_code == 0
    missing = devctl("request", "init", "dev-workspac", "--catalog", "catalog")
    assert missing.exit_code == 3 and "did you mean 'dev-workspace'?" in missing.output


# ---- not found, unreachable ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("request", "get", "nope"),
        ("request", "status", "nope"),
        ("request", "logs", "nope"),
        ("request", "retry", "nope"),
        ("request", "abort", "nope", "--yes"),
        ("request", "escalate", "nope", "--reason", "x"),
        ("request", "approve-plan", "nope"),
        ("workspace", "hibernate", "nope"),
        ("request", "submit", "no-such-item", "--field", "a=1"),
        ("request", "init", "no-such-item"),
    ],
    ids=lambda a: "-".join(a[:2]),
)
def test_not_found_exits_3(kube: Devctl, cluster: ApiEmulator, args: tuple[str, ...]) -> None:
    result = kube(*args)
    assert result.exit_code == 3, result.output
    assert "not found" in result.output or "no catalog item named" in result.output


@pytest.fixture
def unreachable(tmp_path: Path) -> Path:
    """A kubeconfig whose server is a port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "gone", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u", "namespace": TEAM}}],
        "current-context": "gone",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    "args",
    [
        ("request", "list"),
        ("request", "get", "x"),
        ("request", "submit", "dns-ticket", "--field", "host=a"),
        ("request", "logs", "x"),
        ("request", "export", "-o", "csv"),
        ("request", "batch", "submit", "--dir", "examples"),
        ("workspace", "resume", "x"),
    ],
    ids=lambda a: "-".join(a[:2]),
)
def test_unreachable_cluster_exits_5(devctl: Devctl, unreachable: Path, args: tuple[str, ...]) -> None:
    result = devctl(*args, "--kubeconfig", str(unreachable), "--timeout", "5s")
    assert result.exit_code == 5, result.output
    assert "cannot reach the API server" in result.output
