"""Abort, retry, escalate, deletion with both policies, and the crash window between the POST and the status write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.jira_server import FakeJira
from tests.k8s import ApiEmulator

from .conftest import TEAM, request
from .harness import (
    EXPOSED,
    TOKEN,
    OperatorUnderTest,
    assert_kstatus,
    condition,
    is_true,
    operator_environment,
    phase,
    wait_until,
)

SR = "servicerequests"
NAME = "orders-dns"


def current(api: ApiEmulator) -> dict[str, Any]:
    obj = api.get(SR, NAME, TEAM)
    assert obj is not None
    return obj


def own_tickets(jira: FakeJira, api: ApiEmulator) -> list[dict[str, Any]]:
    uid = current(api)["metadata"]["uid"]
    return [
        i
        for i in jira.issues_with_label(f"orchestrator-{uid}")
        if "orchestrator-escalation" not in i["fields"]["labels"]
    ]


def open_ticket(api: ApiEmulator, jira: FakeJira) -> dict[str, Any]:
    wait_until(lambda: (current(api).get("status") or {}).get("actions", [{}])[0].get("externalRef"), what="ticket")
    [ticket] = own_tickets(jira, api)
    return ticket


def annotate(api: ApiEmulator, key: str, value: str) -> None:
    api.patch(SR, NAME, {"metadata": {"annotations": {f"orchestrator.dev/{key}": value}}}, TEAM)


@pytest.fixture
def running(
    cluster: ApiEmulator, ticket_item: dict[str, Any], start_operator: Callable[..., OperatorUnderTest]
) -> OperatorUnderTest:
    operator = start_operator()
    cluster.create(ticket_item)
    cluster.create(request())
    return operator


def test_abort_stops_and_comments_on_the_open_ticket(
    cluster: ApiEmulator, jira: FakeJira, running: OperatorUnderTest
) -> None:
    ticket = open_ticket(cluster, jira)
    annotate(cluster, "abort", "no longer needed")
    aborted = wait_until(lambda: phase(o := current(cluster)) == "Aborted" and o, what="Aborted")
    assert is_true(aborted, "Stalled", "Aborted")
    assert aborted["status"]["actions"][0]["state"] == "Aborted"
    comments = jira.issue(ticket["key"])["fields"]["comment"]["comments"]
    assert any("aborted: no longer needed" in c["body"] for c in comments)
    jira.complete(ticket["key"])
    time.sleep(1.0)
    assert phase(current(cluster)) == "Aborted"
    assert_kstatus(current(cluster))


def test_retry_reruns_a_failed_action_with_a_new_attempt(
    cluster: ApiEmulator, jira: FakeJira, running: OperatorUnderTest
) -> None:
    first = open_ticket(cluster, jira)
    jira.complete(first["key"], "Won't Do", status="Closed")
    failed = wait_until(lambda: phase(o := current(cluster)) == "Failed" and o, what="Failed")
    assert is_true(failed, "Stalled", "ActionFailed")
    assert "Won't Do" in condition(failed, "Stalled")["message"]  # type: ignore[index]
    annotate(cluster, "retry", "1")
    second = wait_until(lambda: [t for t in own_tickets(jira, cluster) if t["key"] != first["key"]], what="new ticket")
    assert len(second) == 1
    retried = current(cluster)
    assert retried["status"]["actions"][0]["attempts"] == 2
    assert retried["status"]["lastHandledRetry"] == "1"
    jira.complete(second[0]["key"])
    wait_until(lambda: phase(current(cluster)) == "Ready", what="Ready")
    assert len(own_tickets(jira, cluster)) == 2  # one per attempt, never more


def test_escalate_opens_a_linked_support_ticket_once(
    cluster: ApiEmulator, jira: FakeJira, running: OperatorUnderTest
) -> None:
    ticket = open_ticket(cluster, jira)
    jira.complete(ticket["key"], "Won't Do", status="Closed")
    wait_until(lambda: phase(current(cluster)) == "Failed", what="Failed")
    annotate(cluster, "escalate", "the database team rejected it, please help")
    escalation = wait_until(
        lambda: (current(cluster)["status"].get("escalation") or {}).get("ticket"), what="escalation"
    )
    assert escalation.startswith("OPS-")
    support = jira.issue(escalation)
    assert "Won't Do" in support["fields"]["description"]
    assert "please help" in support["fields"]["description"]
    links = support["fields"]["issuelinks"]
    assert any(
        (link.get("outwardIssue") or link.get("inwardIssue") or {}).get("key") == ticket["key"] for link in links
    )
    time.sleep(1.0)
    assert len([i for i in jira.issues.values() if i["key"].startswith("OPS-")]) == 1
    assert current(cluster)["status"]["escalation"]["reason"] == "the database team rejected it, please help"


@pytest.mark.parametrize(
    ("policy", "expected_status", "expected_comment"),
    [("Orphan", "Open", "left as it is"), ("Delete", "Closed", "was deleted")],
    ids=["orphan", "delete"],
)
def test_deletion_policies(
    policy: str,
    expected_status: str,
    expected_comment: str,
    cluster: ApiEmulator,
    jira: FakeJira,
    ticket_item: dict[str, Any],
    start_operator: Callable[..., OperatorUnderTest],
) -> None:
    start_operator()
    ticket_item["spec"]["deletionPolicy"] = policy
    cluster.create(ticket_item)
    cluster.create(request())
    ticket = open_ticket(cluster, jira)
    cluster.delete(SR, NAME, TEAM)
    wait_until(lambda: cluster.get(SR, NAME, TEAM) is None, what="request deleted")
    issue = jira.issue(ticket["key"])
    assert issue["fields"]["status"]["name"] == expected_status
    assert any(expected_comment in c["body"] for c in issue["fields"]["comment"]["comments"])


def test_deletion_survives_a_jira_outage_and_reports_stalled_past_the_deadline(
    cluster: ApiEmulator, jira: FakeJira, running: OperatorUnderTest
) -> None:
    open_ticket(cluster, jira)
    outage = jira.inject(status=503)
    cluster.delete(SR, NAME, TEAM)
    stalled = wait_until(
        lambda: is_true(o := cluster.get(SR, NAME, TEAM), "Stalled", "DeletionTimeout") and o, timeout=20
    )
    assert phase(stalled) == "Deleting"
    reasons = [e["reason"] for e in cluster.events(TEAM, involving=stalled)]
    assert "DeletionTimeout" in reasons
    outage.remove()
    wait_until(lambda: cluster.get(SR, NAME, TEAM) is None, timeout=20, what="deletion after the outage")


def test_a_ticket_already_gone_counts_as_cleaned_up(
    cluster: ApiEmulator, jira: FakeJira, running: OperatorUnderTest
) -> None:
    ticket = open_ticket(cluster, jira)
    jira.delete_issue(ticket["key"])
    cluster.delete(SR, NAME, TEAM)
    wait_until(lambda: cluster.get(SR, NAME, TEAM) is None, what="request deleted")


def test_crash_between_the_post_and_the_status_write_leaves_one_ticket(
    cluster: ApiEmulator,
    jira: FakeJira,
    ticket_item: dict[str, Any],
    operator_kubeconfig: Path,
    start_operator: Callable[..., OperatorUnderTest],
) -> None:
    """SIGKILL the operator process while its create is in flight, start a new one: exactly one ticket."""
    cluster.create(ticket_item)
    # The create is held for 2 s, then committed; the operator process is killed while it waits for the answer.
    held = jira.inject(method="POST", path="/rest/api/2/issue", delay=2.0, times=1)
    cluster.create(request())
    environment = {**os.environ, **operator_environment()}
    process = subprocess.Popen(
        [sys.executable, "-c", "from orchestrator.cli.operator_main import main; main()", "run",
         "--kubeconfig", str(operator_kubeconfig)],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        marked = wait_until(
            lambda: (current(cluster).get("status") or {}).get("actions", [{}])[0].get("idempotencyKey"), timeout=30
        )
        assert marked.startswith("orchestrator-key-")
        # The create is in flight once the held fault has fired (not merely once some other call was seen).
        wait_until(lambda: held.hits > 0 and jira.count(method="POST", path_prefix="/rest/api/2/issue") == 0)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    wait_until(lambda: len(jira.issues) == 1, timeout=10, what="the in-flight create to land")
    assert "externalRef" not in current(cluster)["status"]["actions"][0], "the crash must come before the status write"
    start_operator()
    adopted = wait_until(lambda: (current(cluster).get("status") or {}).get("actions", [{}])[0].get("externalRef"))
    assert len(own_tickets(jira, cluster)) == 1
    assert jira.count(method="POST", path_prefix="/rest/api/2/issue") == 1
    assert "adopted" in current(cluster)["status"]["actions"][0]["message"]
    jira.complete(adopted["id"])
    wait_until(lambda: phase(current(cluster)) == "Ready")


def test_no_secret_reaches_status_annotations_events_logs_or_tickets(
    cluster: ApiEmulator,
    jira: FakeJira,
    ticket_item: dict[str, Any],
    start_operator: Callable[..., OperatorUnderTest],
    captured_logs: list[str],
) -> None:
    """A canary credential (connection Secret) and a canary exposed Secret, on success and error paths."""
    start_operator()
    # Error paths first: an item whose ticket text reads a secret, a 401, a rejected create.
    leaky = {**ticket_item, "metadata": {"name": "leaky"}}
    leaky["spec"] = {**ticket_item["spec"]}
    leaky["spec"]["fulfillment"] = {
        "mode": "manual",
        "manual": [
            {
                "name": "ticket",
                "type": "jira",
                "jira": {"project": "DBA", "summary": "key {{ secrets['dns-api'].key }}"},
            }
        ],
    }
    cluster.create(leaky)
    cluster.create(ticket_item)
    cluster.create(request("leaky-request", catalogItem="leaky"))
    wait_until(lambda: is_true(cluster.get(SR, "leaky-request", TEAM), "Stalled", "TemplateError"))
    auth = jira.inject(status=401)
    cluster.create(request())
    wait_until(lambda: is_true(cluster.get(SR, NAME, TEAM), "Stalled", "AuthFailed"), what="AuthFailed")
    auth.remove()
    ticket = open_ticket(cluster, jira)
    jira.complete(ticket["key"])
    wait_until(lambda: phase(current(cluster)) == "Ready")
    jira.inject(method="POST", path="/rest/api/2/issue", status=400, body={"errorMessages": [f"echo {TOKEN}"]}, times=1)
    cluster.create(request("third", fields={"host": "third"}))
    failed = wait_until(lambda: phase(o := cluster.get(SR, "third", TEAM)) == "Failed" and o, what="third Failed")
    assert "echo ***" in condition(failed, "Stalled")["message"]  # type: ignore[index]
    for canary in (TOKEN, EXPOSED):
        for obj in cluster.list(SR, TEAM):
            assert canary not in str(obj.get("status")), f"secret in status of {obj['metadata']['name']}"
            assert canary not in str(obj["metadata"].get("annotations")), "secret in annotations"
            for version in cluster.versions(SR, obj["metadata"]["name"], TEAM):
                assert canary not in str(version.get("status"))
        assert canary not in str(cluster.events(TEAM)), "secret in an event"
        assert not [line for line in captured_logs if canary in line], "secret in a log line"
        assert not jira.find_text(canary), "secret in ticket text"
