"""The resources the emulator serves: kmock's bundled built-ins plus CustomResourceDefinitions (YAML or via the API)."""

from __future__ import annotations

import copy
import functools
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kmock
import yaml

from .fieldsets import Shape, crd_shape

__all__ = ["CRD_RESOURCE", "Registry", "Resource", "read_crd_documents", "resources_from_crd", "version_priority"]

CRD_VERBS = frozenset({"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"})


@dataclass(frozen=True)
class Resource:
    """One served group/version/plural with the discovery facts and the printer columns."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    shortnames: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    verbs: frozenset[str] = CRD_VERBS
    subresources: frozenset[str] = frozenset()
    printer_columns: tuple[Mapping[str, Any], ...] = ()
    crd_name: str | None = None  # set for resources defined by a CustomResourceDefinition
    served: bool = field(default=True, compare=False)
    shape: Shape | None = field(default=None, compare=False, repr=False)  # a CRD's schema, for field management

    @functools.cached_property
    def key(self) -> kmock.resource:
        # cached: kmock.resource() runs Protocol isinstance checks, and the store asks for the key per object
        return kmock.resource(self.group, self.version, self.plural)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def isolates_status(self) -> bool:
        """Whether ``.status`` is written only through the ``/status`` subresource."""
        return "status" in self.subresources

    def url(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        parts = ["/api/v1" if not self.group else f"/apis/{self.group}/{self.version}"]
        if namespace is not None and self.namespaced:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        parts.extend(p for p in (name, subresource) if p)
        return "/".join(parts)


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Kubernetes' version ordering: v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > anything else (higher sorts first)."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (0, 0, 0, version)
    stability = {"alpha": 1, "beta": 2}.get(match[2] or "", 3)
    return (stability, int(match[1]), int(match[3] or 0), version)


CRD_RESOURCE = Resource(
    group="apiextensions.k8s.io",
    version="v1",
    plural="customresourcedefinitions",
    kind="CustomResourceDefinition",
    namespaced=False,
    singular="customresourcedefinition",
    shortnames=frozenset({"crd", "crds"}),
    subresources=frozenset({"status"}),
)


def resources_from_crd(crd: Mapping[str, Any]) -> list[Resource]:
    """The served resources of a ``CustomResourceDefinition`` (one per served version)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    if not group or not plural or not kind:
        raise ValueError(f"CRD {crd.get('metadata', {}).get('name')!r} lacks spec.group, names.plural or names.kind")
    result = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = set((version.get("subresources") or {}).keys())
        result.append(
            Resource(
                group=group,
                version=version["name"],
                plural=plural,
                kind=kind,
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                singular=names.get("singular") or kind.lower(),
                shortnames=frozenset(names.get("shortNames") or ()),
                categories=frozenset(names.get("categories") or ()),
                subresources=frozenset(subresources),
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
                crd_name=crd.get("metadata", {}).get("name") or f"{plural}.{group}",
                shape=crd_shape((version.get("schema") or {}).get("openAPIV3Schema")),
            )
        )
    return result


def read_crd_documents(path: str | Path) -> list[dict[str, Any]]:
    """All ``CustomResourceDefinition`` documents in a YAML file or in the ``*.yaml``/``*.yml`` files of a folder."""
    path = Path(path)
    files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
    documents = []
    for file in files:
        for doc in _parse_yaml(file.resolve(), file.stat().st_mtime_ns):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                documents.append(copy.deepcopy(doc))
    return documents


@functools.lru_cache(maxsize=64)
def _parse_yaml(path: Path, mtime_ns: int) -> list[Any]:
    """Parsed once per file version: every test starts a fresh emulator with the same CRDs."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader))


@functools.cache
def _bundled() -> kmock.ResourcesArray:
    with warnings.catch_warnings():  # kmock uses the deprecated importlib.resources.read_binary()
        warnings.simplefilter("ignore", DeprecationWarning)
        bundled = kmock.ResourcesArray()
        bundled.load_bundled()
    return bundled


class Registry:
    """Served resources by group/version/plural, mirrored into kmock's ``ResourcesArray`` for its discovery."""

    def __init__(self, mirror: kmock.ResourcesArray) -> None:
        self._mirror = mirror
        self._resources: dict[tuple[str, str, str], Resource] = {}

    def __iter__(self) -> Iterator[Resource]:
        return iter(list(self._resources.values()))

    def add(self, resource: Resource) -> None:
        self._resources[resource.group, resource.version, resource.plural] = resource
        self._mirror[resource.key] = kmock.ResourceInfo(
            namespaced=resource.namespaced,
            kind=resource.kind,
            singular=resource.singular,
            verbs=set(resource.verbs),
            shortnames=set(resource.shortnames),
            categories=set(resource.categories),
            subresources=set(resource.subresources),
        )

    def remove(self, resource: Resource) -> None:
        self._resources.pop((resource.group, resource.version, resource.plural), None)
        if resource.key in self._mirror:
            del self._mirror[resource.key]

    def get(self, group: str, version: str, plural: str) -> Resource | None:
        return self._resources.get((group, version, plural))

    def by_key(self, key: kmock.resource) -> Resource:
        found = self._resources.get((key.group or "", key.version or "", key.plural or ""))
        if found is None:
            raise LookupError(f"the emulator does not serve {key}")
        return found

    def load_bundled(self) -> None:
        """kmock's bundled built-in resources (core v1, apps, batch, rbac, coordination, networking, events...)."""
        bundled = _bundled()
        for key in bundled:
            info = bundled[key]
            if key.group is None or key.version is None or key.plural is None:
                continue
            self.add(
                Resource(
                    group=key.group,
                    version=key.version,
                    plural=key.plural,
                    kind=info.kind or key.plural.capitalize(),
                    namespaced=bool(info.namespaced),
                    singular=info.singular or (info.kind or key.plural).lower(),
                    shortnames=frozenset(info.shortnames),
                    categories=frozenset(info.categories),
                    verbs=frozenset(info.verbs),
                    subresources=frozenset(info.subresources),
                )
            )
        self.add(CRD_RESOURCE)

    def groups(self) -> dict[str, list[str]]:
        """API group -> served versions, the preferred (highest priority) first."""
        versions: dict[str, set[str]] = {}
        for resource in self._resources.values():
            versions.setdefault(resource.group, set()).add(resource.version)
        return {g: sorted(vs, key=version_priority, reverse=True) for g, vs in versions.items()}

    def find(self, name: str) -> Resource:
        """Resolve ``plural``, ``singular``, ``Kind``, a short name, ``plural.group`` or ``group/version/plural``."""
        if name.count("/") == 2 or (name.count("/") == 1 and name.startswith("v1/")):
            parsed = kmock.resource(name)
            found = self.get(parsed.group or "", parsed.version or "", parsed.plural or "")
            if found is not None:
                return found
        lowered = name.lower()
        candidates = list(self._matching(lowered))
        if not candidates:
            raise KeyError(f"unknown resource: {name!r}")
        groups = self.groups()
        # Prefer core and the preferred version, as kubectl does.
        candidates.sort(key=lambda r: (r.group != "", r.version != groups[r.group][0], r.group, r.version))
        return candidates[0]

    def _matching(self, lowered: str) -> Iterable[Resource]:
        for resource in self._resources.values():
            names = {resource.plural, resource.singular, resource.kind.lower(), *resource.shortnames}
            qualified = {f"{n}.{resource.group}" for n in names} | {
                f"{n}.{resource.version}.{resource.group}" for n in names
            }
            if lowered in names or (resource.group and lowered in qualified):
                yield resource

    def for_kind(self, api_version: str, kind: str) -> Resource:
        """The resource serving objects of ``apiVersion``/``kind`` (as written in a manifest)."""
        group, _, version = api_version.rpartition("/")
        for resource in self._resources.values():
            if resource.group == group and resource.version == version and resource.kind == kind:
                return resource
        raise KeyError(f"no resource serves {api_version} {kind}")
