"""What one catalog revision asks of the cluster: the objects to apply, to leave alone, to prune, and the clashes.

Pure planning, no I/O. Each object we apply carries who applied it (source labels), where it came from (file
path and the revision that last changed it) and a hash of its content. An object whose hash annotation matches
and whose live content still holds everything we applied is left untouched, so an unchanged revision costs no
write at all; an object edited by hand (hash matches, content does not) is applied again (drift correction).
Objects without our source label were made by someone else: they are never overwritten or pruned, and a
revision that names one of them is refused as a whole.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..api.base import API_VERSION
from .validate import Catalog, CatalogEntry

SOURCE_LABEL = "orchestrator.dev/source"
"""Name of the CatalogSource that applied the object (label, so pruning can select by it)."""
SOURCE_NAMESPACE_LABEL = "orchestrator.dev/source-namespace"
PATH_ANNOTATION = "orchestrator.dev/source-path"
"""File of the object, relative to the catalog root."""
REVISION_ANNOTATION = "orchestrator.dev/revision"
"""The catalog revision that last changed the object (unchanged objects keep the revision they came with)."""
HASH_ANNOTATION = "orchestrator.dev/content-hash"
"""sha256 of what we applied, without the revision: equal hash means nothing to write."""
FIELD_MANAGER = "orchestrator-catalog"

Kind = Literal["CatalogItem", "CatalogBundle"]
APPLY_ORDER: tuple[Kind, ...] = ("CatalogItem", "CatalogBundle")
"""Items before the bundles that name them; pruning goes the other way round."""


@dataclass(frozen=True)
class SourceId:
    """The CatalogSource an object belongs to."""

    namespace: str
    name: str

    @property
    def labels(self) -> dict[str, str]:
        return {SOURCE_LABEL: _label_value(self.name), SOURCE_NAMESPACE_LABEL: _label_value(self.namespace)}

    @property
    def selector(self) -> str:
        return ",".join(f"{key}={value}" for key, value in self.labels.items())

    def owns(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(key) == value for key, value in self.labels.items())

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def _label_value(value: str) -> str:
    """Label values hold at most 63 characters; longer names keep a prefix and a hash of the whole."""
    if len(value) <= 63:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:10]
    return f"{value[:52].rstrip('-.')}-{digest}"


@dataclass(frozen=True)
class DesiredObject:
    """One catalog document as it is to be applied."""

    kind: Kind
    name: str
    path: str
    line: int
    manifest: Mapping[str, Any]
    """apiVersion, kind, metadata (name, labels, annotations) and spec, without the revision annotation."""
    content_hash: str

    def manifest_at(self, revision: str) -> dict[str, Any]:
        """The manifest stamped with the revision that (re)applies it."""
        body: dict[str, Any] = json.loads(json.dumps(self.manifest))
        body["metadata"]["annotations"][REVISION_ANNOTATION] = revision
        return body


@dataclass(frozen=True)
class LiveObject:
    """What the cluster holds under a catalog name."""

    kind: Kind
    name: str
    uid: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    body: Mapping[str, Any]

    @classmethod
    def from_body(cls, kind: Kind, body: Mapping[str, Any]) -> LiveObject:
        meta = body.get("metadata") or {}
        return cls(
            kind,
            str(meta.get("name", "")),
            str(meta.get("uid", "")),
            dict(meta.get("labels") or {}),
            dict(meta.get("annotations") or {}),
            body,
        )


@dataclass(frozen=True)
class Clash:
    """A catalog name already used by an object this source does not own."""

    kind: Kind
    name: str
    path: str
    line: int
    message: str


@dataclass
class SyncPlan:
    """Writes one revision needs; ``clashes`` or ``refused_prune`` mean the revision must not be applied."""

    create: list[DesiredObject] = field(default_factory=list)
    update: list[DesiredObject] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)
    """Names among ``update`` whose content was changed in the cluster, not in git."""
    unchanged: list[DesiredObject] = field(default_factory=list)
    prune: list[LiveObject] = field(default_factory=list)
    clashes: list[Clash] = field(default_factory=list)
    refused_prune: bool = False
    """The revision has no objects but would prune some, and the source does not allow an empty catalog."""

    @property
    def applicable(self) -> bool:
        return not self.clashes and not self.refused_prune

    @property
    def writes(self) -> int:
        return len(self.create) + len(self.update) + len(self.prune)


def content_hash(manifest: Mapping[str, Any]) -> str:
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _desired(entry: CatalogEntry, source: SourceId) -> DesiredObject:
    data: Mapping[str, Any] = entry.document.data
    meta: Mapping[str, Any] = data.get("metadata") or {}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    labels.update(source.labels)
    annotations[PATH_ANNOTATION] = entry.document.file
    for ours in (REVISION_ANNOTATION, HASH_ANNOTATION):
        annotations.pop(ours, None)
    manifest: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": entry.kind,
        "metadata": {"name": entry.name, "labels": labels, "annotations": annotations},
        "spec": data.get("spec") or {},
    }
    digest = content_hash(manifest)
    manifest["metadata"]["annotations"][HASH_ANNOTATION] = digest
    return DesiredObject(entry.kind, entry.name, entry.document.file, entry.document.line, manifest, digest)


def desired_objects(catalog: Catalog, source: SourceId) -> list[DesiredObject]:
    """Every valid document of the revision, items first, each in a stable (name) order."""
    return [
        *(_desired(catalog.items[name], source) for name in sorted(catalog.items)),
        *(_desired(catalog.bundles[name], source) for name in sorted(catalog.bundles)),
    ]


def holds(live: Any, desired: Any) -> bool:
    """Whether ``live`` still contains everything of ``desired`` (the API server may add defaults around it)."""
    if isinstance(desired, Mapping):
        return isinstance(live, Mapping) and all(k in live and holds(live[k], v) for k, v in desired.items())
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(holds(a, b) for a, b in zip(live, desired, strict=True))
        )
    return bool(live == desired)


def _owner_of(live: LiveObject) -> str:
    name = live.labels.get(SOURCE_LABEL)
    if name is None:
        return "it was not created by a CatalogSource (no label orchestrator.dev/source)"
    namespace = live.labels.get(SOURCE_NAMESPACE_LABEL, "?")
    return f"it belongs to CatalogSource {namespace}/{name}"


def plan_sync(
    desired: Sequence[DesiredObject],
    live: Iterable[LiveObject],
    source: SourceId,
    *,
    allow_empty: bool = False,
) -> SyncPlan:
    """Compare one revision's objects with the cluster's, kind by kind and name by name."""
    plan = SyncPlan()
    existing = {(obj.kind, obj.name): obj for obj in live}
    wanted = {(obj.kind, obj.name) for obj in desired}
    for obj in desired:
        current = existing.get((obj.kind, obj.name))
        if current is None:
            plan.create.append(obj)
        elif not source.owns(current.labels):
            plan.clashes.append(
                Clash(
                    obj.kind,
                    obj.name,
                    obj.path,
                    obj.line,
                    f"{obj.kind} '{obj.name}' already exists in the cluster and {_owner_of(current)}; "
                    "rename the item or delete the existing object",
                )
            )
        elif current.annotations.get(HASH_ANNOTATION) != obj.content_hash:
            plan.update.append(obj)
        elif not holds(current.body, obj.manifest):
            plan.update.append(obj)
            plan.drifted.append(obj.name)
        else:
            plan.unchanged.append(obj)
    owned = [obj for obj in existing.values() if source.owns(obj.labels)]
    plan.prune = sorted(
        (obj for obj in owned if (obj.kind, obj.name) not in wanted),
        key=lambda obj: (-APPLY_ORDER.index(obj.kind), obj.name),
    )
    if not desired and plan.prune and not allow_empty:
        plan.refused_prune = True
        plan.prune = []
    return plan
