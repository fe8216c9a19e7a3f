"""A small async Kubernetes REST client for the writes and reads kopf does not do for us.

kopf owns watching and the handler's final status patch. This client does what must happen *during* a handler:
the pending-marker status write before a non-idempotent call, reading connection Secrets, the environments
ConfigMap and exposed Secrets, writing the outputs Secret, and waking requests. Credentials come from the same
place as kopf's (kubeconfig or the in-cluster service account), loaded with the official client's config code.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from .kubernetes_types import (
    CATALOG_BUNDLES,
    CATALOG_ITEMS,
    CATALOG_RESOURCES,
    CATALOG_SOURCES,
    CONFIG_MAPS,
    DEPLOYMENTS,
    JOBS,
    LIMIT_RANGES,
    NAMESPACES,
    NETWORK_POLICIES,
    PODS,
    RESOURCE_QUOTAS,
    ROLE_BINDINGS,
    SECRETS,
    SERVICE_REQUESTS,
    STATEFUL_SETS,
    KubernetesApiError,
    KubernetesClient,
    ResourceRef,
    decode_secret_data,
)

__all__ = [
    "CATALOG_BUNDLES",
    "CATALOG_ITEMS",
    "CATALOG_RESOURCES",
    "CATALOG_SOURCES",
    "CONFIG_MAPS",
    "DEPLOYMENTS",
    "JOBS",
    "LIMIT_RANGES",
    "NAMESPACES",
    "NETWORK_POLICIES",
    "PODS",
    "RESOURCE_QUOTAS",
    "ROLE_BINDINGS",
    "SECRETS",
    "SERVICE_REQUESTS",
    "STATEFUL_SETS",
    "ClusterAccess",
    "KubernetesApi",
    "KubernetesApiError",
    "KubernetesClient",
    "ResourceRef",
    "decode_secret_data",
]

MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


@dataclass(frozen=True)
class ClusterAccess:
    """Where the API server is and how to authenticate, as the official client's config loaders found it."""

    server: str
    ca_path: str | None = None
    insecure: bool = False
    certificate_path: str | None = None
    private_key_path: str | None = None
    token: str | None = None

    @classmethod
    def load(cls, kubeconfig: str | None = None, context: str | None = None) -> ClusterAccess:
        """In-cluster service account when no kubeconfig is given and one is mounted, else the kubeconfig."""
        from kubernetes import client, config

        configuration = client.Configuration()
        if kubeconfig is None:
            try:
                config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            except config.ConfigException:
                config.load_kube_config(  # type: ignore[no-untyped-call]
                    context=context, client_configuration=configuration
                )
        else:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
        if configuration.refresh_api_key_hook is not None:
            configuration.refresh_api_key_hook(configuration)
        header = configuration.get_api_key_with_prefix("authorization") or configuration.get_api_key_with_prefix(
            "BearerToken"
        )
        token = header.split(" ", 1)[1] if header and " " in header else header
        return cls(
            server=str(configuration.host).rstrip("/"),
            ca_path=configuration.ssl_ca_cert,
            insecure=not configuration.verify_ssl,
            certificate_path=configuration.cert_file,
            private_key_path=configuration.key_file,
            token=token or None,
        )


class KubernetesApi:
    """Async JSON calls to the API server. Build with ``await KubernetesApi.connect(access)``; ``close()`` at exit."""

    def __init__(self, access: ClusterAccess, session: aiohttp.ClientSession, timeout: float = 30.0) -> None:
        self._access = access
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @classmethod
    async def connect(cls, access: ClusterAccess, timeout: float = 30.0) -> KubernetesApi:
        ssl_context: ssl.SSLContext | bool = False if access.insecure else ssl.create_default_context()
        if isinstance(ssl_context, ssl.SSLContext):
            if access.ca_path:
                ssl_context.load_verify_locations(cafile=access.ca_path)
            if access.certificate_path and access.private_key_path:
                ssl_context.load_cert_chain(access.certificate_path, access.private_key_path)
        headers = {"Accept": "application/json", "User-Agent": "platform-orchestrator"}
        if access.token:
            headers["Authorization"] = f"Bearer {access.token}"
        connector = aiohttp.TCPConnector(ssl=ssl_context, limit=32)
        return cls(access, aiohttp.ClientSession(headers=headers, connector=connector), timeout)

    async def close(self) -> None:
        await self._session.close()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        url = self._access.server + path + (f"?{urlencode(query)}" if query else "")
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self._session.request(method, url, data=data, headers=headers, timeout=self._timeout) as response:
            text = await response.text()
            try:
                payload = json.loads(text) if text else {}
            except ValueError:
                payload = {"message": text[:200]}
            if response.status >= 400:
                raise KubernetesApiError(
                    response.status, str(payload.get("reason", response.reason)), str(payload.get("message", ""))
                )
            return payload if isinstance(payload, dict) else {}

    async def get(self, resource: ResourceRef, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            return await self._request("GET", resource.path(namespace, name))
        except KubernetesApiError as error:
            if error.status == 404:
                return None
            raise

    async def list(
        self, resource: ResourceRef, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        query = {"labelSelector": label_selector} if label_selector else None
        result = await self._request("GET", resource.path(namespace), query=query)
        return list(result.get("items") or [])

    async def create(
        self, resource: ResourceRef, body: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        return await self._request("POST", resource.path(namespace), body=body)

    async def patch(
        self,
        resource: ResourceRef,
        name: str,
        patch: Mapping[str, Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """RFC 7386 merge patch; put ``metadata.resourceVersion`` in ``patch`` for an optimistic-lock write."""
        return await self._request(
            "PATCH", resource.path(namespace, name, subresource), body=patch, content_type=MERGE_PATCH
        )

    async def apply(
        self,
        resource: ResourceRef,
        body: Mapping[str, Any],
        *,
        field_manager: str,
        force: bool = False,
        namespace: str | None = None,
    ) -> dict[str, Any]:
        """Server-side apply of ``body`` (created when missing); ``force`` takes over fields other managers own."""
        name = str(body["metadata"]["name"])
        query = {"fieldManager": field_manager, **({"force": "true"} if force else {})}
        return await self._request(
            "PATCH", resource.path(namespace, name), query=query, body=body, content_type=APPLY_PATCH
        )

    async def delete(
        self, resource: ResourceRef, name: str, namespace: str | None = None, *, uid: str | None = None
    ) -> None:
        """Delete; 404 counts as done. With ``uid``, only that very object (not a same-named successor)."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}} if uid else None
        try:
            await self._request("DELETE", resource.path(namespace, name), body=body)
        except KubernetesApiError as error:
            if error.status != 404:
                raise
