"""ServiceRequest: one developer's request for a catalog item or bundle."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import Field, model_validator

from .actions import ActionType
from .base import API_VERSION, ApiModel, DnsLabel, LocalObjectReference, ObjectMeta, StatusBase, StatusModel

Phase = Literal[
    "Pending",
    "Validating",
    "AwaitingApproval",
    "Provisioning",
    "Ready",
    "Failed",
    "Aborted",
    "Hibernated",
    "Deleting",
]
PHASES: tuple[Phase, ...] = get_args(Phase)
ActionState = Literal["Pending", "Running", "Waiting", "Succeeded", "Failed", "Skipped", "Aborted"]

# User operations are annotations, so a GitOps-managed spec is never edited by the operator or a person.
RETRY_ANNOTATION = "orchestrator.dev/retry"
ABORT_ANNOTATION = "orchestrator.dev/abort"
ESCALATE_ANNOTATION = "orchestrator.dev/escalate"
APPROVE_PLAN_ANNOTATION = "orchestrator.dev/approve-plan"
APPROVE_ANNOTATION = "orchestrator.dev/approve"
FORCE_UNLOCK_ANNOTATION = "orchestrator.dev/force-unlock"
"""Release a Terraform state lock left by a run that died; the value must be the lock id shown in StateLocked."""
"""Approval of a request for an item with ``approval.required``; the value names the approver."""
REQUESTER_ANNOTATION = "orchestrator.dev/requester"
"""Who asked (set by devctl); the ``request.requester`` template value."""
REQUEUE_ANNOTATION = "orchestrator.dev/requeue"
"""Written by the operator to wake a stalled request when what it waits for (its catalog item) appears."""
USER_ANNOTATIONS = (
    RETRY_ANNOTATION,
    ABORT_ANNOTATION,
    ESCALATE_ANNOTATION,
    APPROVE_PLAN_ANNOTATION,
    APPROVE_ANNOTATION,
    FORCE_UNLOCK_ANNOTATION,
    REQUEUE_ANNOTATION,
)
"""Annotations under our prefix that are inputs to reconciliation (a change to one is a change to handle)."""
FINALIZER = "orchestrator.dev/cleanup"


class ServiceRequestSpec(ApiModel):
    """What the developer asks for. Exactly one of catalogItem and bundle."""

    catalog_item: DnsLabel | None = None
    """Name of the CatalogItem."""
    bundle: DnsLabel | None = None
    """Name of the CatalogBundle."""
    environment: DnsLabel | None = None
    """Environment name from the operator's environments config; the operator's default when omitted."""
    fields: dict[str, Any] = Field(default_factory=dict)
    """Values for the item's fields schema. Data only: never rendered as a template."""
    state: Literal["Active", "Hibernated"] = "Active"

    @model_validator(mode="after")
    def _one_target(self) -> ServiceRequestSpec:
        if (self.catalog_item is None) == (self.bundle is None):
            raise ValueError("exactly one of 'catalogItem' and 'bundle' must be set")
        return self


class ExternalRef(StatusModel):
    """The external object an action created."""

    system: str
    id: str
    url: str | None = None
    connection: str | None = None
    """The named connection it was created through, so cleanup works after the item left the catalog."""


class PlanSummary(StatusModel):
    """A Terraform plan, as shown for approval and drift."""

    hash: str
    add: int = 0
    change: int = 0
    destroy: int = 0
    created_at: datetime | None = None


class StateLock(StatusModel):
    """Terraform: the lock a run holds on the request's state while it is in flight (one writer at a time)."""

    id: str
    """The lock id (also the run's idempotency key, stamped on its state Secret and Job)."""
    operation: Literal["plan", "apply", "destroy", "drift"]
    runner: Literal["inProcess", "job"] = "inProcess"
    holder: str
    """Who runs it: the operator process (``<pod>/<pid>/<start>``) or the Job's name."""
    acquired_at: datetime


class ActionStatus(StatusModel):
    """Progress of one action."""

    name: str
    type: ActionType
    path: Literal["automated", "manual"] = "automated"
    state: ActionState = "Pending"
    attempts: int = Field(default=0, ge=0)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    external_ref: ExternalRef | None = None
    message: str | None = None
    idempotency_key: str | None = None
    """Key stamped on the external object before a non-idempotent call (the pending marker)."""
    input_hash: str | None = None
    """Hash of the rendered input last acted on; a change re-runs actions that support update."""
    plan: PlanSummary | None = None
    """Terraform: the plan applied last, or awaiting approval (``approvePlan: manual``)."""
    lock: StateLock | None = None
    """Terraform: set while a run holds the request's state; left behind by a run that died."""
    drift: PlanSummary | None = None
    """Terraform: the last drift plan's summary when it found changes made outside the operator."""
    observed_at: datetime | None = None
    """When the action was last looked at after it succeeded (drift detection, workspace idleness)."""
    temporary_failures: int = Field(default=0, ge=0)
    """Consecutive temporary failures (rate limits, outages) of the current attempt; drives the backoff."""
    outputs: dict[str, Any] = Field(default_factory=dict)
    """Non-sensitive outputs of this action (sensitive ones live in the outputs Secret)."""


class CatalogItemRef(StatusModel):
    """The catalog definition a request was fulfilled from."""

    kind: Literal["CatalogItem", "CatalogBundle"] = "CatalogItem"
    name: str
    version: str | None = None
    revision: str | None = None


class Escalation(StatusModel):
    """A manual-support ticket opened through the escalate annotation."""

    ticket: str | None = None
    """Key of the escalation ticket; unset while its creation is pending."""
    url: str | None = None
    reason: str
    at: datetime
    idempotency_key: str | None = None
    """Label stamped on the escalation ticket before it is created (the pending marker)."""


class ComponentStatus(StatusModel):
    """For a bundle request: one component's progress."""

    name: str
    item: str
    phase: Phase = "Pending"
    message: str | None = None


class FulfillmentRecord(StatusModel):
    """Which fulfillment path the request is on, and why it left the automated one."""

    mode: Literal["automated", "manual"]
    fallback_reason: str | None = None
    """Set when a permanent automated failure opened the manual path (fallbackToManual)."""
    fallback_at: datetime | None = None


class Hibernation(StatusModel):
    """A hibernated request: why, and since when."""

    reason: Literal["Requested", "Idle"]
    """Requested: spec.state is Hibernated; Idle: an action's hibernateAfter elapsed without activity."""
    since: datetime


class ServiceRequestStatus(StatusBase):
    """Everything the operator learned while fulfilling the request."""

    phase: Phase = "Pending"
    catalog_item: CatalogItemRef | None = None
    actions: list[ActionStatus] = Field(default_factory=list)
    components: list[ComponentStatus] = Field(default_factory=list)
    outputs: dict[str, Any] = Field(default_factory=dict)
    """Non-sensitive outputs of the item."""
    outputs_secret_ref: LocalObjectReference | None = None
    """Secret holding the sensitive outputs, owned by this request."""
    escalation: Escalation | None = None
    fulfillment: FulfillmentRecord | None = None
    hibernation: Hibernation | None = None
    last_handled_retry: str | None = None
    """The last orchestrator.dev/retry token acted on."""
    approved_by: str | None = None
    """Who approved the request (the orchestrator.dev/approve annotation), for items that require approval."""
    deletion_policy: Literal["Delete", "Orphan"] | None = None
    """The item's deletion policy when the request was fulfilled (cleanup must not depend on the catalog)."""
    deletion_started_at: datetime | None = None
    """When cleanup began; past the operator's deletion deadline the request reports Stalled."""


class ServiceRequest(ApiModel):
    """A ServiceRequest manifest (as written in a requests repository)."""

    api_version: Literal["orchestrator.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["ServiceRequest"]
    metadata: ObjectMeta
    spec: ServiceRequestSpec


def idempotency_key(uid: str, purpose: str, attempt: int) -> str:
    """The label stamped on an external object: unique per request, action (or purpose) and attempt."""
    digest = hashlib.sha256(f"{uid}/{purpose}/{attempt}".encode()).hexdigest()[:20]
    return f"orchestrator-key-{digest}"


def request_label(uid: str) -> str:
    """The label every ticket of a request carries."""
    return f"orchestrator-{uid}"


assert API_VERSION == "orchestrator.dev/v1alpha1"
