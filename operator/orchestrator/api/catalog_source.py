"""CatalogSource: where the catalog comes from, and how its last sync went."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from .base import ApiModel, Duration, LocalObjectReference, ObjectMeta, RelativePath, StatusBase, StatusModel

REFRESH_ANNOTATION = "orchestrator.dev/refresh"
MAX_REPORTED_ERRORS = 50


class GitRef(ApiModel):
    """What to check out; exactly one of branch, tag or commit (branch main when none is set)."""

    branch: str | None = None
    tag: str | None = None
    commit: str | None = Field(default=None, pattern=r"^[0-9a-f]{7,40}$")

    @model_validator(mode="after")
    def _at_most_one(self) -> GitRef:
        if sum(v is not None for v in (self.branch, self.tag, self.commit)) > 1:
            raise ValueError("set at most one of 'branch', 'tag' and 'commit'")
        return self


class GitSource(ApiModel):
    """A repository the operator clones itself."""

    url: str = Field(min_length=1)
    """https://, ssh:// or file:// URL."""
    ref: GitRef = Field(default_factory=GitRef)
    directory: RelativePath = "."
    """Catalog root inside the repository."""
    secret_ref: LocalObjectReference | None = None
    """Secret with username/password (HTTPS) or identity/known_hosts (SSH)."""


class CatalogSourceSpec(ApiModel):
    """Exactly one of path and git."""

    path: str | None = Field(default=None, pattern=r"^/")
    """The git-sync sidecar's --link, e.g. /git/catalog; the revision is the last element of its target."""
    directory: RelativePath = "."
    """With path: the catalog root inside the synced repository (git sources set git.directory instead)."""
    git: GitSource | None = None
    interval: Duration = "1m"
    """How often to look for a new revision (and to correct objects edited by hand in the cluster)."""
    allow_empty: bool = False
    """Allow a revision with no items to prune every item this source applied."""
    suspend: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> CatalogSourceSpec:
        if (self.path is None) == (self.git is None):
            raise ValueError("exactly one of 'path' and 'git' must be set")
        return self


class SyncCounts(StatusModel):
    """What the last sync did."""

    items: int = 0
    bundles: int = 0
    applied: int = 0
    pruned: int = 0
    unchanged: int = 0


class SyncError(StatusModel):
    """One problem found in a revision."""

    file: str
    line: int | None = None
    path: str | None = None
    message: str


class CatalogSourceStatus(StatusBase):
    """Sync status, in the style of Flux sources."""

    last_applied_revision: str | None = None
    last_attempted_revision: str | None = None
    last_handled_refresh_at: str | None = None
    """Value of the orchestrator.dev/refresh annotation last acted on."""
    last_sync_time: datetime | None = None
    counts: SyncCounts = Field(default_factory=SyncCounts)
    errors: list[SyncError] = Field(default_factory=list, max_length=MAX_REPORTED_ERRORS)
    """Problems of the last attempted revision (at most 50; the count is in the Ready message)."""


class CatalogSource(ApiModel):
    """A CatalogSource manifest."""

    api_version: Literal["orchestrator.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["CatalogSource"]
    metadata: ObjectMeta
    spec: CatalogSourceSpec
