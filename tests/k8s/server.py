"""The HTTP side: a kmock ``KubernetesEmulator`` whose resource requests are served by :class:`Store`.

kmock still provides the request parsing into ``kmock.Request`` (so its DSL reactions can intercept requests, e.g. to
inject faults), the bundled resource list, ``ObjectsArray`` and the ``/api/v1``/``/apis/g/v`` discovery documents."""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import math
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import aiohttp.web
import attrs
import kmock
from kmock._internal import apps, rendering

from . import discovery, errors
from .errors import KubernetesError
from .fieldmanager import writer_from_request
from .patching import PATCH_TYPES, SSA_PATCH, parse_body
from .pod_logs import PodLogs, is_pod_log
from .proxy import ServiceProxy, is_service_proxy
from .resources import Registry, Resource
from .selectors import FieldSelector, parse_field_selector, parse_label_selector
from .store import Store
from .tables import to_table, wants_table
from .watching import Subscriber

__all__ = ["ACCESS_LISTENERS", "Access", "EmulatorHandler", "Route", "Served", "parse_route"]

JSON = "application/json"


class Access(NamedTuple):
    """One served request, compactly: what RBAC would check, and the answer's HTTP status code.

    Non-resource requests (discovery, ``/version``) have ``group=None`` and the path as ``resource``."""

    verb: str
    group: str | None
    resource: str | None
    subresource: str | None
    namespace: str | None
    code: int


class Served(NamedTuple):
    """One served request with who sent it, as given to :data:`ACCESS_LISTENERS` (e.g. for RBAC coverage)."""

    access: Access
    name: str | None  # the object's name in the URL (None for list/watch/create/deletecollection)
    headers: Mapping[str, str]
    data: Any  # the request body parsed as JSON, or None


ACCESS_LISTENERS: list[Callable[[Served], None]] = []
"""Called (on the emulator's loop) for every request of every emulator once it is accounted; a process-wide hook
so that a test session can watch emulators that fixtures create per test. Listeners must be quick and not raise."""


@dataclass(frozen=True)
class Route:
    group: str | None = None  # None: not a resource URL
    version: str | None = None
    namespace: str | None = None
    plural: str | None = None
    name: str | None = None
    subresource: str | None = None

    def verb(self, method: str, query: Any) -> str:
        method = method.upper()
        if method == "GET":
            return "watch" if query.get("watch") in ("true", "1") else "get" if self.name else "list"
        if method == "DELETE":
            return "delete" if self.name else "deletecollection"
        return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def parse_route(path: str) -> Route:
    """Split a Kubernetes URL; unlike kmock's parser, it handles ``/api/v1/namespaces[/{name}[/status]]``."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        group, rest = "", parts[1:]
    elif parts[:1] == ["apis"] and len(parts) >= 2:
        group, rest = parts[1], parts[2:]
    else:
        return Route()
    if not rest:
        return Route(group=group)
    version, rest = rest[0], rest[1:]
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and not (group == "" and rest[2] in ("status", "finalize")):
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return Route(group=group, version=version)
    return Route(group, version, namespace, rest[0], rest[1] if len(rest) > 1 else None, "/".join(rest[2:]) or None)


def _json(payload: Any, status: int = 200) -> aiohttp.web.Response:
    return aiohttp.web.Response(
        body=json.dumps(payload, separators=(",", ":")).encode(), status=status, content_type=JSON
    )


@attrs.define(kw_only=True)
class EmulatorHandler(kmock.KubernetesEmulator):
    strict_namespaces: bool = True
    request_log_limit: int = 1000
    bookmark_interval: float = 30.0
    history_limit: int = 20_000

    registry: Registry = attrs.field(init=False)
    store: Store = attrs.field(init=False)
    access: collections.Counter[Access] = attrs.field(init=False, factory=collections.Counter)
    internal_errors: list[BaseException] = attrs.field(init=False, factory=list)
    closing: bool = attrs.field(init=False, default=False)
    proxy: ServiceProxy = attrs.field(init=False, factory=ServiceProxy)
    pod_logs: PodLogs = attrs.field(init=False, factory=PodLogs)
    _unaccounted: dict[int, tuple[str, str | None, str | None, str | None, str | None]] = attrs.field(
        init=False, factory=dict
    )
    _details: dict[int, tuple[str | None, Mapping[str, str], Any]] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        # Deliberately not calling kmock's __attrs_post_init__: its fallback reactions (naive object handling) are
        # replaced by our router; only user-added reactions go through kmock's DSL matching.
        self.registry = Registry(self._resources)
        self.registry.load_bundled()
        self.store = Store(
            self.registry, self._objects, strict_namespaces=self.strict_namespaces, history_limit=self.history_limit
        )

    # kmock's discovery helpers call this; ours is the registry (kmock also scans all objects, O(n) per call).
    def _get_resources(self) -> list[kmock.resource]:
        return [resource.key for resource in self.registry]

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        body = await raw.read()
        route = parse_route(raw.path)
        verb = route.verb(raw.method, raw.query) if route.group is not None else raw.method.lower()
        request = self._make_request(raw, route, verb, body)
        self._requests.append(request)
        if len(self._requests) > 2 * self.request_log_limit:
            del self._requests[: -self.request_log_limit]  # bounded, so that throughput stays linear
        if route.plural is not None:
            ns = route.namespace if route.plural != "namespaces" or route.group != "" else route.name
            self._unaccounted[id(raw)] = (verb, route.group, route.plural, route.subresource, ns)
        else:
            self._unaccounted[id(raw)] = (verb, None, raw.path, None, None)
        if ACCESS_LISTENERS:
            self._details[id(raw)] = (route.name, request.headers, request.data)
        code = 500
        try:
            response = await self._handle(request)
            code = response.status
            return response
        except KubernetesError as exc:
            code = exc.status
            return _json(errors.status_body(exc), exc.status)
        except Exception as exc:
            self.internal_errors.append(exc)
            failure = KubernetesError(500, "InternalError", repr(exc), {"traceback": traceback.format_exc()})
            return _json(errors.status_body(failure), 500)
        finally:
            self._account(raw, code)

    def _account(self, raw: aiohttp.web.BaseRequest, code: int) -> None:
        """Record a request in the access record once: when answered, or for watches when the stream starts."""
        if (pending := self._unaccounted.pop(id(raw), None)) is not None:
            access = Access(*pending, code)
            self.access[access] += 1
            details = self._details.pop(id(raw), None)
            if details is not None:
                served = Served(access, *details)
                for listener in list(ACCESS_LISTENERS):
                    listener(served)

    def _make_request(self, raw: aiohttp.web.BaseRequest, route: Route, verb: str, body: bytes) -> kmock.Request:
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        actions = {"get": "FETCH", "list": "LIST", "watch": "WATCH", "create": "CREATE", "update": "UPDATE"}
        action = {**actions, "patch": "UPDATE", "delete": "DELETE"}.get(verb)
        known = route.group is not None
        resource = kmock.resource(group=route.group, version=route.version, plural=route.plural) if known else None
        return rendering.Request(
            raw_request=raw,
            url=raw.url,
            method=raw.method,
            params=dict(raw.query),
            headers=dict(raw.headers),
            cookies=dict(raw.cookies),
            body=body,
            text=body.decode("utf-8", "replace"),
            data=data,
            action=kmock.action(action) if action else None,
            resource=resource,
            namespace=route.namespace,
            name=route.name,
            subresource=route.subresource,
        )

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if self._payloads:  # reactions added with kmock's DSL come first (fault injection, overrides)
            try:
                response: aiohttp.web.StreamResponse = await apps.RawHandler._handle(self, request)
                return response
            except NotImplementedError:
                pass
        raw = request._raw_request
        assert raw is not None
        route = parse_route(raw.path)
        if route.plural is None:
            return await self._discovery(raw, route)
        resource = self.registry.get(route.group or "", route.version or "", route.plural)
        if resource is None or (route.namespace is not None and not resource.namespaced):
            raise errors.not_found(route.plural, route.group or "", None)
        if is_service_proxy(route.group, route.plural, route.name, route.subresource):
            return await self.proxy.forward(self.store, resource, raw, route.namespace, route.name or "", request.body)
        if is_pod_log(route.group, route.plural, route.name, route.subresource):
            return await self.pod_logs.serve(self.store, resource, raw, route.namespace, route.name or "")
        return await self._resource(raw, route, resource, request.body)

    async def _resource(
        self, raw: aiohttp.web.BaseRequest, route: Route, resource: Resource, body: bytes
    ) -> aiohttp.web.StreamResponse:
        query, store = raw.query, self.store
        verb = route.verb(raw.method, query)
        ns, name, sub = route.namespace, route.name, route.subresource
        dry_run = query.get("dryRun") == "All"
        table = wants_table(raw.headers.get("Accept", ""))
        if verb in ("list", "deletecollection", "watch"):
            labels = parse_label_selector(query.get("labelSelector"))
            fields = parse_field_selector(query.get("fieldSelector"), resource.kind)
            if name is not None:  # a watch on a single object's URL
                fields = FieldSelector((*fields.terms, ("metadata.name", True, name)))
        if verb == "watch":
            return await self._watch(raw, resource, ns, labels, fields, table)
        if verb == "list":
            return _json(self._list(resource, ns, labels, fields, query, table))
        if sub is not None and sub not in resource.subresources:
            raise errors.not_found(resource.plural, resource.group, None)
        if sub is not None and sub != "status":
            raise errors.method_not_allowed(f"the {sub!r} subresource is not emulated")
        if verb == "get":
            obj = store.get(resource, ns, name or "")
            return _json(
                to_table(resource, [obj], str(store.rv), query.get("includeObject", "Metadata")) if table else obj
            )
        user_agent = raw.headers.get("User-Agent", "")
        if verb == "create" and name is None:
            writer = writer_from_request(query, user_agent, verb)
            obj = store.create(resource, ns, parse_body(body, raw.content_type), dry_run=dry_run, writer=writer)
            return _json(obj, 201)
        if verb == "update" and name is not None:
            writer = writer_from_request(query, user_agent, verb)
            obj = store.replace(
                resource, ns, name, parse_body(body, raw.content_type), subresource=sub, dry_run=dry_run, writer=writer
            )
            return _json(obj)
        if verb == "patch" and name is not None:
            if raw.content_type not in PATCH_TYPES:
                raise errors.unsupported_media_type(raw.content_type)
            writer = writer_from_request(query, user_agent, verb, applies=raw.content_type == SSA_PATCH)
            patch = parse_body(body, raw.content_type)
            obj, created = store.patch(
                resource, ns, name, patch, raw.content_type, subresource=sub, dry_run=dry_run, writer=writer
            )
            return _json(obj, 201 if created else 200)
        options = parse_body(body, raw.content_type) or {}
        if not isinstance(options, dict):
            raise errors.bad_request("DeleteOptions must be a JSON object")
        if "propagationPolicy" in query:
            options["propagationPolicy"] = query["propagationPolicy"]
        if verb == "delete" and name is not None and sub is None:
            obj = store.delete(resource, ns, name, options, dry_run=dry_run)
            gone = store.current(resource, ns, name) is None
            return _json(obj, 200 if gone or dry_run else 202)
        if verb == "deletecollection":
            items = store.delete_collection(resource, ns, labels, fields, options, dry_run=dry_run)
            meta = {"resourceVersion": str(store.rv)}
            return _json(
                {"kind": resource.list_kind, "apiVersion": resource.api_version, "metadata": meta, "items": items}
            )
        raise errors.method_not_allowed(f"{raw.method} is not supported on {raw.path}")

    def _list(self, resource: Resource, ns: str | None, labels: Any, fields: Any, query: Any, table: bool) -> Any:
        items = self.store.list(resource, ns, labels, fields)
        rv, meta = str(self.store.rv), dict[str, Any]()
        offset = 0
        if token := query.get("continue"):
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
                offset, rv = int(decoded[0]), str(decoded[1])
            except (ValueError, TypeError, IndexError):
                raise errors.bad_request(f"invalid continue token: {token!r}") from None
        limit = int(query.get("limit") or 0)
        page = items[offset : offset + limit] if limit > 0 else items[offset:]
        if limit > 0 and offset + limit < len(items):
            meta["continue"] = base64.urlsafe_b64encode(json.dumps([offset + limit, rv]).encode()).decode()
            meta["remainingItemCount"] = len(items) - offset - limit
        if table:
            return to_table(resource, page, rv, query.get("includeObject", "Metadata")) | {
                "metadata": {**meta, "resourceVersion": rv}
            }
        return {
            "kind": resource.list_kind,
            "apiVersion": resource.api_version,
            "metadata": {"resourceVersion": rv, **meta},
            "items": page,
        }

    async def _watch(
        self, raw: aiohttp.web.BaseRequest, resource: Resource, ns: str | None, labels: Any, fields: Any, table: bool
    ) -> aiohttp.web.StreamResponse:
        query = raw.query
        subscriber: Subscriber | None = Subscriber(resource.key, ns, labels, fields)
        response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": JSON})
        try:
            assert subscriber is not None
            initial = self.store.subscribe(resource, subscriber, query.get("resourceVersion"))
            snapshot_rv = str(self.store.rv)  # taken with the snapshot: what the first bookmark may promise
        except KubernetesError as exc:  # e.g. 410 Gone: reported in the stream, as kube-apiserver does
            initial, subscriber = [{"type": "ERROR", "object": errors.status_body(exc)}], None
            snapshot_rv = str(self.store.rv)
        loop = asyncio.get_running_loop()
        timeout = float(query.get("timeoutSeconds") or math.inf)
        deadline = loop.time() + timeout
        bookmarks = query.get("allowWatchBookmarks") == "true" and not table

        def bookmark(rv: str, **annotations: str) -> dict[str, Any]:
            meta: dict[str, Any] = {"resourceVersion": rv}
            if annotations:
                meta["annotations"] = annotations
            return {
                "type": "BOOKMARK",
                "object": {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": meta},
            }

        async def send(event: dict[str, Any]) -> None:
            if table and event["type"] != "ERROR":
                event = {**event, "object": to_table(resource, [event["object"]], str(self.store.rv))}
            await response.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")

        try:
            await response.prepare(raw)
            self._account(raw, response.status)
            for first in initial:
                await send(first)
            if subscriber is None:
                return response
            if bookmarks:
                end = {"k8s.io/initial-events-end": "true"} if query.get("sendInitialEvents") == "true" else {}
                await send(bookmark(snapshot_rv, **end))
            while not self.closing:
                wait = min(deadline - loop.time(), self.bookmark_interval if bookmarks else math.inf)
                if wait <= 0:
                    break
                try:
                    event = await asyncio.wait_for(subscriber.queue.get(), None if math.isinf(wait) else wait)
                except TimeoutError:
                    if loop.time() < deadline and subscriber.queue.empty():  # so everything up to now was sent
                        await send(bookmark(str(self.store.rv)))
                    continue
                if event is None:
                    break
                await send(event)
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client went away
        finally:
            if subscriber is not None:
                self.store.unsubscribe(subscriber)
        return response

    def close_watches(self) -> None:
        self.closing = True
        for subscriber in list(self.store.subscribers):
            subscriber.queue.put_nowait(None)

    async def _discovery(self, raw: aiohttp.web.BaseRequest, route: Route) -> aiohttp.web.StreamResponse:
        if raw.method != "GET":
            raise errors.method_not_allowed(f"{raw.method} is not supported on {raw.path}")
        path = raw.path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz"):
            return aiohttp.web.Response(text="ok")
        document = discovery.document(self.registry, path, route.group, route.version)
        if document is None:
            raise errors.not_found("", "", None)
        return _json(document)
