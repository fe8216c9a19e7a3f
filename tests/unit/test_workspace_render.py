"""Workspace action, pure parts: rendering and validation, manifests, hibernation writes, idleness."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.actions.workspace import (
    HIBERNATED_REPLICAS_ANNOTATION,
    REQUEST_UID_LABEL,
    RESUMED_AT_ANNOTATION,
    TEAM_LABEL,
    RequestIdentity,
    hibernation_config,
    label_value,
    last_activity,
    namespace_manifest,
    observation_interval,
    render_workspace,
    resume_config,
    workspace_objects,
)
from orchestrator.api.actions import Action
from orchestrator.api.catalog import CatalogItem
from orchestrator.redaction import Redactor
from orchestrator.templates.errors import TemplateError

ROOT = Path(__file__).resolve().parents[2]
EMPTY_MEMBER = {"kind": "Group", "name": "{{ '' }}", "role": "view"}
WHO = RequestIdentity(uid="0b7c1f4e-uid", name="checkout", namespace="team-orders")
SCOPES: dict[str, Any] = {
    "fields": {"name": "checkout", "size": "medium", "owners": "team-orders-devs", "viewers": "engineering"},
    "request": {"name": "checkout", "namespace": "team-orders", "uid": WHO.uid},
    "secrets": {"db": {"password": "canary-workspace-secret-4411"}},
}
BASE: dict[str, Any] = {
    "name": "workspace",
    "type": "workspace",
    "workspace": {
        "namespace": "{{ request.namespace }}-{{ fields.name }}",
        "quota": {"cpu": "4", "memory": "8Gi", "pods": "{{ 10 * 2 }}", "storage": "50Gi"},
        "limits": {
            "default": {"cpu": "500m", "memory": "512Mi"},
            "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
            "max": {"cpu": "2", "memory": "4Gi"},
        },
        "members": [
            {"kind": "Group", "name": "{{ fields.owners }}", "role": "admin"},
            {"kind": "User", "name": "alice@example.com", "role": "edit"},
            {"kind": "Group", "name": "{{ fields.viewers }}", "role": "view"},
        ],
    },
}


def action(**changes: Any) -> Action:
    body = copy.deepcopy(BASE)
    body["workspace"].update(changes)
    return Action.model_validate(body)


def test_the_catalog_sample_renders_to_its_namespace_and_quantities() -> None:
    document = yaml.safe_load((ROOT / "catalog/workspaces/dev-workspace.yaml").read_text(encoding="utf-8"))
    item = CatalogItem.model_validate(document)
    [sample] = item.spec.fulfillment.automated
    rendered = render_workspace(sample, SCOPES, Redactor())
    assert rendered == {
        "namespace": "team-orders-checkout",
        "quota": {"cpu": "8", "memory": "16Gi", "pods": "50", "storage": "100Gi"},
        "limits": {
            "default": {"cpu": "500m", "memory": "512Mi"},
            "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
            "max": {"cpu": "4", "memory": "8Gi"},
        },
        "members": [
            {"kind": "Group", "name": "team-orders-devs", "role": "admin"},
            {"kind": "Group", "name": "engineering", "role": "view"},
        ],
        "networkIsolation": True,
        "hibernateAfter": "72h",
    }


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        ({"namespace": "{{ fields.name | upper }}"}, "workspace.namespace", "'CHECKOUT' is not a valid namespace"),
        ({"namespace": "x" * 64}, "workspace.namespace", "is not a valid namespace name"),
        ({"namespace": "team_orders"}, "workspace.namespace", "RFC 1123 label"),
        ({"quota": {"cpu": "lots"}}, "workspace.quota.cpu", "'lots' is not a Kubernetes quantity"),
        ({"quota": {"memory": "-1Gi"}}, "workspace.quota.memory", "is negative"),
        ({"quota": {"pods": "{{ true }}"}}, "workspace.quota.pods", "expected a Kubernetes quantity, got bool"),
        ({"quota": {"cpu": "{{ fields.nope }}"}}, "workspace.quota.cpu", "has no attribute 'nope'"),
        (
            {"limits": {"default": {"cpu": "4"}, "max": {"cpu": "2"}}},
            "workspace.limits.default.cpu",
            "default cpu 4 is more than max cpu 2",
        ),
        (
            {"limits": {"defaultRequest": {"memory": "1Gi"}, "default": {"memory": "512Mi"}}},
            "workspace.limits.defaultRequest.memory",
            "defaultRequest memory 1Gi is more than default memory 512Mi",
        ),
        (
            {"members": [{"kind": "User", "name": "a", "role": "view"}, {**EMPTY_MEMBER}]},
            "workspace.members.1.name",
            "a member needs a non-empty name",
        ),
        (
            {"members": [{"kind": "User", "name": "{{ secrets.db.password }}", "role": "view"}]},
            "workspace",
            "contains a secret value",
        ),
    ],
    ids=[
        "namespace-upper-case",
        "namespace-too-long",
        "namespace-underscore",
        "quota-not-quantity",
        "quota-negative",
        "quota-bool",
        "undefined-field",
        "default-above-max",
        "request-above-default",
        "empty-member",
        "secret-in-member",
    ],
)
def test_bad_input_is_one_error_at_the_field(changes: dict[str, Any], path: str, message: str) -> None:
    redactor = Redactor([SCOPES["secrets"]["db"]["password"]])
    with pytest.raises(TemplateError) as raised:
        render_workspace(action(**changes), SCOPES, redactor)
    assert ".".join(str(p) for p in raised.value.path) == path
    assert message in raised.value.message


def test_manifests_map_quota_limits_members_and_isolation() -> None:
    rendered = render_workspace(action(), SCOPES, Redactor())
    objects = {body["kind"] + "/" + body["metadata"]["name"]: body for _, body in workspace_objects(rendered, WHO)}
    assert sorted(objects) == [
        "LimitRange/workspace-limits",
        "NetworkPolicy/workspace-isolation",
        "ResourceQuota/workspace-quota",
        "RoleBinding/workspace-admin",
        "RoleBinding/workspace-edit",
        "RoleBinding/workspace-view",
    ]
    assert objects["ResourceQuota/workspace-quota"]["spec"]["hard"] == {
        "requests.cpu": "4",
        "limits.cpu": "4",
        "requests.memory": "8Gi",
        "limits.memory": "8Gi",
        "pods": "20",
        "requests.storage": "50Gi",
    }
    [limits] = objects["LimitRange/workspace-limits"]["spec"]["limits"]
    assert limits == {
        "type": "Container",
        "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
        "default": {"cpu": "500m", "memory": "512Mi"},
        "max": {"cpu": "2", "memory": "4Gi"},
    }
    edit = objects["RoleBinding/workspace-edit"]
    assert edit["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"}
    assert edit["subjects"] == [{"kind": "User", "name": "alice@example.com", "apiGroup": "rbac.authorization.k8s.io"}]
    isolation = objects["NetworkPolicy/workspace-isolation"]["spec"]
    assert isolation == {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {}}]}]}
    for body in objects.values():
        assert body["metadata"]["namespace"] == "team-orders-checkout"
        assert body["metadata"]["labels"][REQUEST_UID_LABEL] == WHO.uid


def test_optional_parts_are_left_out_and_duplicate_members_bound_once() -> None:
    duplicate = {"kind": "Group", "name": "devs", "role": "view"}
    rendered = render_workspace(
        action(quota=None, limits={"max": {"cpu": None}}, members=[duplicate, duplicate], networkIsolation=False),
        SCOPES,
        Redactor(),
    )
    assert "quota" not in rendered and "limits" not in rendered
    [(_, binding)] = workspace_objects(rendered, WHO)
    assert binding["metadata"]["name"] == "workspace-view"
    assert len(binding["subjects"]) == 1


def test_namespace_manifest_carries_request_labels_and_key() -> None:
    body = namespace_manifest({"namespace": "team-orders-checkout"}, WHO, "orchestrator-key-1")
    assert body["metadata"]["labels"] == {
        "orchestrator.dev/request": "checkout",
        "orchestrator.dev/request-namespace": "team-orders",
        "orchestrator.dev/request-uid": WHO.uid,
        TEAM_LABEL: "team-orders",
        "app.kubernetes.io/managed-by": "platform-orchestrator",
    }
    assert body["metadata"]["annotations"] == {"orchestrator.dev/idempotency-key": "orchestrator-key-1"}


def test_label_values_stay_valid_for_long_names() -> None:
    long = "a" * 80 + ".example"
    value = label_value(long)
    assert len(value) <= 63 and value != label_value("a" * 81 + ".example")
    assert label_value("short.name") == "short.name"


def workload(replicas: int | None, remembered: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web", "namespace": "ws", "resourceVersion": "7"}
    if remembered is not None:
        meta["annotations"] = {HIBERNATED_REPLICAS_ANNOTATION: remembered, "other": "kept"}
    spec = {} if replicas is None else {"replicas": replicas}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


@pytest.mark.parametrize(
    ("replicas", "remembered", "expected"),
    [
        (3, None, (0, "3")),
        (None, None, (0, "1")),
        (0, None, None),
        (0, "3", None),
        (2, "3", (0, "3")),
    ],
    ids=["scaled-down", "default-one", "already-zero", "already-hibernated", "scaled-up-while-hibernated"],
)
def test_hibernation_remembers_the_first_count(
    replicas: int | None, remembered: str | None, expected: tuple[int, str] | None
) -> None:
    config = hibernation_config(workload(replicas, remembered))
    if expected is None:
        assert config is None
        return
    assert config is not None
    assert config["spec"] == {"replicas": expected[0]}
    assert config["metadata"]["annotations"] == {HIBERNATED_REPLICAS_ANNOTATION: expected[1]}
    assert config["metadata"]["resourceVersion"] == "7"


@pytest.mark.parametrize(
    ("replicas", "remembered", "expected"),
    [(0, "3", 3), (0, "0", 0), (5, "3", 5), (0, "junk", 0), (0, None, None)],
    ids=["restores", "restores-zero", "keeps-a-later-scale", "bad-annotation", "not-hibernated-by-us"],
)
def test_resume_restores_only_annotated_workloads(replicas: int, remembered: str | None, expected: int | None) -> None:
    config = resume_config(workload(replicas, remembered))
    if expected is None:
        assert config is None
        return
    assert config is not None
    assert config["spec"] == {"replicas": expected}
    assert "annotations" not in config["metadata"]


def entry(manager: str, time: str, subresource: str | None = None) -> dict[str, Any]:
    found = {"manager": manager, "operation": "Update", "time": time}
    if subresource:
        found["subresource"] = subresource
    return found


def test_activity_ignores_our_writes_status_and_controllers() -> None:
    namespace = {"metadata": {"creationTimestamp": "2024-05-01T00:00:00Z"}}
    deployment = {
        "kind": "Deployment",
        "metadata": {
            "creationTimestamp": "2024-05-01T01:00:00Z",
            "managedFields": [
                entry("kubectl-client-side-apply", "2024-05-02T00:00:00Z"),
                entry("orchestrator-workspace", "2024-05-09T00:00:00Z"),
                entry("kube-controller-manager", "2024-05-09T00:00:00Z", "status"),
                entry("kube-controller-manager", "2024-05-09T00:00:00Z"),
                entry("argocd", "2024-05-09T00:00:00Z", "status"),
            ],
        },
    }
    found = last_activity(
        namespace, [deployment], own_manager="orchestrator-workspace", system_managers=("kube-controller-manager",)
    )
    assert found == datetime(2024, 5, 2, tzinfo=UTC)


def test_activity_counts_pod_creations_and_the_last_resume() -> None:
    namespace = {
        "metadata": {
            "creationTimestamp": "2024-05-01T00:00:00Z",
            "annotations": {RESUMED_AT_ANNOTATION: "2024-05-03T00:00:00Z"},
        }
    }
    pod = {"kind": "Pod", "metadata": {"creationTimestamp": "2024-05-04T10:00:00Z", "managedFields": []}}
    assert last_activity(namespace, [], own_manager="me", system_managers=()) == datetime(2024, 5, 3, tzinfo=UTC)
    assert last_activity(namespace, [pod], own_manager="me", system_managers=()) == datetime(2024, 5, 4, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("hibernate_after", "expected"),
    [(None, None), ("72h", 300.0), ("8m", 120.0), ("2s", 1.0)],
    ids=["none", "capped", "quarter", "at-least-a-second"],
)
def test_observation_interval(hibernate_after: str | None, expected: float | None) -> None:
    assert observation_interval(hibernate_after, 300.0) == expected
