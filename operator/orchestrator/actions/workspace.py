"""The workspace action: a namespace with quota, limits, RBAC and network isolation, which can hibernate.

Ownership: the namespace carries the label ``orchestrator.dev/request-uid=<uid>``. Before the namespace is created
(a plain create, which fails when the name is taken) the action's status gets its pending marker; a namespace that
already carries our uid label is adopted (a crash after the create), one without it is never touched (the action
waits with ``NamespaceConflict`` until it is gone or the name is changed). The namespace (once created) and the
objects in it are written with server-side apply under ``workspace.fieldManager``; objects of ours (by label) that
the spec no longer asks for are deleted.

Hibernation scales every Deployment and StatefulSet to zero, remembering the replicas in the annotation
``orchestrator.dev/hibernated-replicas``; resuming restores them (unless someone scaled the workload meanwhile) and
only touches workloads carrying that annotation.

Idleness: the workspace was last active at the latest of the namespace's creation, its last resume
(``orchestrator.dev/resumed-at``), the creation of any Pod, and every ``managedFields`` time on its Deployments,
StatefulSets and Pods written by someone else than our field manager — leaving out ``status`` writes and the
cluster's own controllers (``workspace.systemManagers``), which react to workloads rather than use them. Hibernating
takes ``spec.replicas`` over (a forced apply), so an earlier write that owned only that field drops out of
managedFields; the time can then move back, but only to a moment that is still before the hibernation.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..api.actions import Action
from ..api.base import DNS_LABEL_PATTERN, duration_seconds
from ..api.conditions import Reason
from ..api.quantity import QuantityError, parse_quantity
from ..api.service_request import ActionStatus, ExternalRef, idempotency_key
from ..clients.kubernetes_types import (
    DEPLOYMENTS,
    LIMIT_RANGES,
    NAMESPACES,
    NETWORK_POLICIES,
    PODS,
    RESOURCE_QUOTAS,
    ROLE_BINDINGS,
    STATEFUL_SETS,
    KubernetesApiError,
    KubernetesClient,
    ResourceRef,
)
from ..config import WorkspaceSettings
from ..redaction import Redactor
from ..templates.engine import render_tree
from ..templates.errors import TemplateError
from .base import (
    ActionContext,
    Observation,
    RequestedState,
    StepResult,
    TeardownPolicy,
    TeardownResult,
)

PREFIX = "orchestrator.dev/"
REQUEST_LABEL = PREFIX + "request"
REQUEST_NAMESPACE_LABEL = PREFIX + "request-namespace"
REQUEST_UID_LABEL = PREFIX + "request-uid"
TEAM_LABEL = PREFIX + "team"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "platform-orchestrator"
IDEMPOTENCY_ANNOTATION = PREFIX + "idempotency-key"
HIBERNATED_REPLICAS_ANNOTATION = PREFIX + "hibernated-replicas"
HIBERNATED_AT_ANNOTATION = PREFIX + "hibernated-at"
RESUMED_AT_ANNOTATION = PREFIX + "resumed-at"
QUOTA_NAME = "workspace-quota"
LIMITS_NAME = "workspace-limits"
ISOLATION_NAME = "workspace-isolation"
ROLES = ("admin", "edit", "view")
CHILD_RESOURCES = (RESOURCE_QUOTAS, LIMIT_RANGES, ROLE_BINDINGS, NETWORK_POLICIES)
WORKLOADS = (DEPLOYMENTS, STATEFUL_SETS)
RBAC_GROUP = "rbac.authorization.k8s.io"
_DNS_LABEL = re.compile(DNS_LABEL_PATTERN)
_LABEL_VALUE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_QUOTA_KEYS = ("cpu", "memory", "pods", "storage")
_LIMIT_KINDS = ("defaultRequest", "default", "max")
"""In the order Kubernetes requires them to grow: defaultRequest <= default <= max."""


# --- rendering (pure) ------------------------------------------------------------------------------------------
def _quantity(value: Any, path: tuple[str | int, ...]) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TemplateError(f"expected a Kubernetes quantity, got {type(value).__name__}", path=path)
    text = str(value).strip()
    try:
        parse_quantity(text)
    except QuantityError as error:
        raise TemplateError(str(error), path=path) from None
    return text


def render_workspace(action: Action, scopes: Mapping[str, Any], redactor: Redactor) -> dict[str, Any]:
    """The rendered, checked block: namespace, quota, limits, members, networkIsolation, hibernateAfter.

    Quantities become strings; empty quota/limits sections are left out. Raises ``TemplateError`` at the field
    (``workspace.namespace``, ``workspace.quota.cpu``, ``workspace.members.1.name``, ...).
    """
    block = action.workspace
    assert block is not None
    source = block.model_dump(by_alias=True, exclude_none=True)
    try:
        tree: dict[str, Any] = render_tree(source, scopes)
    except TemplateError as error:
        raise error.located(("workspace", *error.path)) from error
    namespace = tree.get("namespace")
    if not isinstance(namespace, str) or not _DNS_LABEL.match(namespace) or len(namespace) > 63:
        raise TemplateError(
            f"'{namespace}' is not a valid namespace name (an RFC 1123 label: at most 63 lower-case letters, "
            "digits and '-', starting and ending with a letter or digit)",
            path=("workspace", "namespace"),
        )
    rendered: dict[str, Any] = {"namespace": namespace}
    quota = {
        key: _quantity(value, ("workspace", "quota", key))
        for key, value in (tree.get("quota") or {}).items()
        if value is not None
    }
    if quota:
        rendered["quota"] = quota
    limits: dict[str, dict[str, str]] = {}
    for kind, amounts in (tree.get("limits") or {}).items():
        checked = {
            resource: _quantity(value, ("workspace", "limits", kind, resource))
            for resource, value in (amounts or {}).items()
            if value is not None
        }
        if checked:
            limits[kind] = checked
    _check_limit_order(limits)
    if limits:
        rendered["limits"] = limits
    members = []
    for index, member in enumerate(tree.get("members") or []):
        name = member.get("name")
        if not isinstance(name, str) or not name.strip():
            raise TemplateError("a member needs a non-empty name", path=("workspace", "members", index, "name"))
        members.append({"kind": member["kind"], "name": name.strip(), "role": member["role"]})
    rendered["members"] = members
    rendered["networkIsolation"] = bool(tree.get("networkIsolation", True))
    if tree.get("hibernateAfter"):
        rendered["hibernateAfter"] = tree["hibernateAfter"]
    if redactor and redactor.contains_secret(repr(rendered)):
        raise TemplateError("a rendered workspace value contains a secret value", path=("workspace",))
    return rendered


def _check_limit_order(limits: Mapping[str, Mapping[str, str]]) -> None:
    """Kubernetes rejects a LimitRange unless defaultRequest <= default <= max for each resource."""
    for resource in ("cpu", "memory"):
        present = [(kind, limits[kind][resource]) for kind in _LIMIT_KINDS if resource in limits.get(kind, {})]
        for (low_kind, low), (high_kind, high) in itertools.pairwise(present):
            if parse_quantity(low) > parse_quantity(high):
                raise TemplateError(
                    f"{low_kind} {resource} {low} is more than {high_kind} {resource} {high}",
                    path=("workspace", "limits", low_kind, resource),
                )


# --- manifests (pure) ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RequestIdentity:
    """The request a workspace belongs to, as its labels say."""

    uid: str
    name: str
    namespace: str

    def labels(self) -> dict[str, str]:
        return {
            REQUEST_LABEL: label_value(self.name),
            REQUEST_NAMESPACE_LABEL: label_value(self.namespace),
            REQUEST_UID_LABEL: label_value(self.uid),
            MANAGED_BY_LABEL: MANAGED_BY,
        }

    def selector(self) -> str:
        return f"{REQUEST_UID_LABEL}={label_value(self.uid)}"


def label_value(text: str) -> str:
    """``text`` as a valid label value (at most 63 characters; a longer one keeps its start and a hash)."""
    value = _LABEL_VALUE_UNSAFE.sub("-", text).strip("-._")
    if len(value) > 63:
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        value = f"{value[:52].rstrip('-._')}-{digest}"
    return value


def namespace_manifest(rendered: Mapping[str, Any], who: RequestIdentity, key: str | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": rendered["namespace"],
        "labels": {**who.labels(), TEAM_LABEL: label_value(who.namespace)},
    }
    if key:
        metadata["annotations"] = {IDEMPOTENCY_ANNOTATION: key}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def workspace_objects(rendered: Mapping[str, Any], who: RequestIdentity) -> list[tuple[ResourceRef, dict[str, Any]]]:
    """Everything in the namespace the spec asks for (quota, limits, one RoleBinding per role, isolation)."""
    namespace = str(rendered["namespace"])

    def meta(name: str) -> dict[str, Any]:
        return {"name": name, "namespace": namespace, "labels": who.labels()}

    objects: list[tuple[ResourceRef, dict[str, Any]]] = []
    quota = rendered.get("quota") or {}
    if quota:
        hard: dict[str, str] = {}
        for resource in ("cpu", "memory"):
            if resource in quota:
                hard[f"requests.{resource}"] = hard[f"limits.{resource}"] = quota[resource]
        if "pods" in quota:
            hard["pods"] = quota["pods"]
        if "storage" in quota:
            hard["requests.storage"] = quota["storage"]
        body = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta(QUOTA_NAME), "spec": {"hard": hard}}
        objects.append((RESOURCE_QUOTAS, body))
    limits = rendered.get("limits") or {}
    if limits:
        item = {"type": "Container", **{kind: dict(limits[kind]) for kind in _LIMIT_KINDS if kind in limits}}
        body = {"apiVersion": "v1", "kind": "LimitRange", "metadata": meta(LIMITS_NAME), "spec": {"limits": [item]}}
        objects.append((LIMIT_RANGES, body))
    for role in ROLES:
        subjects = [
            {"kind": m["kind"], "name": m["name"], "apiGroup": RBAC_GROUP}
            for m in rendered.get("members") or []
            if m["role"] == role
        ]
        unique = list({(s["kind"], s["name"]): s for s in subjects}.values())
        if unique:
            binding: dict[str, Any] = {
                "apiVersion": f"{RBAC_GROUP}/v1",
                "kind": "RoleBinding",
                "metadata": meta(f"workspace-{role}"),
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
                "subjects": unique,
            }
            objects.append((ROLE_BINDINGS, binding))
    if rendered.get("networkIsolation", True):
        body = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta(ISOLATION_NAME),
            "spec": {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
            },
        }
        objects.append((NETWORK_POLICIES, body))
    return objects


# --- hibernation and idleness (pure) ----------------------------------------------------------------------------
def _replicas(workload: Mapping[str, Any]) -> int:
    value = (workload.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _scaling(workload: Mapping[str, Any], replicas: int, remembered: str | None) -> dict[str, Any]:
    """An apply configuration that owns only ``spec.replicas`` (and our annotation), guarded by resourceVersion."""
    meta = workload["metadata"]
    metadata: dict[str, Any] = {
        "name": meta["name"],
        "namespace": meta["namespace"],
        "resourceVersion": meta["resourceVersion"],
    }
    if remembered is not None:
        metadata["annotations"] = {HIBERNATED_REPLICAS_ANNOTATION: remembered}
    return {
        "apiVersion": workload["apiVersion"],
        "kind": workload["kind"],
        "metadata": metadata,
        "spec": {"replicas": replicas},
    }


def hibernation_config(workload: Mapping[str, Any]) -> dict[str, Any] | None:
    """The write that scales ``workload`` to zero remembering its replicas, or None when nothing is to do.

    A workload already annotated keeps the count it had when it was first hibernated; one at zero is left alone.
    """
    remembered = (workload["metadata"].get("annotations") or {}).get(HIBERNATED_REPLICAS_ANNOTATION)
    replicas = _replicas(workload)
    if replicas == 0:
        return None
    return _scaling(workload, 0, remembered if remembered is not None else str(replicas))


def resume_config(workload: Mapping[str, Any]) -> dict[str, Any] | None:
    """The write that restores ``workload``'s remembered replicas and drops the annotation; None if not ours.

    A workload someone scaled up while it was hibernated keeps that count (the person's choice is newer).
    """
    remembered = (workload["metadata"].get("annotations") or {}).get(HIBERNATED_REPLICAS_ANNOTATION)
    if remembered is None:
        return None
    current = _replicas(workload)
    target = current
    if current == 0 and remembered.isdigit():
        target = int(remembered)
    return _scaling(workload, target, None)


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def last_activity(
    namespace: Mapping[str, Any],
    objects: Iterable[Mapping[str, Any]],
    *,
    own_manager: str,
    system_managers: Sequence[str],
) -> datetime | None:
    """When the workspace was last used (see the module docstring): the latest of the namespace's creation and
    last resume, Pod creations, and managedFields times of writes by people and tools other than ours."""
    meta = namespace.get("metadata") or {}
    times = [
        parse_time(meta.get("creationTimestamp")),
        parse_time((meta.get("annotations") or {}).get(RESUMED_AT_ANNOTATION)),
    ]
    ignored = {own_manager, *system_managers}
    for obj in objects:
        obj_meta = obj.get("metadata") or {}
        if obj.get("kind") == "Pod":
            times.append(parse_time(obj_meta.get("creationTimestamp")))
        for entry in obj_meta.get("managedFields") or []:
            if entry.get("manager") in ignored or entry.get("subresource") == "status":
                continue
            times.append(parse_time(entry.get("time")))
    found = [t for t in times if t is not None]
    return max(found) if found else None


def observation_interval(hibernate_after: str | None, ceiling: float) -> float | None:
    """A quarter of ``hibernateAfter`` (at least a second), at most ``ceiling``; None without hibernateAfter."""
    if not hibernate_after:
        return None
    return max(1.0, min(duration_seconds(hibernate_after) / 4, ceiling))


# --- the runner ------------------------------------------------------------------------------------------------
_TRANSPORT_ERRORS = (OSError, TimeoutError)
"""Connection failures and timeouts of the API client (aiohttp's are subclasses of these)."""


def _is_ours(namespace: Mapping[str, Any], uid: str) -> bool:
    return bool((namespace["metadata"].get("labels") or {}).get(REQUEST_UID_LABEL) == label_value(uid))


class WorkspaceRunner:
    """Drives workspace actions through the Kubernetes API; holds no per-request state."""

    type = "workspace"
    supports_update = True

    def __init__(self, kube: KubernetesClient, settings: WorkspaceSettings) -> None:
        self._kube = kube
        self._settings = settings

    def render(self, action: Action, scopes: Mapping[str, Any], redactor: Redactor) -> dict[str, Any]:
        return render_workspace(action, scopes, redactor)

    # --- create / adopt / update --------------------------------------------------------------------------------
    async def run(
        self, action: Action, rendered: Mapping[str, Any], status: ActionStatus, ctx: ActionContext
    ) -> StepResult:
        try:
            return await self._converge(rendered, status, ctx)
        except (KubernetesApiError, *_TRANSPORT_ERRORS) as error:
            return self._failed_call(error, status, ctx)

    async def changed(
        self, action: Action, rendered: Mapping[str, Any], status: ActionStatus, ctx: ActionContext
    ) -> StepResult:
        """Re-apply the new spec and prune what it no longer asks for. A namespace is never renamed."""
        planned = status.external_ref.id if status.external_ref is not None else None
        if planned is not None and planned != rendered["namespace"]:
            try:
                old = await self._kube.get(NAMESPACES, planned)
            except (KubernetesApiError, *_TRANSPORT_ERRORS) as error:
                return self._failed_call(error, status, ctx)
            if old is not None and _is_ours(old, ctx.uid):
                message = (
                    f"the workspace namespace cannot be renamed from {planned} to {rendered['namespace']}; "
                    "change it back, or create a new request for a new workspace"
                )
                return StepResult(
                    status.model_copy(update={"message": message}),
                    wait=self._settings.conflict_retry_interval,
                    stall_reason=Reason.INVALID_SPEC,
                )
            # The planned namespace was never made: start over with the new name.
            status = status.model_copy(update={"external_ref": None, "idempotency_key": None, "state": "Pending"})
        return await self.run(action, rendered, status, ctx)

    async def _converge(self, rendered: Mapping[str, Any], status: ActionStatus, ctx: ActionContext) -> StepResult:
        name = str(rendered["namespace"])
        who = RequestIdentity(ctx.uid, ctx.name, ctx.namespace)
        namespace = await self._kube.get(NAMESPACES, name)
        created = False
        if namespace is None:
            if status.idempotency_key is None:
                attempt = status.attempts + 1
                status = status.model_copy(
                    update={
                        "state": "Running",
                        "attempts": attempt,
                        "idempotency_key": idempotency_key(ctx.uid, f"action/{status.name}", attempt),
                        "started_at": ctx.now(),
                        "finished_at": None,
                        "external_ref": ExternalRef(system="kubernetes", id=name),
                        "message": f"creating namespace {name}",
                    }
                )
                # Record before acting: after a crash, the namespace is found by name and adopted by its label.
                await ctx.record_pending(status)
            try:
                namespace, created = await self._create_namespace(rendered, who, status.idempotency_key)
            except (KubernetesApiError, *_TRANSPORT_ERRORS) as error:
                return self._failed_call(error, status, ctx)
            if namespace is None:
                changing = status.model_copy(update={"message": f"namespace {name} came and went; looking again"})
                return StepResult(changing, wait=self._settings.poll_interval, reason=Reason.WAITING_FOR_BACKEND)
        if not _is_ours(namespace, ctx.uid):
            owner = (namespace["metadata"].get("labels") or {}).get(REQUEST_UID_LABEL)
            why = f"it belongs to request uid {owner}" if owner else "it has no orchestrator.dev labels"
            message = (
                f"namespace {name} already exists and was not created for this request ({why}); it is left "
                "untouched: delete it or choose another workspace name"
            )
            state = "Pending" if status.idempotency_key is None else "Waiting"
            updated = status.model_copy(update={"state": state, "message": message})
            return StepResult(
                updated, wait=self._settings.conflict_retry_interval, stall_reason=Reason.NAMESPACE_CONFLICT
            )
        if namespace["metadata"].get("deletionTimestamp"):
            message = f"namespace {name} is being deleted; waiting to create it again"
            waiting = status.model_copy(update={"state": "Waiting", "message": message})
            return StepResult(waiting, wait=self._settings.poll_interval, reason=Reason.WAITING_FOR_BACKEND)
        adopted = not created and status.state != "Succeeded"
        key = status.idempotency_key or (namespace["metadata"].get("annotations") or {}).get(IDEMPOTENCY_ANNOTATION)
        try:
            message = await self._apply_all(rendered, who, key)
        except (KubernetesApiError, *_TRANSPORT_ERRORS) as error:
            return self._failed_call(error, status, ctx)
        updated = status.model_copy(
            update={
                "state": "Succeeded",
                "idempotency_key": key,
                "external_ref": ExternalRef(system="kubernetes", id=name),
                "outputs": {"namespace": name},
                "message": f"namespace {name} {'adopted' if adopted else 'ready'} ({message})",
                "finished_at": ctx.now(),
                "started_at": status.started_at or ctx.now(),
                "temporary_failures": 0,
            }
        )
        return StepResult(updated)

    async def _create_namespace(
        self, rendered: Mapping[str, Any], who: RequestIdentity, key: str | None
    ) -> tuple[dict[str, Any] | None, bool]:
        """Create the namespace; when the name is taken, the namespace found instead. Returns (namespace, created)."""
        try:
            return await self._kube.create(NAMESPACES, namespace_manifest(rendered, who, key)), True
        except KubernetesApiError as error:
            if error.status != 409:
                raise
        return await self._kube.get(NAMESPACES, str(rendered["namespace"])), False

    async def _apply_all(self, rendered: Mapping[str, Any], who: RequestIdentity, key: str | None) -> str:
        """Apply the namespace and its objects, prune ours that are no longer wanted; a summary for the message."""
        name = str(rendered["namespace"])
        fm = self._settings.field_manager
        await self._kube.apply(NAMESPACES, namespace_manifest(rendered, who, key), field_manager=fm, force=True)
        wanted = workspace_objects(rendered, who)
        for resource, body in wanted:
            await self._kube.apply(resource, body, field_manager=fm, force=True, namespace=name)
        pruned = await self._prune(name, who, {(r.plural, b["metadata"]["name"]) for r, b in wanted})
        return f"{len(wanted)} objects" + (f", {pruned} pruned" if pruned else "")

    async def _prune(self, namespace: str, who: RequestIdentity, wanted: set[tuple[str, str]]) -> int:
        pruned = 0
        for resource in CHILD_RESOURCES:
            for obj in await self._kube.list(resource, namespace, label_selector=who.selector()):
                meta = obj["metadata"]
                if (resource.plural, meta["name"]) not in wanted:
                    await self._kube.delete(resource, meta["name"], namespace, uid=meta.get("uid"))
                    pruned += 1
        return pruned

    def _failed_call(self, error: Exception, status: ActionStatus, ctx: ActionContext) -> StepResult:
        if isinstance(error, KubernetesApiError) and error.status in (401, 403):
            message = ctx.redactor(f"the operator may not manage the workspace: {error}")
            return StepResult(
                status.model_copy(update={"message": message}),
                wait=self._settings.conflict_retry_interval,
                stall_reason=Reason.AUTH_FAILED,
                failure_reason=Reason.AUTH_FAILED,
            )
        if isinstance(error, KubernetesApiError) and error.status in (400, 422):
            message = ctx.redactor(f"the API server rejected the workspace: {error}")
            failed = status.model_copy(
                update={"state": "Failed", "message": message, "finished_at": ctx.now(), "temporary_failures": 0}
            )
            return StepResult(failed, stall_reason=Reason.ACTION_FAILED, failure_reason="Invalid")
        failures = status.temporary_failures + 1
        delay = ctx.backoff(failures)
        text = str(error) or type(error).__name__
        message = ctx.redactor(f"Kubernetes API: {text}; retrying in {delay:.0f}s")
        rate_limited = isinstance(error, KubernetesApiError) and error.status == 429
        return StepResult(
            status.model_copy(update={"temporary_failures": failures, "message": message}),
            wait=delay,
            reason=Reason.RATE_LIMITED if rate_limited else Reason.BACKEND_UNAVAILABLE,
            failure_reason="RateLimited" if rate_limited else "Unavailable",
        )

    # --- hibernation --------------------------------------------------------------------------------------------
    async def set_state(
        self,
        action: Action,
        rendered: Mapping[str, Any],
        status: ActionStatus,
        ctx: ActionContext,
        state: RequestedState,
    ) -> StepResult:
        name = status.external_ref.id if status.external_ref is not None else str(rendered["namespace"])
        try:
            namespace = await self._kube.get(NAMESPACES, name)
            if namespace is None or not _is_ours(namespace, ctx.uid):
                message = f"namespace {name} is gone or no longer ours; nothing to {state.lower()}"
                return StepResult(status.model_copy(update={"message": message}))
            if state == "Hibernated":
                message = await self._hibernate(namespace, ctx)
            else:
                message = await self._resume(namespace, ctx)
        except KubernetesApiError as error:
            if error.status == 409:  # a workload changed between our read and our write: read again
                text = f"a workload in {name} changed while it was being scaled; trying again"
                return StepResult(status.model_copy(update={"message": text}), wait=1.0, reason=Reason.PROGRESSING)
            return self._failed_call(error, status, ctx)
        except _TRANSPORT_ERRORS as error:
            return self._failed_call(error, status, ctx)
        return StepResult(status.model_copy(update={"message": message, "temporary_failures": 0}))

    async def _hibernate(self, namespace: Mapping[str, Any], ctx: ActionContext) -> str:
        name = namespace["metadata"]["name"]
        scaled = 0
        for resource in WORKLOADS:
            for workload in await self._kube.list(resource, name):
                config = hibernation_config(workload)
                if config is not None:
                    await self._kube.apply(
                        resource, config, field_manager=self._settings.field_manager, force=True, namespace=name
                    )
                    scaled += 1
        annotations = namespace["metadata"].get("annotations") or {}
        if HIBERNATED_AT_ANNOTATION not in annotations:
            stamp = {HIBERNATED_AT_ANNOTATION: ctx.now().isoformat().replace("+00:00", "Z")}
            await self._kube.patch(NAMESPACES, name, {"metadata": {"annotations": stamp}})
        return f"namespace {name} hibernated ({scaled} workloads scaled to zero now)"

    async def _resume(self, namespace: Mapping[str, Any], ctx: ActionContext) -> str:
        name = namespace["metadata"]["name"]
        restored = 0
        for resource in WORKLOADS:
            for workload in await self._kube.list(resource, name):
                config = resume_config(workload)
                if config is None:
                    continue
                result = await self._kube.apply(
                    resource, config, field_manager=self._settings.field_manager, force=True, namespace=name
                )
                if HIBERNATED_REPLICAS_ANNOTATION in (result["metadata"].get("annotations") or {}):
                    # Someone else also set the annotation, so dropping it from our apply did not remove it.
                    drop = {"metadata": {"annotations": {HIBERNATED_REPLICAS_ANNOTATION: None}}}
                    await self._kube.patch(resource, workload["metadata"]["name"], drop, name)
                restored += 1
        annotations = namespace["metadata"].get("annotations") or {}
        if restored or HIBERNATED_AT_ANNOTATION in annotations:
            stamp = {
                HIBERNATED_AT_ANNOTATION: None,
                RESUMED_AT_ANNOTATION: ctx.now().isoformat().replace("+00:00", "Z"),
            }
            await self._kube.patch(NAMESPACES, name, {"metadata": {"annotations": stamp}})
            return f"namespace {name} resumed ({restored} workloads restored)"
        return f"namespace {name} is active"

    # --- idleness -----------------------------------------------------------------------------------------------
    def observation_interval(self, action: Action) -> float | None:
        block = action.workspace
        if block is None:
            return None
        return observation_interval(block.hibernate_after, self._settings.max_observation_interval)

    async def observe(
        self, action: Action, rendered: Mapping[str, Any], status: ActionStatus, ctx: ActionContext
    ) -> Observation:
        name = status.external_ref.id if status.external_ref is not None else str(rendered["namespace"])
        looked = status.model_copy(update={"observed_at": ctx.now()})
        try:
            namespace = await self._kube.get(NAMESPACES, name)
            if namespace is None:
                return Observation(looked, problem=f"namespace {name} no longer exists")
            objects: list[dict[str, Any]] = []
            for resource in (*WORKLOADS, PODS):
                objects += await self._kube.list(resource, name)
        except (KubernetesApiError, *_TRANSPORT_ERRORS) as error:
            return Observation(looked, problem=f"could not look at namespace {name}: {error or type(error).__name__}")
        idle_since = last_activity(
            namespace,
            objects,
            own_manager=self._settings.field_manager,
            system_managers=self._settings.system_managers,
        )
        return Observation(looked, idle_since=idle_since)

    # --- abort and deletion -------------------------------------------------------------------------------------
    async def abort(self, status: ActionStatus, ctx: ActionContext, reason: str) -> str | None:
        return None  # every step is a quick API call; there is nothing in flight to stop

    async def teardown(self, status: ActionStatus, ctx: ActionContext, policy: TeardownPolicy) -> TeardownResult:
        if status.external_ref is None:
            return TeardownResult(done=True)
        name = status.external_ref.id
        try:
            namespace = await self._kube.get(NAMESPACES, name)
            if namespace is None:
                return TeardownResult(done=True, message=f"namespace {name} is already gone")
            if not _is_ours(namespace, ctx.uid):
                return TeardownResult(done=True, message=f"namespace {name} was not created for this request; left")
            if policy == "Orphan":
                await self._disown(namespace, RequestIdentity(ctx.uid, ctx.name, ctx.namespace))
                return TeardownResult(done=True, message=f"namespace {name} left in place (deletionPolicy Orphan)")
            if not namespace["metadata"].get("deletionTimestamp"):
                await self._kube.delete(NAMESPACES, name, uid=namespace["metadata"]["uid"])
                if await self._kube.get(NAMESPACES, name) is None:
                    return TeardownResult(done=True, message=f"namespace {name} deleted")
            return TeardownResult(
                done=False, message=f"namespace {name} is being deleted", wait=self._settings.poll_interval
            )
        except (KubernetesApiError, *_TRANSPORT_ERRORS) as error:
            if isinstance(error, KubernetesApiError) and error.status == 409:  # replaced by a namesake: not ours
                return TeardownResult(done=True, message=f"namespace {name} was replaced; the new one is left")
            failures = status.temporary_failures + 1
            return TeardownResult(
                done=False,
                message=ctx.redactor(f"Kubernetes API: {error or type(error).__name__}"),
                wait=ctx.backoff(failures),
                failure_reason="Unavailable",
            )

    async def _disown(self, namespace: Mapping[str, Any], who: RequestIdentity) -> None:
        """Remove our labels and annotations from the namespace and our objects in it; change nothing else."""
        name = namespace["metadata"]["name"]
        ours: dict[str, str | None] = dict.fromkeys(who.labels())
        for resource in CHILD_RESOURCES:
            for obj in await self._kube.list(resource, name, label_selector=who.selector()):
                await self._kube.patch(resource, obj["metadata"]["name"], {"metadata": {"labels": ours}}, name)
        annotations = {
            key: None
            for key in (IDEMPOTENCY_ANNOTATION, HIBERNATED_AT_ANNOTATION, RESUMED_AT_ANNOTATION)
            if key in (namespace["metadata"].get("annotations") or {})
        }
        patch: dict[str, Any] = {"metadata": {"labels": {**ours, TEAM_LABEL: None}}}
        if annotations:
            patch["metadata"]["annotations"] = annotations
        await self._kube.patch(NAMESPACES, name, patch)
