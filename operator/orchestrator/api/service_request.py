"""ServiceRequest: one developer's request for a catalog item or bundle."""

from __future__ import annotations

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


class PlanSummary(StatusModel):
    """A Terraform plan, as shown for approval and drift."""

    hash: str
    add: int = 0
    change: int = 0
    destroy: int = 0
    created_at: datetime | None = None


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

    ticket: str
    url: str | None = None
    reason: str
    at: datetime


class ComponentStatus(StatusModel):
    """For a bundle request: one component's progress."""

    name: str
    item: str
    phase: Phase = "Pending"
    message: str | None = None


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
    last_handled_retry: str | None = None
    """The last orchestrator.dev/retry token acted on."""


class ServiceRequest(ApiModel):
    """A ServiceRequest manifest (as written in a requests repository)."""

    api_version: Literal["orchestrator.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["ServiceRequest"]
    metadata: ObjectMeta
    spec: ServiceRequestSpec


assert API_VERSION == "orchestrator.dev/v1alpha1"
