"""Pure decisions about one ServiceRequest: what it asks for, whether it is valid, what its templates see.

Nothing here does I/O. The handler gathers the observations (the request body, the catalog item from the
operator's index, the environments config, exposed Secrets) and hands them over as plain data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from ..api.actions import Action
from ..api.base import dump
from ..api.catalog import CatalogItem
from ..api.conditions import Reason
from ..api.environments import EnvironmentsConfig
from ..api.service_request import (
    APPROVE_ANNOTATION,
    REQUESTER_ANNOTATION,
    ActionStatus,
    FulfillmentRecord,
    Phase,
    ServiceRequestSpec,
    ServiceRequestStatus,
)
from ..catalog.diagnostics import format_path
from ..catalog.fields import apply_defaults, value_problems
from ..templates.analysis import uses_scope

MAX_FIELD_PROBLEMS = 10


@dataclass(frozen=True)
class RequestView:
    """The parts of a ServiceRequest object the reconciler reads."""

    name: str
    namespace: str
    uid: str
    generation: int
    created_at: str
    annotations: Mapping[str, str]
    deleting: bool
    spec: ServiceRequestSpec | None
    spec_problem: str | None
    status: ServiceRequestStatus


def _describe_validation_error(error: ValidationError) -> str:
    parts = []
    for problem in error.errors(include_url=False)[:MAX_FIELD_PROBLEMS]:
        location = ".".join(str(p) for p in problem["loc"] if p != "__root__")
        message = str(problem["msg"]).removeprefix("Value error, ")
        parts.append(f"spec.{location}: {message}" if location else f"spec: {message}")
    return "; ".join(parts)


def parse_request(body: Mapping[str, Any]) -> RequestView:
    """Read a ServiceRequest body. A spec the models reject becomes ``spec_problem``; status is read leniently."""
    metadata = body.get("metadata") or {}
    spec: ServiceRequestSpec | None = None
    problem: str | None = None
    try:
        spec = ServiceRequestSpec.model_validate(body.get("spec") or {})
    except ValidationError as error:
        problem = _describe_validation_error(error)
    try:
        status = ServiceRequestStatus.model_validate(body.get("status") or {})
    except ValidationError:
        # A status we cannot read (written by a newer or broken version) is rebuilt rather than trusted.
        status = ServiceRequestStatus()
    return RequestView(
        name=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace", "")),
        uid=str(metadata.get("uid", "")),
        generation=int(metadata.get("generation") or 1),
        created_at=str(metadata.get("creationTimestamp", "")),
        annotations=dict(metadata.get("annotations") or {}),
        deleting=bool(metadata.get("deletionTimestamp")),
        spec=spec,
        spec_problem=problem,
        status=status,
    )


@dataclass(frozen=True)
class CatalogLookup:
    """The catalog item a request names, as the operator's index knows it."""

    item: CatalogItem | None
    revision: str | None = None
    problem: str | None = None
    """Set when an object of that name exists but cannot be read as a CatalogItem."""
    reads_secrets: bool = False
    """Whether the templates a request runs (either path's actions and the item's outputs) read ``secrets``."""
    source: tuple[str, str] | None = None
    """(namespace, name) of the CatalogSource that applied the item; None for an item applied by hand."""

    @classmethod
    def found(cls, item: CatalogItem, revision: str | None, source: tuple[str, str] | None = None) -> CatalogLookup:
        """A lookup for ``item``, with the template analysis done once rather than on every reconcile."""
        actions = [*item.spec.fulfillment.automated, *item.spec.fulfillment.manual]
        reads = any(uses_scope(dump(a), "secrets") for a in actions) or any(
            uses_scope(o.value, "secrets") for o in item.spec.outputs
        )
        return cls(item, revision, reads_secrets=reads, source=source)


@dataclass(frozen=True)
class Blocked:
    """The request cannot proceed until a person (or the catalog) changes something."""

    phase: Phase
    reason: str
    message: str
    condition: Literal["Validated", "Approved"] = "Validated"


@dataclass(frozen=True)
class Resolved:
    """A valid request: its item, its fields with defaults applied, and its environment."""

    item: CatalogItem
    revision: str | None
    fields: dict[str, Any]
    environment: str | None
    environment_settings: Mapping[str, Any]


def resolve(view: RequestView, lookup: CatalogLookup, environments: EnvironmentsConfig | None) -> Resolved | Blocked:
    """Check the request against its item and the environments config."""
    spec = view.spec
    if spec is None:
        return Blocked("Failed", Reason.INVALID_SPEC, view.spec_problem or "the spec cannot be read")
    if spec.catalog_item is None:
        return Blocked(
            "Failed",
            Reason.CATALOG_BUNDLE_NOT_FOUND,
            f"bundle '{spec.bundle}': requests for bundles are not fulfilled by this operator version",
        )
    if lookup.problem is not None:
        return Blocked("Pending", Reason.CATALOG_ITEM_INVALID, f"catalog item '{spec.catalog_item}': {lookup.problem}")
    item = lookup.item
    if item is None:
        return Blocked(
            "Pending",
            Reason.CATALOG_ITEM_NOT_FOUND,
            f"catalog item '{spec.catalog_item}' does not exist (yet); the request continues when it appears",
        )
    schema = item.spec.fields
    fields = apply_defaults(schema, spec.fields)
    problems = value_problems(schema, fields)
    if problems:
        shown = [f"{format_path(('spec', 'fields', *path))}: {message}" for path, message in problems]
        extra = len(shown) - MAX_FIELD_PROBLEMS
        text = "; ".join(shown[:MAX_FIELD_PROBLEMS]) + (f"; and {extra} more" if extra > 0 else "")
        return Blocked("Failed", Reason.INVALID_FIELDS, f"invalid fields: {text}")
    environment: str | None = spec.environment
    settings: Mapping[str, Any] = {}
    if environments is not None and (environments.environments or spec.environment):
        environment = environments.resolve(spec.environment)
        if environment is None:
            known = ", ".join(sorted(environments.environments)) or "none"
            wanted = f"'{spec.environment}'" if spec.environment else "(none given, and no default)"
            return Blocked(
                "Failed", Reason.ENVIRONMENT_NOT_FOUND, f"unknown environment {wanted}; known environments: {known}"
            )
        settings = environments.environments[environment]
    return Resolved(item, lookup.revision, fields, environment, settings)


def approval(view: RequestView, item: CatalogItem) -> Blocked | str | None:
    """None when no approval is needed; the approver when given; Blocked while waiting for it."""
    if not item.spec.approval.required:
        return None
    approver = (view.annotations.get(APPROVE_ANNOTATION) or "").strip()
    if approver:
        return approver
    return Blocked(
        "AwaitingApproval",
        Reason.AWAITING_APPROVAL,
        f"item '{item.metadata.name}' requires approval (risk class {item.spec.approval.risk_class}); "
        f"approve with the annotation {APPROVE_ANNOTATION}=<approver>",
        condition="Approved",
    )


@dataclass(frozen=True)
class SystemInfo:
    cluster_name: str
    operator_version: str


def scopes(
    view: RequestView,
    resolved: Resolved,
    system: SystemInfo,
    *,
    now: datetime,
    outputs: Mapping[str, Mapping[str, Any]],
    secrets: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    """The template scopes of DESIGN.md for this request."""
    item = resolved.item
    return {
        "fields": resolved.fields,
        "metadata": {
            "name": item.metadata.name,
            "version": item.spec.version,
            "owner": item.spec.owner,
            "category": item.spec.category,
            "labels": dict(item.metadata.labels or {}),
        },
        "request": {
            "name": view.name,
            "namespace": view.namespace,
            "uid": view.uid,
            "requester": view.annotations.get(REQUESTER_ANNOTATION, ""),
            "createdAt": view.created_at,
            "environment": resolved.environment or "",
            "generation": view.generation,
        },
        "system": {
            "clusterName": system.cluster_name,
            "operatorVersion": system.operator_version,
            "now": now.isoformat().replace("+00:00", "Z"),
            "catalogRevision": resolved.revision or "",
        },
        "environment": dict(resolved.environment_settings),
        "outputs": {name: dict(values) for name, values in outputs.items()},
        "secrets": {name: dict(values) for name, values in secrets.items()},
    }


Mode = Literal["automated", "manual"]


def fulfillment_path(item: CatalogItem, mode: Mode | None = None) -> tuple[Mode, list[Action]]:
    """The actions of ``mode`` (the item's mode by default), in dependency order (list order where allowed)."""
    mode = mode or item.spec.fulfillment.mode
    actions = item.spec.fulfillment.automated if mode == "automated" else item.spec.fulfillment.manual
    return mode, ordered(actions)


def select_mode(status: ServiceRequestStatus, item: CatalogItem) -> FulfillmentRecord:
    """The path a request is on. The item's mode decides for new and unfinished requests; a finished request
    keeps the path it was fulfilled on, and one that fell back to manual stays manual."""
    recorded = status.fulfillment
    if recorded is None:
        return FulfillmentRecord(mode=item.spec.fulfillment.mode)
    if recorded.fallback_reason is not None:
        return recorded
    if status.phase in ("Ready", "Hibernated") and all(
        a.state in ("Succeeded", "Skipped") for a in status.actions if a.path == recorded.mode
    ):
        return recorded
    if recorded.mode != item.spec.fulfillment.mode:
        return FulfillmentRecord(mode=item.spec.fulfillment.mode)
    return recorded


def can_fall_back(item: CatalogItem, record: FulfillmentRecord) -> bool:
    """Whether a permanent failure on the automated path opens the manual one."""
    spec = item.spec.fulfillment
    return (
        record.mode == "automated" and record.fallback_reason is None and spec.fallback_to_manual and bool(spec.manual)
    )


def ordered(actions: Sequence[Action]) -> list[Action]:
    """Topological order that keeps the list order wherever dependencies allow (the catalog forbids cycles)."""
    remaining = list(actions)
    names = {action.name for action in actions}
    done: set[str] = set()
    result: list[Action] = []
    while remaining:
        for index, action in enumerate(remaining):
            if all(dep in done or dep not in names for dep in action.depends_on):
                result.append(action)
                done.add(action.name)
                del remaining[index]
                break
        else:  # a cycle slipped through validation: keep list order rather than loop forever
            result.extend(remaining)
            break
    return result


def input_hash(rendered: Any) -> str:
    """A stable short hash of an action's rendered input, to tell whether a spec change altered it."""
    canonical = json.dumps(rendered, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass
class ActionPlan:
    """Where the request's actions stand: the next one to drive, or why nothing is left to do."""

    next: Action | None = None
    completed_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: ActionStatus | None = None
    all_done: bool = False


def plan_actions(actions: Sequence[Action], statuses: Mapping[str, ActionStatus]) -> ActionPlan:
    """Walk the ordered actions: skip finished ones, stop at the first failed or unfinished one."""
    plan = ActionPlan()
    for action in actions:
        status = statuses.get(action.name)
        if status is not None and status.state in ("Succeeded", "Skipped"):
            if status.state == "Succeeded":
                plan.completed_outputs[action.name] = dict(status.outputs)
            continue
        if status is not None and status.state in ("Failed", "Aborted"):
            plan.failed = status
            return plan
        plan.next = action
        return plan
    plan.all_done = True
    return plan


def retry_failed(statuses: Sequence[ActionStatus], *, now: datetime) -> list[ActionStatus]:
    """Failed or aborted actions back to Pending for a new attempt (their attempts count is kept)."""
    result = []
    for status in statuses:
        if status.state in ("Failed", "Aborted"):
            status = status.model_copy(
                update={
                    "state": "Pending",
                    "message": f"retry requested at {now.isoformat()}",
                    "idempotency_key": None,
                    "external_ref": None,
                    "finished_at": None,
                }
            )
        result.append(status)
    return result
