"""Every JIRA fault the fake can inject ends with exactly one ticket per request, and a Ready request."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.fakes.jira_server import FakeJira
from tests.k8s import ApiEmulator

from .conftest import TEAM, request
from .harness import TOKEN, OperatorUnderTest, assert_kstatus, condition, is_true, phase, wait_until

SR = "servicerequests"
CREATE = "/rest/api/2/issue"


@dataclass
class Fault:
    inject: dict[str, Any]
    search_lag: float = 0.0
    stalls_with: str | None = None
    """The Stalled reason the request shows while the fault lasts (the fault is then removed)."""
    seen_message: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


FAULTS = {
    "429-retry-after": Fault(
        {"method": "POST", "path": CREATE, "status": 429, "retry_after": 1, "times": 1}, seen_message="rate limited"
    ),
    "503-twice": Fault({"method": "POST", "path": CREATE, "status": 503, "times": 2}),
    "500-outcome-unknown": Fault({"method": "POST", "path": CREATE, "status": 500, "times": 1}),
    "dropped-after-create": Fault({"method": "POST", "path": CREATE, "drop_after_commit": True, "times": 1}),
    "dropped-after-create-search-lags": Fault(
        {"method": "POST", "path": CREATE, "drop_after_commit": True, "times": 1}, search_lag=1.0
    ),
    "create-slower-than-timeout": Fault({"method": "POST", "path": CREATE, "delay": 3.5, "times": 1}),
    "poll-503": Fault({"method": "GET", "path": "/rest/api/2/issue/*", "status": 503, "times": 3}),
    "401": Fault({"status": 401}, stalls_with="AuthFailed"),
    "403": Fault({"status": 403}, stalls_with="AuthFailed"),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_fault_ends_with_exactly_one_ticket(
    fault: Fault,
    cluster: ApiEmulator,
    jira: FakeJira,
    ticket_item: dict[str, Any],
    start_operator: Callable[..., OperatorUnderTest],
    captured_logs: list[str],
) -> None:
    start_operator()
    cluster.create(ticket_item)
    jira.search_lag = fault.search_lag
    injected = jira.inject(**fault.inject)
    cluster.create(request())
    if fault.stalls_with is not None:
        stalled = wait_until(
            lambda: is_true(o := cluster.get(SR, "orders-dns", TEAM), "Stalled", fault.stalls_with) and o
        )
        assert_kstatus(stalled)
        message = condition(stalled, "Stalled")["message"]  # type: ignore[index]
        assert "JIRA" in message and TOKEN not in message
        calls = len(jira.calls)
        time.sleep(1.0)
        assert len(jira.calls) - calls <= 2, "an authentication failure must not hammer JIRA"
        injected.remove()
    uid = cluster.get(SR, "orders-dns", TEAM)["metadata"]["uid"]  # type: ignore[index]
    tickets = wait_until(lambda: jira.issues_with_label(f"orchestrator-{uid}"), timeout=20, what="a ticket")
    time.sleep(fault.search_lag + 0.5)
    jira.complete(tickets[0]["key"])
    ready = wait_until(lambda: phase(o := cluster.get(SR, "orders-dns", TEAM)) == "Ready" and o, timeout=20)
    assert len(jira.issues_with_label(f"orchestrator-{uid}")) == 1, "exactly one ticket per request"
    assert len(jira.issues) == 1
    for version in cluster.versions(SR, "orders-dns", TEAM):
        assert_kstatus(version)
    assert ready["status"]["actions"][0]["externalRef"]["id"] == tickets[0]["key"]
    if fault.seen_message:
        messages = [str((v.get("status") or {}).get("actions")) for v in cluster.versions(SR, "orders-dns", TEAM)]
        assert any(fault.seen_message in m for m in messages)
    assert not [line for line in captured_logs if TOKEN in line]


def test_search_outlasting_the_grace_period_never_duplicates_while_the_marker_is_fresh(
    cluster: ApiEmulator, jira: FakeJira, ticket_item: dict[str, Any], start_operator: Callable[..., OperatorUnderTest]
) -> None:
    """While the search lags but the grace period has not passed, the operator keeps searching, not creating."""
    start_operator(jira={"search_grace": 3.0})
    cluster.create(ticket_item)
    jira.search_lag = 2.0
    jira.inject(method="POST", path=CREATE, drop_after_commit=True, times=1)
    cluster.create(request())
    uid = wait_until(lambda: (o := cluster.get(SR, "orders-dns", TEAM)) and o["metadata"]["uid"])
    time.sleep(2.5)
    assert len(jira.issues_with_label(f"orchestrator-{uid}")) == 1
    assert jira.count(method="POST", path_prefix=CREATE) == 1
    wait_until(
        lambda: (cluster.get(SR, "orders-dns", TEAM) or {}).get("status", {}).get("actions", [{}])[0].get("externalRef")
    )
    assert jira.count(method="POST", path_prefix=CREATE) == 1
