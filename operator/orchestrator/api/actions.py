"""Fulfillment actions: the blocks a catalog item's ``fulfillment`` lists are made of.

Every string inside an action block (except names and enums) is a template rendered with the scopes of
DESIGN.md; a template that is one expression keeps its type.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from .base import ApiModel, DnsLabel, Duration, Identifier, Quantity, RelativePath

ActionType = Literal["jira", "terraform", "workspace", "http"]
ACTION_TYPES: tuple[ActionType, ...] = ("jira", "terraform", "workspace", "http")


class JiraDoneWhen(ApiModel):
    """When a ticket counts as done, or as failed."""

    status_categories: list[str] = Field(default_factory=lambda: ["Done"])
    """Status categories (JIRA's statusCategory.name) in which the ticket is finished."""
    resolutions: list[str] = Field(default_factory=lambda: ["Done", "Fixed"])
    """A finished ticket succeeds with one of these resolutions (or with none set, as some workflows do)."""
    failed_resolutions: list[str] = Field(default_factory=lambda: ["Won't Do", "Declined", "Cannot Reproduce"])
    """Resolutions that mark the action Failed (permanent); any other resolution not listed above also fails."""


class JiraAction(ApiModel):
    """Open a JIRA ticket and wait until it is done."""

    connection: DnsLabel = "default"
    """Named JIRA connection (a Secret the operator is configured with)."""
    project: str = Field(min_length=1)
    """Project key, e.g. DBA."""
    issue_type: str = Field(default="Task", min_length=1)
    summary: str = Field(min_length=1)
    description: str = ""
    labels: list[str] = Field(default_factory=list)
    priority: str | None = None
    components: list[str] = Field(default_factory=list)
    assignee: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    """Custom fields by id (customfield_10010) or name; values are templates."""
    done_when: JiraDoneWhen = Field(default_factory=JiraDoneWhen)
    outputs: dict[str, str] = Field(default_factory=dict)
    """Extra outputs: name -> template over the ``ticket`` scope (the issue's fields once done)."""


class DriftDetection(ApiModel):
    """Periodic plan that reports changes made outside the operator."""

    interval: Duration


class TerraformBackend(ApiModel):
    """Remote state, for teams that keep state outside the operator's per-request Secret."""

    type: Literal["s3", "gcs", "azurerm", "kubernetes", "http", "consul", "pg"]
    config: dict[str, Any] = Field(default_factory=dict)
    """Backend configuration passed through as-is (templates allowed)."""


class TerraformAction(ApiModel):
    """Plan and apply a Terraform module from the catalog repository."""

    module: RelativePath
    """Module directory relative to the catalog root, e.g. modules/postgresql; never absolute, never '..'."""
    variables: dict[str, Any] = Field(default_factory=dict)
    """Module input variables; values are templates, typed values are kept (a list stays a list)."""
    runner: Literal["inProcess", "job"] = "inProcess"
    approve_plan: Literal["auto", "manual"] = "auto"
    drift_detection: DriftDetection | None = None
    backend: TerraformBackend | None = None


class ResourceAmounts(ApiModel):
    """CPU and memory amounts as Kubernetes quantities."""

    cpu: Quantity | None = None
    memory: Quantity | None = None


class WorkspaceQuota(ApiModel):
    """The namespace's ResourceQuota."""

    cpu: Quantity | None = None
    memory: Quantity | None = None
    pods: Quantity | None = None
    storage: Quantity | None = None


class WorkspaceLimits(ApiModel):
    """The namespace's LimitRange for containers."""

    default: ResourceAmounts | None = None
    default_request: ResourceAmounts | None = None
    max: ResourceAmounts | None = None


class WorkspaceMember(ApiModel):
    """Someone who gets a RoleBinding in the workspace."""

    kind: Literal["User", "Group"]
    name: str = Field(min_length=1)
    role: Literal["view", "edit", "admin"]


class WorkspaceAction(ApiModel):
    """A namespace with quota, limits, RBAC and optional network isolation."""

    namespace: str = Field(min_length=1)
    """Namespace name (a template; must render to an RFC 1123 label)."""
    quota: WorkspaceQuota | None = None
    limits: WorkspaceLimits | None = None
    members: list[WorkspaceMember] = Field(default_factory=list)
    network_isolation: bool = True
    """Deny ingress from other namespaces (a NetworkPolicy)."""
    hibernate_after: Duration | None = None
    """Scale workloads to zero after this long without activity; the request shows Hibernated."""


class HttpAction(ApiModel):
    """Call an HTTP API (a webhook, an internal platform API)."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: str = Field(min_length=1)
    """Absolute URL, or a path relative to the connection's base URL."""
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    """JSON body; strings inside are templates."""
    success_codes: list[int] = Field(default_factory=lambda: [200, 201, 202, 204])
    outputs: dict[str, str] = Field(default_factory=dict)
    """Outputs: name -> JSON pointer into the response body (RFC 6901), e.g. /record/fqdn."""
    connection: DnsLabel | None = None
    """Named HTTP connection (base URL and credentials from a Secret)."""


class Action(ApiModel):
    """One step of fulfillment. Exactly the block named by ``type`` must be present."""

    name: Identifier
    """Unique within the item; later templates read this action's outputs as outputs.<name>.<key>."""
    type: ActionType
    depends_on: list[Identifier] = Field(default_factory=list)
    """Actions of the same path that must succeed first."""
    when: str | None = None
    """Template expression; the action is Skipped when it is false."""
    timeout: Duration | None = None
    jira: JiraAction | None = None
    terraform: TerraformAction | None = None
    workspace: WorkspaceAction | None = None
    http: HttpAction | None = None

    @model_validator(mode="after")
    def _block_matches_type(self) -> Action:
        for kind in ACTION_TYPES:
            present = getattr(self, kind) is not None
            if kind == self.type and not present:
                raise ValueError(f"an action of type '{self.type}' needs a '{self.type}' block")
            if kind != self.type and present:
                raise ValueError(f"an action of type '{self.type}' must not have a '{kind}' block")
        return self

    def block(self) -> JiraAction | TerraformAction | WorkspaceAction | HttpAction:
        """The type-specific block (always present on a validated action)."""
        value = getattr(self, self.type)
        assert value is not None
        return value  # type: ignore[no-any-return]
