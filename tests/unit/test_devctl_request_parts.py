"""The pure parts of `devctl request`: field flags, ages, settlement, plan selection, GitOps detection, table
fitting, CSV export, the init skeleton and the log merge."""

from __future__ import annotations

import copy
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.api.catalog import CatalogItem
from orchestrator.cli.common import table_lines
from orchestrator.cli.request_fields import FieldInputError, collect_fields, parse_field, parse_scalar, split_key
from orchestrator.cli.request_init import skeleton
from orchestrator.cli.request_logs import LogEntry, event_entries, merge, pod_log_entries, status_entries
from orchestrator.cli.request_submit import build_manifest, check_manifest
from orchestrator.cli.request_view import (
    export_csv,
    fit_rows,
    gitops_manager,
    has_workspace_action,
    human_age,
    list_rows,
    select_plan,
    settlement,
)

ITEM: dict[str, Any] = {
    "apiVersion": "orchestrator.dev/v1alpha1",
    "kind": "CatalogItem",
    "metadata": {"name": "postgresql-standard"},
    "spec": {
        "displayName": "PostgreSQL",
        "description": "A database.",
        "category": "databases",
        "owner": "team-data",
        "version": "1.4.0",
        "fields": {
            "type": "object",
            "required": ["dbName", "backup"],
            "additionalProperties": False,
            "properties": {
                "size": {"type": "string", "enum": ["small", "medium"], "default": "small", "title": "Size"},
                "dbName": {"type": "string", "pattern": "^[a-z]{3,20}$", "description": "Database name."},
                "replicas": {"type": "integer", "minimum": 1},
                "backup": {
                    "type": "object",
                    "required": ["window"],
                    "properties": {
                        "window": {"type": "string", "examples": ["03:00-04:00"]},
                        "days": {"type": "integer", "default": 7},
                    },
                },
            },
        },
        "fulfillment": {
            "mode": "manual",
            "manual": [{"name": "t", "type": "jira", "jira": {"project": "DBA", "summary": "db"}}],
        },
    },
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("3", 3),
        ("1.5", 1.5),
        ("true", True),
        ("orders", "orders"),
        ("", ""),
        ("null", None),
        ('"3"', "3"),
        ("2026-05-01", "2026-05-01"),  # dates stay strings, as Kubernetes reads YAML
        ("[a, b]", ["a", "b"]),
        ("{cpu: 1}", {"cpu": 1}),
        ("note: with a colon", "note: with a colon"),
        ("- not a list", "- not a list"),
        ("[unclosed", "[unclosed"),
    ],
    ids=lambda v: repr(v),
)
def test_field_values_are_yaml_scalars(raw: str, expected: Any) -> None:
    assert parse_scalar(raw) == expected


def test_dotted_keys_nest_and_escaped_dots_do_not() -> None:
    assert parse_field("db.size=small") == (("db", "size"), "small")
    assert split_key(r"labels.app\.kubernetes\.io/name") == ("labels", "app.kubernetes.io/name")
    for bad in ("nokey", "=1", "a..b=1", ".a=1"):
        with pytest.raises(FieldInputError, match="--field"):
            parse_field(bad)


def test_files_merge_in_order_and_flags_win(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("size: small\nbackup: {window: '01:00-02:00', days: 3}\n")
    manifest = tmp_path / "request.yaml"  # a whole ServiceRequest: its spec.fields
    manifest.write_text(yaml.safe_dump({"kind": "ServiceRequest", "spec": {"fields": {"backup": {"days": 14}}}}))
    values = collect_fields([base, manifest], ["replicas=3", "backup.window=03:00-04:00", "size=medium"])
    assert values == {"size": "medium", "replicas": 3, "backup": {"window": "03:00-04:00", "days": 14}}
    with pytest.raises(FieldInputError, match="'size' is already set to 'medium', which is not an object"):
        collect_fields([], ["size=medium", "size.x=1"])
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n")
    with pytest.raises(FieldInputError, match="expected a mapping of field values"):
        collect_fields([listed], [])


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=-5), "<invalid>"),
        (timedelta(seconds=-1), "0s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(seconds=119), "119s"),
        (timedelta(minutes=5, seconds=30), "5m30s"),
        (timedelta(minutes=6), "6m"),
        (timedelta(minutes=45, seconds=10), "45m"),
        (timedelta(hours=3, minutes=20), "3h20m"),
        (timedelta(hours=20), "20h"),
        (timedelta(days=2, hours=4), "2d4h"),
        (timedelta(days=10, hours=5), "10d"),
        (timedelta(days=365 * 3 + 20), "3y20d"),
        (timedelta(days=365 * 9), "9y"),
    ],
    ids=lambda v: str(v),
)
def test_ages_read_like_kubectl(delta: timedelta, text: str) -> None:
    assert human_age(delta) == text


def sr(
    *,
    generation: int = 1,
    observed: int | None = 1,
    phase: str | None = None,
    ready: str | None = None,
    stalled: str | None = None,
    stalled_generation: int | None = None,
) -> dict[str, Any]:
    conditions = []
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready, "reason": "R", "message": "ready message"})
    if stalled is not None:
        conditions.append(
            {
                "type": "Stalled",
                "status": stalled,
                "reason": "ActionFailed",
                "message": "it broke",
                "observedGeneration": stalled_generation or generation,
            }
        )
    status: dict[str, Any] = {"conditions": conditions}
    if observed is not None:
        status["observedGeneration"] = observed
    if phase is not None:
        status["phase"] = phase
    return {"metadata": {"name": "x", "generation": generation}, "status": status}


@pytest.mark.parametrize(
    ("obj", "phase", "state"),
    [
        (sr(observed=None), None, "pending"),
        (sr(phase="Provisioning", ready="False"), None, "pending"),
        (sr(phase="Ready", ready="True"), None, "ready"),
        (sr(phase="Ready", ready="True", generation=2, observed=1), None, "pending"),
        (sr(phase="Failed", ready="False", stalled="True"), None, "failed"),
        (sr(phase="Aborted", ready="False"), None, "failed"),
        (
            sr(phase="Provisioning", ready="False", stalled="True", generation=2, observed=2, stalled_generation=1),
            None,
            "pending",
        ),
        (sr(phase="Ready", ready="True"), "Hibernated", "pending"),
        (sr(phase="Hibernated", ready="True"), "Hibernated", "ready"),
        (sr(phase="Hibernated", ready="True"), None, "ready"),
    ],
    ids=[
        "no-status",
        "provisioning",
        "ready",
        "ready-for-an-older-spec",
        "stalled",
        "aborted",
        "stalled-for-an-older-spec",
        "ready-but-not-hibernated-yet",
        "hibernated",
        "hibernated-is-ready",
    ],
)
def test_settlement(obj: dict[str, Any], phase: str | None, state: str) -> None:
    assert settlement(obj, phase=phase).state == state


def plans(*hashes: str, state: str = "Waiting") -> dict[str, Any]:
    return {
        "metadata": {"name": "db"},
        "status": {
            "phase": "Provisioning",
            "actions": [
                {"name": f"a{i}", "type": "terraform", "state": state, "plan": {"hash": h, "add": 1}}
                for i, h in enumerate(hashes)
            ],
        },
    }


def test_plan_selection() -> None:
    assert select_plan(plans("abc123"), None) == ("a0", {"hash": "abc123", "add": 1})
    assert select_plan(plans("abc123", "abd456"), "abd")[0] == "a1"
    for obj, wanted, message in [
        (plans("abc123", state="Succeeded"), None, "no plan awaits approval on db"),
        (plans("abc123", "abd456"), None, "choose one with --hash"),
        (plans("abc123", "abd456"), "ab", "matches more than one plan"),
        (plans("abc123"), "fff", "plan fff is not awaiting approval; awaiting: abc123 (action a0)"),
    ]:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            select_plan(obj, wanted)


@pytest.mark.parametrize(
    ("meta", "manager"),
    [
        ({}, None),
        ({"labels": {"app": "x"}}, None),
        ({"labels": {"argocd.argoproj.io/instance": "apps"}}, "Argo CD (label argocd.argoproj.io/instance=apps)"),
        ({"annotations": {"argocd.argoproj.io/tracking-id": "apps:x"}}, "Argo CD (annotation"),
        (
            {"labels": {"kustomize.toolkit.fluxcd.io/name": "reqs"}},
            "Flux (label kustomize.toolkit.fluxcd.io/name=reqs)",
        ),
        ({"labels": {"helm.toolkit.fluxcd.io/name": "reqs"}}, "Flux (label helm.toolkit.fluxcd.io/name=reqs)"),
        ({"labels": {"app.kubernetes.io/instance": "reqs"}}, "Argo CD (label tracking) or Helm"),
    ],
    ids=["none", "unrelated", "argocd-label", "argocd-annotation", "flux-kustomize", "flux-helm", "instance-label"],
)
def test_gitops_manager(meta: dict[str, Any], manager: str | None) -> None:
    found = gitops_manager({"metadata": meta})
    assert (found is None) if manager is None else (found is not None and found.startswith(manager))


def test_workspace_action_is_found_in_status_or_item() -> None:
    assert has_workspace_action({"status": {"actions": [{"type": "workspace"}]}}, None)
    item = {"spec": {"fulfillment": {"automated": [{"type": "workspace"}]}}}
    assert has_workspace_action({}, item)
    assert not has_workspace_action({"status": {"actions": [{"type": "jira"}]}}, ITEM)


def listed(name: str, namespace: str, message: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": "2026-05-01T00:00:00Z",
            "generation": 1,
        },
        "spec": {"catalogItem": "postgresql-standard"},
        "status": {
            "phase": "Provisioning",
            "conditions": [{"type": "Ready", "status": "False", "message": message}],
            "outputs": {"endpoint": "db,1", "port": 5432},
        },
    }


def test_fitting_cuts_the_message_first_and_never_ready_or_age() -> None:
    now = datetime(2026, 5, 1, 1, tzinfo=UTC)
    objects = [listed("orders-db", "team-orders", "waiting for the ticket DBA-1 to be done " * 3)]
    headers, rows = list_rows(objects, now=now, all_namespaces=False)
    fitted = fit_rows(headers, rows, 80)
    lines = table_lines(headers, fitted, max_width=80)
    assert max(len(line) for line in lines) <= 80
    assert fitted[0][:5] == rows[0][:5]  # name, item, phase, ready, age untouched
    assert fitted[0][5].endswith("…") and rows[0][5].startswith(fitted[0][5][:-1])
    assert fit_rows(headers, rows, 400) == rows  # nothing to cut when it fits


def test_export_csv_is_sorted_and_quoted() -> None:
    now = datetime(2026, 5, 1, 0, 30, tzinfo=UTC)
    text = export_csv([listed("b", "ns", "m"), listed("a", "ns", "m")], now=now)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["namespace", "name", "item", "phase", "ready", "age", "output.endpoint", "output.port"],
        ["ns", "a", "postgresql-standard", "Provisioning", "False", "30m", "db,1", "5432"],
        ["ns", "b", "postgresql-standard", "Provisioning", "False", "30m", "db,1", "5432"],
    ]
    assert '"db,1"' in text


def test_skeleton_is_valid_yaml_with_required_fields_first() -> None:
    text = skeleton(ITEM, namespace="team-orders", environments=["dev", "prod"], default_environment="dev")
    body = yaml.safe_load(text)
    assert body["metadata"] == {"name": "my-postgresql-standard", "namespace": "team-orders"}
    assert body["spec"] == {
        "catalogItem": "postgresql-standard",
        "fields": {"dbName": None, "backup": {"window": None}},
    }
    assert text.index("dbName:") < text.index("backup:") < text.index("# size: small")
    assert "# type: string; one of: small, medium; default: small" in text
    assert "# replicas: <integer>" in text and "# days: 7" in text and "e.g. 03:00-04:00" in text
    assert "# environment: one of dev, prod (default: dev)" in text


def test_manifest_checks_use_the_validator_and_generated_names_fit() -> None:
    model = CatalogItem.model_validate(copy.deepcopy(ITEM))
    manifest = build_manifest(
        "a" * 70, {"dbName": "X"}, namespace="team", name=None, environment=None, requested_by="alice"
    )
    assert len(manifest["metadata"]["generateName"]) + 5 <= 63
    good = build_manifest(
        "postgresql-standard",
        {"dbName": "orders", "backup": {"window": "x"}},
        namespace="team",
        name=None,
        environment=None,
        requested_by="",
    )
    assert check_manifest(good, {"postgresql-standard": model}, None) == []
    bad = {**good, "spec": {**good["spec"], "fields": {"dbName": "X", "size": "huge"}}}
    problems = [d.render() for d in check_manifest(bad, {"postgresql-standard": model}, None)]
    assert problems == [
        "request: error: spec.fields.backup: missing required field 'backup'",
        "request: error: spec.fields.dbName: 'X' does not match the pattern ^[a-z]{3,20}$",
        "request: error: spec.fields.size: expected one of small, medium; got 'huge'",
    ]
    missing = check_manifest(good, {}, None)
    assert [d.message for d in missing] == ["no catalog item named 'postgresql-standard' in the cluster"]


def at(second: int, micro: int = 0) -> str:
    return datetime(2026, 5, 1, 10, 0, second, micro, tzinfo=UTC).isoformat()


def test_log_merge_orders_by_time_and_within_a_second_start_events_then_status() -> None:
    obj = {
        "metadata": {"creationTimestamp": "2026-05-01T10:00:00Z"},
        "status": {
            "actions": [
                {
                    "name": "ticket",
                    "type": "jira",
                    "state": "Succeeded",
                    "attempts": 1,
                    "startedAt": "2026-05-01T10:00:01Z",
                    "finishedAt": "2026-05-01T10:00:03Z",
                    "message": "done",
                    "externalRef": {"system": "jira", "id": "DBA-1"},
                }
            ],
            "escalation": {"reason": "help", "ticket": "OPS-1", "at": "2026-05-01T10:00:05Z"},
        },
    }
    events = [
        {"type": "Normal", "reason": "Succeeded", "message": "Ready: fulfilled", "lastTimestamp": at(3, 900)},
        {"type": "Normal", "reason": "ActionWaiting", "message": "action 'ticket' waiting", "lastTimestamp": at(1, 5)},
        {"type": "Warning", "reason": "Retry", "message": "again", "eventTime": at(4), "count": 3},
    ]
    entries = merge([*event_entries(events), *status_entries(obj)])
    assert [(e.source, e.message) for e in entries] == [
        ("action/ticket", "started (jira, attempt 1)"),
        ("event/Normal", "ActionWaiting: action 'ticket' waiting"),
        ("event/Normal", "Succeeded: Ready: fulfilled"),
        ("action/ticket", "succeeded [jira DBA-1]: done"),
        ("event/Warning", "Retry: again (x3)"),
        ("request", "escalated: help (ticket OPS-1)"),
    ]
    assert [e.action for e in entries[:2]] == ["ticket", "ticket"]


def test_pod_log_lines_with_nanosecond_timestamps() -> None:
    fallback = datetime(2026, 1, 1, tzinfo=UTC)
    text = "2026-05-01T10:00:00.123456789Z init ok\nno stamp here\n\n2026-05-01T10:00:02Z done\n"
    entries = pod_log_entries(text, "terraform/db", "db", fallback)
    assert entries == [
        LogEntry(datetime(2026, 5, 1, 10, 0, 0, 123456, tzinfo=UTC), "terraform/db", "init ok", "db"),
        LogEntry(fallback, "terraform/db", "no stamp here", "db"),
        LogEntry(datetime(2026, 5, 1, 10, 0, 2, tzinfo=UTC), "terraform/db", "done", "db"),
    ]


def test_progress_is_a_live_line_on_a_terminal_and_plain_lines_otherwise(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.console import Console

    from orchestrator.cli.request_view import Settlement
    from orchestrator.cli.request_wait import LineProgress, LiveProgress

    obj = {"metadata": {"name": "orders-db"}}
    screen = io.StringIO()
    live = LiveProgress(Console(file=screen, force_terminal=True, width=100))
    live.update(obj, Settlement("pending", "Provisioning", "ActionInProgress", "planning"))
    live.log(LogEntry(datetime(2026, 5, 1, tzinfo=UTC), "event/Normal", "Planned: ok"))
    live.close()
    assert "orders-db: Provisioning (ActionInProgress): planning" in screen.getvalue()
    assert "2026-05-01T00:00:00Z  event/Normal" in screen.getvalue()

    lines = LineProgress(err=False)
    for phase, reason in [("Pending", ""), ("Provisioning", "A"), ("Provisioning", "A"), ("Ready", "Succeeded")]:
        lines.update(obj, Settlement("pending", phase, reason, "m"))
    assert capsys.readouterr().out.splitlines() == [
        "orders-db: Pending: m",
        "orders-db: Provisioning (A): m",
        "orders-db: Ready (Succeeded): m",
    ]
