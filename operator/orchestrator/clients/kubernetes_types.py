"""Kubernetes names and errors shared with code that must not import an HTTP library (actions/).

``KubernetesClient`` is what actions need from the API; ``clients.kubernetes.KubernetesApi`` implements it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote


@dataclass(frozen=True)
class ResourceRef:
    group: str
    version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None, name: str | None = None, subresource: str | None = None) -> str:
        root = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace:
            root += f"/namespaces/{quote(namespace)}"
        root += f"/{self.plural}"
        if name:
            root += f"/{quote(name)}"
        if subresource:
            root += f"/{subresource}"
        return root


SERVICE_REQUESTS = ResourceRef("orchestrator.dev", "v1alpha1", "servicerequests")
CATALOG_ITEMS = ResourceRef("orchestrator.dev", "v1alpha1", "catalogitems", namespaced=False)
CATALOG_BUNDLES = ResourceRef("orchestrator.dev", "v1alpha1", "catalogbundles", namespaced=False)
CATALOG_RESOURCES = {"CatalogItem": CATALOG_ITEMS, "CatalogBundle": CATALOG_BUNDLES}
"""The catalog kinds' resources, by kind."""
CATALOG_SOURCES = ResourceRef("orchestrator.dev", "v1alpha1", "catalogsources")
SECRETS = ResourceRef("", "v1", "secrets")
CONFIG_MAPS = ResourceRef("", "v1", "configmaps")
NAMESPACES = ResourceRef("", "v1", "namespaces", namespaced=False)
RESOURCE_QUOTAS = ResourceRef("", "v1", "resourcequotas")
LIMIT_RANGES = ResourceRef("", "v1", "limitranges")
PODS = ResourceRef("", "v1", "pods")
ROLE_BINDINGS = ResourceRef("rbac.authorization.k8s.io", "v1", "rolebindings")
NETWORK_POLICIES = ResourceRef("networking.k8s.io", "v1", "networkpolicies")
DEPLOYMENTS = ResourceRef("apps", "v1", "deployments")
STATEFUL_SETS = ResourceRef("apps", "v1", "statefulsets")
JOBS = ResourceRef("batch", "v1", "jobs")


class KubernetesApiError(Exception):
    """A non-2xx answer; ``status`` is the HTTP code (409 conflict, 404 not found, ...)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"HTTP {status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


def decode_secret_data(secret: Mapping[str, Any]) -> dict[str, str]:
    """A Secret's ``data`` (base64) and ``stringData`` as text; undecodable values are skipped."""
    result: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            result[key] = base64.b64decode(value).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            continue
    for key, value in (secret.get("stringData") or {}).items():
        result[key] = str(value)
    return result


class KubernetesClient(Protocol):
    """The calls actions make (merge patch, server-side apply, uid-guarded delete)."""

    async def get(self, resource: ResourceRef, name: str, namespace: str | None = None) -> dict[str, Any] | None: ...

    async def list(
        self, resource: ResourceRef, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]: ...

    async def create(
        self, resource: ResourceRef, body: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def patch(
        self,
        resource: ResourceRef,
        name: str,
        patch: Mapping[str, Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]: ...

    async def apply(
        self,
        resource: ResourceRef,
        body: Mapping[str, Any],
        *,
        field_manager: str,
        force: bool = False,
        namespace: str | None = None,
    ) -> dict[str, Any]: ...

    async def delete(
        self, resource: ResourceRef, name: str, namespace: str | None = None, *, uid: str | None = None
    ) -> None: ...
