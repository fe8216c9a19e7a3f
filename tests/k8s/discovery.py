"""Discovery documents (legacy format, which kubectl falls back to): ``/api``, ``/apis``, ``/apis/g``, ``/apis/g/v``.

kmock's own ``_serve_version()`` reports ``groupVersion: "/v1"`` for the core group and gives subresources the short
names, categories and verbs of their parent (which confuses kubectl's short-name expansion), hence these."""

from __future__ import annotations

from typing import Any

from .resources import Registry, Resource

__all__ = ["SERVER_VERSION", "document"]

SERVER_VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0+kmock-emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-08-13T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def document(registry: Registry, path: str, group: str | None, version: str | None) -> dict[str, Any] | None:
    """The discovery document at ``path`` (``group``/``version`` as parsed from it), or None if there is none."""
    groups = registry.groups()
    if path == "/version":
        return dict(SERVER_VERSION)
    if path == "/":
        paths = {"/api", "/api/v1", "/apis", "/version", "/healthz", "/livez", "/readyz"}
        paths |= {f"/apis/{g}" for g in groups if g} | {f"/apis/{g}/{v}" for g in groups if g for v in groups[g]}
        return {"paths": sorted(paths)}
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if path == "/apis":
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [_group(g, groups[g]) for g in sorted(groups) if g],
        }
    if group and version is None and group in groups:
        return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, groups[group])}
    if group is not None and version is not None and version in groups.get(group, ()):
        served = sorted((r for r in registry if r.group == group and r.version == version), key=lambda r: r.plural)
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": [entry for resource in served for entry in _entries(resource)],
        }
    return None


def _group(group: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": listed, "preferredVersion": listed[0]}


def _entries(resource: Resource) -> list[dict[str, Any]]:
    common = {"namespaced": resource.namespaced, "kind": resource.kind}
    entries = [
        {
            "name": resource.plural,
            "singularName": resource.singular,
            **common,
            "verbs": sorted(resource.verbs),
            "shortNames": sorted(resource.shortnames),
            "categories": sorted(resource.categories),
        }
    ]
    for sub in sorted(resource.subresources):
        verbs = ["get", "patch", "update"] if sub in ("status", "scale") else ["get"] if sub == "log" else ["create"]
        entries.append({"name": f"{resource.plural}/{sub}", "singularName": "", **common, "verbs": verbs})
    return entries
