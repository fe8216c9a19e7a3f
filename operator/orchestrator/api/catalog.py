"""CatalogItem and CatalogBundle: what platform teams publish through the catalog repository."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .actions import Action
from .base import API_VERSION, SEMVER_PATTERN, ApiModel, DnsLabel, Identifier, ObjectMeta, StatusBase

Category = Literal[
    "compute",
    "databases",
    "caching",
    "storage",
    "networking",
    "security",
    "workspaces",
    "observability",
    "other",
]
Lifecycle = Literal["experimental", "stable", "deprecated"]


def _empty_fields_schema() -> dict[str, Any]:
    return {"type": "object", "properties": {}, "additionalProperties": False}


class Approval(ApiModel):
    """An approval gate before fulfillment starts."""

    required: bool = False
    risk_class: Literal["low", "medium", "high"] = "low"
    approvers: list[str] = Field(default_factory=list)
    """Groups or users allowed to approve; empty means the operator's default approvers."""


class Fulfillment(ApiModel):
    """How a request is fulfilled: an automated path, a manual path, or automated with a manual fallback."""

    mode: Literal["automated", "manual"] = "automated"
    automated: list[Action] = Field(default_factory=list)
    manual: list[Action] = Field(default_factory=list)
    fallback_to_manual: bool = False
    """A permanent automated failure opens the manual path, with the failure in its templates' context."""


class ItemOutput(ApiModel):
    """A value the request publishes in status.outputs (or in its outputs Secret when sensitive)."""

    name: Identifier
    value: str
    """Template, usually over outputs.<action>.<key>."""
    sensitive: bool = False
    """Sensitive outputs go to the Secret <request>-outputs, never to status."""
    description: str | None = None


class CatalogEntrySpec(ApiModel):
    """What items and bundles share: how the catalog presents them and what the requester fills in."""

    display_name: str = Field(min_length=1, max_length=120)
    description: str | None = None
    category: Category
    owner: str = Field(min_length=1, max_length=120)
    """Owning team, e.g. team-data-platform."""
    version: str = Field(pattern=SEMVER_PATTERN, max_length=64)
    """Semantic version of this definition, e.g. 1.4.0."""
    lifecycle: Lifecycle = "stable"
    tags: list[str] = Field(default_factory=list)
    documentation: str | None = None
    """Link to the service's documentation."""
    fields: dict[str, Any] = Field(default_factory=_empty_fields_schema)
    """JSON Schema (draft 2020-12) of what the requester provides; defaults are applied."""
    approval: Approval = Field(default_factory=Approval)


class CatalogItemSpec(CatalogEntrySpec):
    """A service definition: what a requester fills in, and how the platform fulfils it."""

    fulfillment: Fulfillment
    outputs: list[ItemOutput] = Field(default_factory=list)
    deletion_policy: Literal["Delete", "Orphan"] = "Delete"
    """Delete runs each action's teardown when the request is deleted; Orphan leaves everything in place."""


class CatalogItemStatus(StatusBase):
    """What the operator knows about an item."""

    active_requests: int = Field(default=0, ge=0)
    """Number of ServiceRequests using this item that are not deleted."""
    catalog_revision: str | None = None
    """The catalog revision this item was last applied from."""


class BundleComponent(ApiModel):
    """One item of a bundle."""

    name: Identifier
    """Unique within the bundle; later components read its outputs as outputs.<name>.<output>."""
    item: DnsLabel
    """Name of the CatalogItem."""
    depends_on: list[Identifier] = Field(default_factory=list)
    when: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    """The item's fields; values are templates over the bundle's scopes and earlier components' outputs."""


class CatalogBundleSpec(CatalogEntrySpec):
    """Several items requested together, wired by outputs."""

    components: list[BundleComponent] = Field(min_length=1)
    outputs: list[ItemOutput] = Field(default_factory=list)
    """Bundle outputs; templates over outputs.<component>.<output>."""


class CatalogBundleStatus(StatusBase):
    """What the operator knows about a bundle."""

    active_requests: int = Field(default=0, ge=0)
    catalog_revision: str | None = None


class CatalogItem(ApiModel):
    """A catalog file holding one CatalogItem."""

    api_version: Literal["orchestrator.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["CatalogItem"]
    metadata: ObjectMeta
    spec: CatalogItemSpec

    def all_actions(self) -> list[Action]:
        """Automated actions first, then manual ones."""
        return [*self.spec.fulfillment.automated, *self.spec.fulfillment.manual]


class CatalogBundle(ApiModel):
    """A catalog file holding one CatalogBundle."""

    api_version: Literal["orchestrator.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["CatalogBundle"]
    metadata: ObjectMeta
    spec: CatalogBundleSpec


assert API_VERSION == "orchestrator.dev/v1alpha1"  # the Literal above must follow base.API_VERSION
