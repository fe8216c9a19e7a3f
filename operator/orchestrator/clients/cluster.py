"""Blocking Kubernetes access for devctl, with kubectl's rules: ``--kubeconfig``, ``$KUBECONFIG``, ``--context``.

The operator uses the async client in ``kubernetes.py``; a CLI command is one short conversation with the API
server, for which the official client's synchronous API is the plain choice. Every failure is a ``ClusterError``
with one line for people and the HTTP status (None when the server could not be reached).
"""

from __future__ import annotations

import builtins
import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

GROUP, VERSION = "orchestrator.dev", "v1alpha1"


class ClusterError(Exception):
    """The cluster could not be reached or refused the call; the message is one line for people."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Kind:
    """Where a kind's objects live in the API: ``/api/v1`` for the core group, else ``/apis/<group>/<version>``."""

    group: str
    version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace is not None:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{name}"
        if subresource is not None:
            base += f"/{subresource}"
        return base


SERVICE_REQUESTS = Kind(GROUP, VERSION, "servicerequests")
CATALOG_ITEMS = Kind(GROUP, VERSION, "catalogitems", namespaced=False)
CATALOG_BUNDLES = Kind(GROUP, VERSION, "catalogbundles", namespaced=False)
CATALOG_SOURCES = Kind(GROUP, VERSION, "catalogsources")
EVENTS = Kind("", "v1", "events")
SECRETS = Kind("", "v1", "secrets")
PODS = Kind("", "v1", "pods")
SERVICES = Kind("", "v1", "services")
DEPLOYMENTS = Kind("apps", "v1", "deployments")
CRDS = Kind("apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False)

_PLURALS = {kind.plural: kind for kind in (SERVICE_REQUESTS, CATALOG_ITEMS, CATALOG_BUNDLES, CATALOG_SOURCES)}


def _kind(kind: Kind | str) -> Kind:
    return _PLURALS[kind] if isinstance(kind, str) else kind


class Cluster:
    """One API server, as the kubeconfig describes it."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None, *, timeout: float = 30.0) -> None:
        from kubernetes import client, config

        try:
            api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context
            )
            contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
            if context is not None:
                active = next((c for c in contexts if c.get("name") == context), active)
        except (config.ConfigException, OSError, TypeError, ValueError) as error:
            where = kubeconfig or "the default kubeconfig ($KUBECONFIG or ~/.kube/config)"
            raise ClusterError(f"cannot load {where}: {error}") from None
        self.api_client = api_client
        self.context_name: str = str((active or {}).get("name") or "")
        self.namespace: str | None = ((active or {}).get("context") or {}).get("namespace") or None
        self.user: str | None = ((active or {}).get("context") or {}).get("user") or None
        """The kubeconfig user entry's name (what kubectl calls the context's user), when the context names one."""
        self.server: str = str(api_client.configuration.host)
        self._objects = client.CustomObjectsApi(api_client)
        self._timeout = timeout

    # ---- raw access ----------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        raw: bool = False,
    ) -> Any:
        """One call to the API server: decoded JSON (or the text with ``raw``); errors as ClusterError."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        headers = {"Accept": "*/*" if raw else "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        try:
            method, url, header_params, payload, post_params = self.api_client.param_serialize(
                method,
                path,
                query_params=[(k, v) for k, v in (query or {}).items() if v is not None],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self.api_client.call_api(
                method, url, header_params, payload, post_params, _request_timeout=self._timeout
            )
            data = (response.read() or b"").decode("utf-8", "replace")
        except ApiException as error:
            raise ClusterError(f"{what}: {error.reason or error}", status=error.status or None) from None
        except (HTTPError, OSError) as error:
            raise ClusterError(f"{what}: cannot reach the API server {self.server}: {error}") from None
        if not 200 <= response.status < 300:
            message = response.reason or ""
            try:
                message = json.loads(data or "{}").get("message") or message
            except (ValueError, AttributeError, TypeError):
                text = data.strip()
                if raw and text and not text.startswith("<"):  # a proxied service's own answer, e.g. "starting"
                    message = text.splitlines()[0][:200]
            raise ClusterError(f"{what}: {message} (HTTP {response.status})", status=response.status)
        if raw:
            return data
        try:
            return json.loads(data) if data else {}
        except ValueError:
            raise ClusterError(f"{what}: the API server answered with something that is not JSON") from None

    # ---- objects -------------------------------------------------------------------------------------------

    def get(self, kind: Kind | str, name: str, namespace: str | None = None) -> dict[str, Any]:
        ref = _kind(kind)
        where = f"{namespace}/{name}" if ref.namespaced and namespace else name
        result: dict[str, Any] = self.request("GET", ref.path(namespace, name), what=f"get {ref.plural} {where}")
        return result

    def list_page(
        self,
        kind: Kind | str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> dict[str, Any]:
        """One page of a list: the List object, with ``metadata.continue`` when there is more."""
        ref = _kind(kind)
        where = f" in {namespace}" if ref.namespaced and namespace else ""
        query = {
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "limit": limit,
            "continue": continue_token,
        }
        result: dict[str, Any] = self.request("GET", ref.path(namespace), what=f"list {ref.plural}{where}", query=query)
        return result

    def list(
        self,
        kind: Kind | str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every object (all pages); ``namespace=None`` lists across namespaces."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self.list_page(
                kind,
                namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                limit=500,
                continue_token=token,
            )
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return items

    def create(
        self, kind: Kind | str, body: Mapping[str, Any], namespace: str | None = None, *, dry_run: bool = False
    ) -> dict[str, Any]:
        """Create an object; ``dry_run`` asks the server to validate and default it without storing it."""
        ref = _kind(kind)
        metadata = body.get("metadata") or {}
        name = metadata.get("name") or (f"{metadata['generateName']}*" if metadata.get("generateName") else "")
        where = f"{namespace}/{name}" if ref.namespaced and namespace else name
        result: dict[str, Any] = self.request(
            "POST",
            ref.path(namespace),
            what=f"create {ref.plural} {where}" + (" (dry run)" if dry_run else ""),
            query={"dryRun": "All" if dry_run else None},
            body=dict(body),
        )
        return result

    def patch(
        self,
        kind: Kind | str,
        name: str,
        patch: Mapping[str, Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """A JSON merge patch (never touching fields the patch does not name)."""
        ref = _kind(kind)
        result: dict[str, Any] = self.request(
            "PATCH",
            ref.path(namespace, name, subresource),
            what=f"patch {ref.plural} {namespace + '/' if namespace else ''}{name}",
            body=dict(patch),
            content_type="application/merge-patch+json",
        )
        return result

    def annotate(self, kind: Kind | str, name: str, namespace: str, annotations: Mapping[str, str]) -> dict[str, Any]:
        """Set annotations with a merge patch (never touching the spec a GitOps tool owns)."""
        return self.patch(kind, name, {"metadata": {"annotations": dict(annotations)}}, namespace)

    def delete(self, kind: Kind | str, name: str, namespace: str | None = None) -> dict[str, Any]:
        ref = _kind(kind)
        result: dict[str, Any] = self.request(
            "DELETE",
            ref.path(namespace, name),
            what=f"delete {ref.plural} {namespace + '/' if namespace else ''}{name}",
        )
        return result

    def events_for(self, kind: str, name: str, namespace: str, uid: str | None = None) -> builtins.list[dict[str, Any]]:
        """Core v1 Events about one object (matched by kind and name, and uid when known)."""
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        if uid:
            selector += f",involvedObject.uid={uid}"
        return self.list(EVENTS, namespace, field_selector=selector)

    def watch(
        self,
        kind: Kind | str,
        namespace: str | None = None,
        *,
        name: str | None = None,
        resource_version: str | None = None,
        timeout: float = 60.0,
    ) -> Iterator[dict[str, Any]]:
        """Watch events (``{"type": ADDED|MODIFIED|DELETED|BOOKMARK, "object": ...}``) from ``resource_version``,
        of one object when ``name`` is given, until the server ends the stream after ``timeout`` seconds.

        An ERROR event (e.g. 410 Gone: the version is too old) is raised as a ClusterError with its code.
        """
        from urllib3.exceptions import HTTPError

        ref = _kind(kind)
        where = f"watch {ref.plural}" + (f" {namespace}/{name}" if name and namespace else f" {name or ''}").rstrip()
        query = {
            "watch": "true",
            "timeoutSeconds": max(1, int(timeout)),
            "resourceVersion": resource_version,
            "fieldSelector": f"metadata.name={name}" if name else None,
        }
        try:
            method, url, headers, payload, post_params = self.api_client.param_serialize(
                "GET",
                ref.path(namespace),
                query_params=[(k, v) for k, v in query.items() if v is not None],
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            response = self.api_client.call_api(
                method, url, headers, payload, post_params, _request_timeout=(self._timeout, timeout + 30.0)
            )
        except (HTTPError, OSError) as error:
            raise ClusterError(f"{where}: cannot reach the API server {self.server}: {error}") from None
        stream = response.response
        try:
            if not 200 <= response.status < 300:
                data = (response.read() or b"").decode("utf-8", "replace")
                message = response.reason or ""
                with contextlib.suppress(ValueError, AttributeError, TypeError):
                    message = json.loads(data or "{}").get("message") or message
                raise ClusterError(f"{where}: {message} (HTTP {response.status})", status=response.status)
            pending = b""
            for chunk in stream.stream(4096, decode_content=True):
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event: dict[str, Any] = json.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        raise ClusterError(f"{where}: {status.get('message', 'error')}", status=status.get("code"))
                    yield event
        except (HTTPError, OSError, ValueError) as error:
            raise ClusterError(f"{where}: the watch broke off: {error}") from None
        finally:
            stream.release_conn()

    def service_proxy(self, namespace: str, service: str, port: str, path: str) -> str:
        """GET through the API server's service proxy (``/api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH``)."""
        target = f"{service}:{port}" if port else service
        text: str = self.request(
            "GET",
            f"/api/v1/namespaces/{namespace}/services/{target}/proxy/{path.lstrip('/')}",
            what=f"GET {path} from service {namespace}/{service}",
            raw=True,
        )
        return text
