"""The API server's service proxy: ``/api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy[/PATH]``.

A real cluster forwards to one of the Service's endpoints; the emulator has no pods or network, so a test registers
the URL that stands for the Service's endpoints (``ApiEmulator.proxy_service(namespace, name, url)``, e.g. the probe
server of an operator running in the test). What kube-apiserver checks is checked here too: the Service must exist
(404 otherwise) and name the requested port (by name or number); a Service without endpoints, an unknown port or a
backend that does not answer is a 503 ``ServiceUnavailable``. The caller's ``Authorization`` header is not forwarded
(kube-apiserver drops it once it has authenticated the request); the backend's status, body and content type are
passed back unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import aiohttp.web

from . import errors
from .resources import Resource
from .store import Store

__all__ = ["ServiceProxy", "is_service_proxy"]

_NOT_FORWARDED = frozenset(
    {
        "authorization",
        "connection",
        "content-length",
        "host",
        "keep-alive",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
BACKEND_TIMEOUT = 30.0


def is_service_proxy(group: str | None, plural: str | None, name: str | None, subresource: str | None) -> bool:
    """Whether a parsed URL is the service proxy (``services/NAME/proxy`` or ``services/NAME/proxy/...``)."""
    return group == "" and plural == "services" and bool(name) and (subresource or "").split("/")[0] == "proxy"


def split_target(target: str) -> tuple[str, str | None]:
    """``NAME``, ``NAME:PORT`` or ``SCHEME:NAME:PORT`` -> (name, port or None)."""
    parts = target.split(":")
    if len(parts) == 1:
        return parts[0], None
    if len(parts) == 2:
        return parts[0], parts[1] or None
    if len(parts) == 3 and parts[0] in ("http", "https", ""):
        return parts[1], parts[2] or None
    raise errors.bad_request(f"invalid service request {target!r}")


def _has_port(service: Mapping[str, Any], port: str | None) -> bool:
    ports = (service.get("spec") or {}).get("ports") or []
    if port is None:
        return bool(ports)
    if port.isdigit():
        return any(str(entry.get("port")) == port for entry in ports)
    return any(entry.get("name") == port for entry in ports)


class ServiceProxy:
    """Backends by (namespace, service); ``forward`` serves one proxied request."""

    def __init__(self) -> None:
        self.backends: dict[tuple[str, str], str] = {}

    def route(self, namespace: str, service: str, url: str | None) -> None:
        if url is None:
            self.backends.pop((namespace, service), None)
        else:
            self.backends[namespace, service] = url.rstrip("/")

    async def forward(
        self,
        store: Store,
        services: Resource,
        raw: aiohttp.web.BaseRequest,
        namespace: str | None,
        target: str,
        body: bytes,
    ) -> aiohttp.web.Response:
        if namespace is None:
            raise errors.not_found("services", "", None)
        name, port = split_target(target)
        service = store.current(services, namespace, name)
        if service is None:
            raise errors.not_found("services", "", name)
        if not _has_port(service, port):
            if port is not None and port.isdigit():
                raise errors.service_unavailable(f'no service port {port} found for service "{name}"')
            raise errors.service_unavailable(f'no endpoints available for service "{name}"')
        backend = self.backends.get((namespace, name))
        if backend is None:
            raise errors.service_unavailable(f'no endpoints available for service "{name}"')
        prefix = f"/api/v1/namespaces/{namespace}/services/{target}/proxy"
        rest = raw.path[len(prefix) :] if raw.path.startswith(prefix) else ""
        url = backend + (rest or "/") + (f"?{raw.query_string}" if raw.query_string else "")
        headers = {k: v for k, v in raw.headers.items() if k.lower() not in _NOT_FORWARDED}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=BACKEND_TIMEOUT)) as session,
                session.request(raw.method, url, headers=headers, data=body or None) as response,
            ):
                payload = await response.read()
                content_type = response.headers.get("Content-Type")
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise errors.service_unavailable(f"error trying to reach service: {error}") from None
        return aiohttp.web.Response(
            status=status, body=payload, headers={"Content-Type": content_type} if content_type else None
        )
