"""Pure decisions of the request reconciler: resolution, ordering, the kstatus summary, minimal patches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.api.base import dump
from orchestrator.api.catalog import CatalogItem
from orchestrator.api.conditions import READY, RECONCILING, STALLED, Reason, find_condition
from orchestrator.api.environments import EnvironmentsConfig
from orchestrator.api.service_request import ActionStatus, ServiceRequestStatus
from orchestrator.reconcile.patches import merge_patch
from orchestrator.reconcile.request import (
    Blocked,
    CatalogLookup,
    Resolved,
    approval,
    ordered,
    parse_request,
    plan_actions,
    resolve,
    retry_failed,
)
from orchestrator.reconcile.status import Outcome, announcements, apply_outcome

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def item(**spec: Any) -> CatalogItem:
    base: dict[str, Any] = {
        "displayName": "DB",
        "category": "databases",
        "owner": "team-data",
        "version": "1.0.0",
        "fields": {
            "type": "object",
            "required": ["dbName"],
            "additionalProperties": False,
            "properties": {
                "dbName": {"type": "string", "pattern": "^[a-z]+$"},
                "size": {"type": "string", "enum": ["small", "large"], "default": "small"},
            },
        },
        "fulfillment": {
            "mode": "manual",
            "manual": [
                {"name": "second", "type": "jira", "dependsOn": ["first"], "jira": {"project": "A", "summary": "x"}},
                {"name": "first", "type": "jira", "jira": {"project": "A", "summary": "y"}},
                {"name": "third", "type": "jira", "jira": {"project": "A", "summary": "z"}},
            ],
        },
    }
    base.update(spec)
    return CatalogItem.model_validate(
        {"apiVersion": "orchestrator.dev/v1alpha1", "kind": "CatalogItem", "metadata": {"name": "db"}, "spec": base}
    )


def body(spec: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "orders-db",
            "namespace": "team-orders",
            "uid": "u-1",
            "generation": 2,
            "annotations": annotations or {},
        },
        "spec": spec,
    }


ENVIRONMENTS = EnvironmentsConfig.model_validate({"default": "dev", "environments": {"dev": {"region": "eu"}}})


@pytest.mark.parametrize(
    ("spec", "lookup", "reason", "phase"),
    [
        (
            {"catalogItem": "db", "fields": {"dbName": "x"}},
            CatalogLookup(None),
            Reason.CATALOG_ITEM_NOT_FOUND,
            "Pending",
        ),
        ({"catalogItem": "db", "fields": {}}, CatalogLookup(item()), Reason.INVALID_FIELDS, "Failed"),
        ({"catalogItem": "db", "fields": {"dbName": "X1"}}, CatalogLookup(item()), Reason.INVALID_FIELDS, "Failed"),
        (
            {"catalogItem": "db", "environment": "prod", "fields": {"dbName": "x"}},
            CatalogLookup(item()),
            Reason.ENVIRONMENT_NOT_FOUND,
            "Failed",
        ),
        ({"catalogItem": "db", "bundle": "b"}, CatalogLookup(item()), Reason.INVALID_SPEC, "Failed"),
        (
            {"catalogItem": "db", "fields": {"dbName": "x"}},
            CatalogLookup(None, problem="bad"),
            Reason.CATALOG_ITEM_INVALID,
            "Pending",
        ),
    ],
    ids=["item-missing", "required-missing", "pattern-mismatch", "unknown-environment", "both-targets", "item-invalid"],
)
def test_resolve_blocks_with_a_reason(spec: dict[str, Any], lookup: CatalogLookup, reason: str, phase: str) -> None:
    result = resolve(parse_request(body(spec)), lookup, ENVIRONMENTS)
    assert isinstance(result, Blocked)
    assert (result.reason, result.phase) == (reason, phase)


def test_field_errors_name_each_path() -> None:
    result = resolve(
        parse_request(body({"catalogItem": "db", "fields": {"size": "huge", "x": 1}})), CatalogLookup(item()), None
    )
    assert isinstance(result, Blocked)
    assert "spec.fields.dbName: missing required field 'dbName'" in result.message
    assert "spec.fields.size" in result.message
    assert "spec.fields.x: unknown field" in result.message


def test_resolve_applies_defaults_and_environment() -> None:
    result = resolve(
        parse_request(body({"catalogItem": "db", "fields": {"dbName": "x"}})),
        CatalogLookup(item(), "abc"),
        ENVIRONMENTS,
    )
    assert isinstance(result, Resolved)
    assert result.fields == {"dbName": "x", "size": "small"}
    assert (result.environment, dict(result.environment_settings), result.revision) == ("dev", {"region": "eu"}, "abc")


def test_approval_gate() -> None:
    gated = item(approval={"required": True, "riskClass": "high"})
    waiting = approval(parse_request(body({"catalogItem": "db"})), gated)
    assert isinstance(waiting, Blocked) and waiting.phase == "AwaitingApproval" and waiting.condition == "Approved"
    assert approval(parse_request(body({"catalogItem": "db"}, {"orchestrator.dev/approve": "alice"})), gated) == "alice"
    assert approval(parse_request(body({"catalogItem": "db"})), item()) is None


def test_order_keeps_list_order_where_dependencies_allow() -> None:
    names = [a.name for a in ordered(item().spec.fulfillment.manual)]
    assert names == ["first", "second", "third"]


@pytest.mark.parametrize(
    ("states", "expected_next", "failed", "done"),
    [
        ({}, "first", None, False),
        ({"first": "Succeeded"}, "second", None, False),
        ({"first": "Succeeded", "second": "Skipped"}, "third", None, False),
        ({"first": "Failed"}, None, "first", False),
        ({"first": "Succeeded", "second": "Succeeded", "third": "Succeeded"}, None, None, True),
        ({"first": "Waiting"}, "first", None, False),
    ],
    ids=["fresh", "after-first", "after-skip", "failed-stops", "all-done", "waiting-is-next"],
)
def test_plan_actions(states: dict[str, str], expected_next: str | None, failed: str | None, done: bool) -> None:
    actions = ordered(item().spec.fulfillment.manual)
    statuses = {name: ActionStatus(name=name, type="jira", state=state) for name, state in states.items()}  # type: ignore[arg-type]
    plan = plan_actions(actions, statuses)
    assert (plan.next.name if plan.next else None) == expected_next
    assert (plan.failed.name if plan.failed else None) == failed
    assert plan.all_done is done


def test_retry_resets_failed_actions_only() -> None:
    statuses = [
        ActionStatus(name="a", type="jira", state="Succeeded", attempts=1),
        ActionStatus(name="b", type="jira", state="Failed", attempts=2, idempotency_key="k"),
    ]
    result = retry_failed(statuses, now=NOW)
    assert [s.state for s in result] == ["Succeeded", "Pending"]
    assert result[1].attempts == 2 and result[1].idempotency_key is None


OUTCOMES = [
    Outcome("Pending", Reason.CATALOG_ITEM_NOT_FOUND, "missing", stalled=True),
    Outcome("Failed", Reason.INVALID_FIELDS, "bad", stalled=True),
    Outcome("AwaitingApproval", Reason.AWAITING_APPROVAL, "approve", progressing=False),
    Outcome("Provisioning", Reason.WAITING_FOR_BACKEND, "waiting"),
    Outcome("Provisioning", Reason.AUTH_FAILED, "401", stalled=True),
    Outcome("Ready", Reason.SUCCEEDED, "fulfilled", progressing=False),
    Outcome("Aborted", Reason.ABORTED, "stop", stalled=True),
    Outcome("Deleting", Reason.DELETING, "cleanup"),
]


@pytest.mark.parametrize("outcome", OUTCOMES, ids=[f"{o.phase}-{o.reason}" for o in OUTCOMES])
def test_kstatus_conditions_are_exclusive_and_current(outcome: Outcome) -> None:
    status = apply_outcome(ServiceRequestStatus(), outcome, generation=3, now=NOW)
    trues = [c.type for c in status.conditions if c.type in (READY, RECONCILING, STALLED) and c.status == "True"]
    assert len(trues) <= 1
    assert status.observed_generation == 3
    assert all(c.observed_generation == 3 for c in status.conditions)
    ready = find_condition(status.conditions, READY)
    assert ready is not None and (ready.status == "True") == (outcome.phase == "Ready")
    stalled = find_condition(status.conditions, STALLED)
    assert stalled is not None and (stalled.status == "True") == outcome.stalled
    if outcome.phase in ("Provisioning", "Deleting") and not outcome.stalled:
        assert trues == [RECONCILING]


def test_unchanged_outcome_is_a_no_op_write() -> None:
    first = apply_outcome(ServiceRequestStatus(), OUTCOMES[3], generation=1, now=NOW)
    again = apply_outcome(first, OUTCOMES[3], generation=1, now=NOW + timedelta(minutes=5))
    assert merge_patch(dump(first), dump(again)) == {}
    assert announcements(first, again) == []


def test_transition_time_moves_only_on_status_change() -> None:
    first = apply_outcome(ServiceRequestStatus(), OUTCOMES[3], generation=1, now=NOW)
    later = apply_outcome(
        first, Outcome("Provisioning", Reason.WAITING_FOR_BACKEND, "other"), generation=1, now=NOW + timedelta(hours=1)
    )
    ready_before = find_condition(first.conditions, READY)
    ready_after = find_condition(later.conditions, READY)
    assert ready_before is not None and ready_after is not None
    assert ready_after.last_transition_time == ready_before.last_transition_time
    done = apply_outcome(later, OUTCOMES[5], generation=1, now=NOW + timedelta(hours=2))
    ready_done = find_condition(done.conditions, READY)
    assert ready_done is not None and ready_done.last_transition_time == NOW + timedelta(hours=2)


def test_announcements_one_event_per_transition() -> None:
    before = ServiceRequestStatus(actions=[ActionStatus(name="t", type="jira", state="Pending")])
    after = apply_outcome(
        before.model_copy(update={"actions": [ActionStatus(name="t", type="jira", state="Waiting", attempts=1)]}),
        OUTCOMES[3],
        generation=1,
        now=NOW,
    )
    events = announcements(before, after)
    # The action's change came with a phase change: one event, naming the action.
    assert [e.reason for e in events] == [Reason.WAITING_FOR_BACKEND]
    assert "action 't' waiting" in events[0].message
    # An action's change without a phase change is an event of its own.
    step = after.model_copy(update={"actions": [ActionStatus(name="t", type="jira", state="Succeeded", attempts=1)]})
    assert [e.reason for e in announcements(after, step)] == ["ActionSucceeded"]
    # A failure keeps its own Warning event next to the phase's.
    broken = after.model_copy(update={"actions": [ActionStatus(name="t", type="jira", state="Failed", attempts=1)]})
    failed = apply_outcome(broken, OUTCOMES[1], generation=1, now=NOW)
    events = announcements(after, failed)
    assert [e.type for e in events] == ["Warning", "Warning"] and events[0].reason == "ActionFailed"
    # Nothing changed: no event.
    assert announcements(failed, failed) == []


@pytest.mark.parametrize(
    ("old", "new", "patch"),
    [
        ({"a": 1}, {"a": 1}, {}),
        ({"a": 1}, {"a": 2}, {"a": 2}),
        ({"a": 1, "b": 2}, {"a": 1}, {"b": None}),
        ({"m": {"x": 1, "y": 2}}, {"m": {"x": 1}}, {"m": {"y": None}}),
        ({"l": [1, 2]}, {"l": [1]}, {"l": [1]}),
        ({}, {"m": {"x": 1}}, {"m": {"x": 1}}),
    ],
    ids=["same", "changed", "removed", "nested-removed", "list-replaced", "added-map"],
)
def test_merge_patch(old: dict[str, Any], new: dict[str, Any], patch: dict[str, Any]) -> None:
    assert merge_patch(old, new) == patch


def test_unreadable_status_is_rebuilt_and_bad_spec_reported() -> None:
    view = parse_request({"metadata": {"name": "x"}, "spec": {"fields": {}}, "status": {"phase": "Bogus"}})
    assert view.spec is None and view.spec_problem is not None and "exactly one" in view.spec_problem
    assert view.status.phase == "Pending"
