"""The workspace action driven directly against the API emulator (real server-side apply and managedFields).

Each case calls ``WorkspaceRunner`` the way the request handler does (render, run/changed, set_state, observe,
teardown) and checks what reached the API server, including the writes it did not send.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kmock
import pytest

from orchestrator.actions.base import ActionContext, StepResult
from orchestrator.actions.workspace import (
    HIBERNATED_AT_ANNOTATION,
    HIBERNATED_REPLICAS_ANNOTATION,
    IDEMPOTENCY_ANNOTATION,
    REQUEST_UID_LABEL,
    RESUMED_AT_ANNOTATION,
    WorkspaceRunner,
)
from orchestrator.api.actions import Action
from orchestrator.api.conditions import Reason
from orchestrator.api.service_request import ActionStatus
from orchestrator.clients.kubernetes import ClusterAccess, KubernetesApi
from orchestrator.config import WorkspaceSettings
from orchestrator.redaction import Redactor
from tests.k8s import ApiEmulator
from tests.rbac_coverage import OPERATOR_TOKEN

UID = "5d0c3a52-7d8e-4c4b-9d56-1f1f0b7a9e10"
NS = "team-orders-checkout"
MANAGER = "orchestrator-workspace"
BLOCK: dict[str, Any] = {
    "namespace": "{{ request.namespace }}-{{ fields.name }}",
    "quota": {"cpu": "4", "memory": "8Gi", "pods": 20, "storage": "50Gi"},
    "limits": {"default": {"cpu": "500m", "memory": "512Mi"}, "max": {"cpu": "2", "memory": "4Gi"}},
    "members": [
        {"kind": "Group", "name": "team-orders-devs", "role": "admin"},
        {"kind": "Group", "name": "engineering", "role": "view"},
    ],
    "hibernateAfter": "1h",
}
SCOPES = {"fields": {"name": "checkout"}, "request": {"name": "checkout", "namespace": "team-orders", "uid": UID}}
CHILDREN = ("resourcequotas", "limitranges", "rolebindings", "networkpolicies")


def make_action(**changes: Any) -> Action:
    block = copy.deepcopy(BLOCK)
    block.update(changes)
    return Action.model_validate({"name": "workspace", "type": "workspace", "workspace": block})


@dataclass
class Workspace:
    """The runner, its action, and what it recorded as pending markers."""

    api: ApiEmulator
    runner: WorkspaceRunner
    pending: list[ActionStatus] = field(default_factory=list)
    action: Action = field(default_factory=make_action)

    def ctx(self, uid: str = UID) -> ActionContext:
        async def record(status: ActionStatus) -> None:
            self.pending.append(status)

        return ActionContext(
            uid=uid,
            name="checkout",
            namespace="team-orders",
            scopes=SCOPES,
            redactor=Redactor(),
            record_pending=record,
            backoff_initial=0.1,
            backoff_max=1.0,
        )

    def rendered(self) -> dict[str, Any]:
        return self.runner.render(self.action, SCOPES, Redactor())

    async def run(self, status: ActionStatus | None = None, uid: str = UID) -> StepResult:
        status = status or ActionStatus(name="workspace", type="workspace")
        return await self.runner.run(self.action, self.rendered(), status, self.ctx(uid))

    def children(self) -> dict[str, dict[str, Any]]:
        return {f"{r}/{o['metadata']['name']}": o for r in CHILDREN for o in self.api.list(r, NS)}

    def versions(self) -> dict[str, str]:
        objects = {**self.children(), "namespace": self.api.get("namespaces", NS)}
        return {key: obj["metadata"]["resourceVersion"] for key, obj in objects.items() if obj}


@pytest.fixture
async def kube(k8s_api: ApiEmulator) -> AsyncIterator[KubernetesApi]:
    client = await KubernetesApi.connect(ClusterAccess(server=k8s_api.url, token=OPERATOR_TOKEN))
    yield client
    await client.close()


@pytest.fixture
def ws(k8s_api: ApiEmulator, kube: KubernetesApi) -> Workspace:
    return Workspace(k8s_api, WorkspaceRunner(kube, WorkspaceSettings(poll_interval=0.5, conflict_retry_interval=2)))


def workload(kind: str, name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
        },
    }


def replicas(api: ApiEmulator) -> dict[str, tuple[int, str | None]]:
    found = {}
    for resource in ("deployments", "statefulsets"):
        for obj in api.list(resource, NS):
            remembered = (obj["metadata"].get("annotations") or {}).get(HIBERNATED_REPLICAS_ANNOTATION)
            found[obj["metadata"]["name"]] = (obj["spec"]["replicas"], remembered)
    return found


async def next_second() -> None:
    """managedFields times have one-second resolution: let the API server's clock reach a new second."""
    start = datetime.now(UTC).replace(microsecond=0)
    while datetime.now(UTC).replace(microsecond=0) == start:
        await asyncio.sleep(0.02)


async def test_creates_everything_and_a_rerun_writes_nothing_new(ws: Workspace) -> None:
    step = await ws.run()

    assert step.status.state == "Succeeded", step.status.message
    assert step.wait is None and step.stall_reason is None
    assert step.status.outputs == {"namespace": NS}
    assert (step.status.external_ref.system, step.status.external_ref.id) == ("kubernetes", NS)  # type: ignore[union-attr]
    [pending] = ws.pending
    assert pending.state == "Running" and pending.idempotency_key == step.status.idempotency_key
    assert step.status.attempts == 1 and step.status.started_at == pending.started_at
    namespace = ws.api.get("namespaces", NS)
    assert namespace is not None
    assert namespace["metadata"]["labels"] == {
        "orchestrator.dev/request": "checkout",
        "orchestrator.dev/request-namespace": "team-orders",
        "orchestrator.dev/request-uid": UID,
        "orchestrator.dev/team": "team-orders",
        "app.kubernetes.io/managed-by": "platform-orchestrator",
    }
    assert namespace["metadata"]["annotations"] == {IDEMPOTENCY_ANNOTATION: pending.idempotency_key}
    children = ws.children()
    assert sorted(children) == [
        "limitranges/workspace-limits",
        "networkpolicies/workspace-isolation",
        "resourcequotas/workspace-quota",
        "rolebindings/workspace-admin",
        "rolebindings/workspace-view",
    ]
    assert children["resourcequotas/workspace-quota"]["spec"]["hard"]["limits.cpu"] == "4"
    assert children["rolebindings/workspace-admin"]["subjects"][0]["name"] == "team-orders-devs"
    for obj in children.values():
        assert any(e["manager"] == MANAGER and e["operation"] == "Apply" for e in obj["metadata"]["managedFields"])

    before = ws.versions()
    ws.api.reset_access()
    again = await ws.runner.changed(ws.action, ws.rendered(), step.status, ws.ctx())

    assert again.status.state == "Succeeded" and again.status.idempotency_key == step.status.idempotency_key
    assert ws.versions() == before
    verbs = {access.verb for access in ws.api.access_counts()}
    assert "create" not in verbs and "delete" not in verbs
    assert len(ws.pending) == 1


async def test_a_crash_after_the_create_adopts_the_namespace(ws: Workspace, kube: KubernetesApi) -> None:
    step = await ws.run()
    [pending] = ws.pending
    uid = ws.api.get("namespaces", NS)["metadata"]["uid"]  # type: ignore[index]
    # The process died right after creating the namespace: only the pending marker reached the status.
    for key in ws.children():
        resource, name = key.split("/")
        ws.api.delete(resource, name, NS)
    ws.api.reset_access()

    adopted = await ws.run(pending)

    assert adopted.status.state == "Succeeded"
    assert "adopted" in (adopted.status.message or "")
    assert adopted.status.idempotency_key == step.status.idempotency_key
    assert ws.api.get("namespaces", NS)["metadata"]["uid"] == uid  # type: ignore[index]
    assert len(ws.children()) == 5
    assert len(ws.pending) == 1
    assert not [a for a in ws.api.access_counts() if a.verb == "create" and a.resource == "namespaces"]


async def test_an_outage_after_the_create_keeps_the_pending_marker(ws: Workspace) -> None:
    ws.api.kmock[kmock.method.PATCH, kmock.resource("v1/resourcequotas")] << 503

    step = await ws.run()

    [pending] = ws.pending
    assert step.status.state == "Running" and step.status.idempotency_key == pending.idempotency_key
    assert step.reason == Reason.BACKEND_UNAVAILABLE and step.wait is not None and step.stall_reason is None
    assert step.status.temporary_failures == 1 and "HTTP 503" in (step.status.message or "")
    assert ws.api.get("namespaces", NS)["metadata"]["labels"][REQUEST_UID_LABEL] == UID  # type: ignore[index]


@pytest.mark.parametrize(
    "labels", [{"team": "someone-else"}, {REQUEST_UID_LABEL: "another-request"}], ids=["unlabelled", "other-request"]
)
async def test_a_foreign_namespace_is_never_touched(ws: Workspace, labels: dict[str, str]) -> None:
    ws.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": labels}})
    version = ws.api.get("namespaces", NS)["metadata"]["resourceVersion"]  # type: ignore[index]

    step = await ws.run()

    assert step.stall_reason == Reason.NAMESPACE_CONFLICT
    assert step.wait == 2 and step.status.state == "Pending"
    assert f"namespace {NS} already exists" in (step.status.message or "")
    assert ws.api.get("namespaces", NS)["metadata"]["resourceVersion"] == version  # type: ignore[index]
    assert ws.children() == {} and ws.pending == []

    ws.api.delete("namespaces", NS)
    healed = await ws.run(step.status)
    assert healed.status.state == "Succeeded"
    assert ws.api.get("namespaces", NS)["metadata"]["labels"][REQUEST_UID_LABEL] == UID  # type: ignore[index]


async def test_a_spec_change_prunes_what_is_no_longer_wanted(ws: Workspace) -> None:
    step = await ws.run()
    foreign = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "hand-made", "namespace": NS},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "bob", "apiGroup": "rbac.authorization.k8s.io"}],
    }
    ws.api.create(foreign)
    ws.action = make_action(members=[BLOCK["members"][0]], networkIsolation=False, quota={"cpu": "8"})

    changed = await ws.runner.changed(ws.action, ws.rendered(), step.status, ws.ctx())

    assert changed.status.state == "Succeeded", changed.status.message
    assert "2 pruned" in (changed.status.message or "")
    children = ws.children()
    assert sorted(children) == [
        "limitranges/workspace-limits",
        "resourcequotas/workspace-quota",
        "rolebindings/hand-made",
        "rolebindings/workspace-admin",
    ]
    assert children["resourcequotas/workspace-quota"]["spec"]["hard"] == {"requests.cpu": "8", "limits.cpu": "8"}


async def test_dropping_quota_and_limits_from_the_spec_deletes_them(ws: Workspace) -> None:
    step = await ws.run()
    assert {"resourcequotas/workspace-quota", "limitranges/workspace-limits"} <= set(ws.children())
    block = {key: value for key, value in copy.deepcopy(BLOCK).items() if key not in ("quota", "limits")}
    ws.action = Action.model_validate({"name": "workspace", "type": "workspace", "workspace": block})

    changed = await ws.runner.changed(ws.action, ws.rendered(), step.status, ws.ctx())

    assert changed.status.state == "Succeeded", changed.status.message
    children = ws.children()
    assert "resourcequotas/workspace-quota" not in children and "limitranges/workspace-limits" not in children
    assert "rolebindings/workspace-admin" in children


async def test_a_namespace_is_never_renamed(ws: Workspace) -> None:
    step = await ws.run()
    ws.action = make_action(namespace="elsewhere")

    refused = await ws.runner.changed(ws.action, ws.rendered(), step.status, ws.ctx())

    assert refused.stall_reason == Reason.INVALID_SPEC
    assert "cannot be renamed" in (refused.status.message or "")
    assert ws.api.get("namespaces", "elsewhere") is None


async def test_hibernate_and_resume_restore_replicas_exactly(ws: Workspace) -> None:
    step = await ws.run()
    for kind, name, count in [("Deployment", "web", 3), ("Deployment", "worker", 1), ("Deployment", "batch", 0)]:
        ws.api.create(workload(kind, name, count), field_manager="kubectl")
    ws.api.create(workload("StatefulSet", "db", 2), field_manager="kubectl")

    for _ in range(2):  # hibernating twice keeps the first counts
        hibernated = await ws.runner.set_state(ws.action, ws.rendered(), step.status, ws.ctx(), "Hibernated")
        assert hibernated.wait is None and hibernated.stall_reason is None, hibernated.status.message
        assert replicas(ws.api) == {"web": (0, "3"), "worker": (0, "1"), "batch": (0, None), "db": (0, "2")}
    annotations = ws.api.get("namespaces", NS)["metadata"]["annotations"]  # type: ignore[index]
    assert HIBERNATED_AT_ANNOTATION in annotations
    ws.api.create(workload("Deployment", "late", 2), field_manager="kubectl")  # made while hibernated

    resumed = await ws.runner.set_state(ws.action, ws.rendered(), step.status, ws.ctx(), "Active")

    assert "3 workloads restored" in (resumed.status.message or "")
    assert replicas(ws.api) == {
        "web": (3, None),
        "worker": (1, None),
        "batch": (0, None),
        "db": (2, None),
        "late": (2, None),
    }
    annotations = ws.api.get("namespaces", NS)["metadata"]["annotations"]  # type: ignore[index]
    assert HIBERNATED_AT_ANNOTATION not in annotations and RESUMED_AT_ANNOTATION in annotations

    again = await ws.runner.set_state(ws.action, ws.rendered(), step.status, ws.ctx(), "Active")
    assert again.status.message == f"namespace {NS} is active"
    assert ws.api.get("namespaces", NS)["metadata"]["annotations"] == annotations  # type: ignore[index]


async def test_idleness_counts_other_managers_but_not_our_scaling(ws: Workspace) -> None:
    step = await ws.run()
    ws.api.create(workload("Deployment", "web", 2), field_manager="kubectl")
    assert ws.runner.observation_interval(ws.action) == 300.0

    async def idle_since() -> datetime:
        observation = await ws.runner.observe(ws.action, ws.rendered(), step.status, ws.ctx())
        assert observation.problem is None and observation.status.observed_at is not None
        assert observation.idle_since is not None
        return observation.idle_since

    created = await idle_since()
    await next_second()
    ws.api.patch("deployments", "web", {"spec": {"replicas": 4}}, NS, field_manager="argocd")
    deployed = await idle_since()
    assert deployed > created

    await next_second()
    await ws.runner.set_state(ws.action, ws.rendered(), step.status, ws.ctx(), "Hibernated")
    ws.api.patch("deployments", "web", {"status": {"replicas": 0}}, NS, status=True, field_manager="argocd")
    # Neither our scaling nor a status write is activity. (Our forced apply takes spec.replicas over, so argocd's
    # entry, which owned only that, is gone and the time falls back to an older write: still before hibernation.)
    assert await idle_since() <= deployed

    await next_second()
    ws.api.create(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debug", "namespace": NS}, "spec": {"containers": []}},
        field_manager="kube-controller-manager",
    )
    assert await idle_since() > deployed


async def test_teardown_delete_waits_for_the_namespace_to_go(ws: Workspace) -> None:
    step = await ws.run()
    ws.api.patch("namespaces", NS, {"metadata": {"finalizers": ["example.com/hold"]}})

    first = await ws.runner.teardown(step.status, ws.ctx(), "Delete")

    assert not first.done and first.wait == 0.5
    assert ws.api.get("namespaces", NS)["metadata"].get("deletionTimestamp")  # type: ignore[index]
    assert ws.children() == {}
    ws.api.patch("namespaces", NS, {"metadata": {"finalizers": None}})
    done = await ws.runner.teardown(step.status, ws.ctx(), "Delete")
    assert done.done and ws.api.get("namespaces", NS) is None


async def test_teardown_never_deletes_a_namespace_that_is_not_ours(ws: Workspace) -> None:
    step = await ws.run()
    # Someone replaced the workspace with a namespace of their own under the same name.
    ws.api.delete("namespaces", NS)
    ws.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})

    result = await ws.runner.teardown(step.status, ws.ctx(), "Delete")

    assert result.done and "not created for this request" in result.message
    assert ws.api.get("namespaces", NS) is not None


async def test_teardown_orphan_removes_only_our_marks(ws: Workspace) -> None:
    step = await ws.run()
    await ws.runner.set_state(ws.action, ws.rendered(), step.status, ws.ctx(), "Hibernated")
    specs = {key: obj.get("spec") for key, obj in ws.children().items()}

    result = await ws.runner.teardown(step.status, ws.ctx(), "Orphan")

    assert result.done and "left in place" in result.message
    namespace = ws.api.get("namespaces", NS)
    assert namespace is not None and not namespace["metadata"].get("deletionTimestamp")
    assert not any(
        k.startswith(("orchestrator.dev/", "app.kubernetes.io/")) for k in namespace["metadata"].get("labels") or {}
    )
    assert not any(k.startswith("orchestrator.dev/") for k in namespace["metadata"].get("annotations") or {})
    children = ws.children()
    assert {key: obj.get("spec") for key, obj in children.items()} == specs
    for obj in children.values():
        assert not any(k.startswith("orchestrator.dev/") for k in obj["metadata"].get("labels") or {})
    # A later request with the same namespace name now sees a foreign namespace.
    conflict = await ws.run(uid="another-uid")
    assert conflict.stall_reason == Reason.NAMESPACE_CONFLICT
