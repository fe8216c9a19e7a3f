"""``ApiEmulator``: the Kubernetes API emulator served over HTTP from a background thread with its own event loop."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import copy
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Self, TypeVar

import aiohttp.web
import yaml

from .fieldmanager import EMULATOR, Writer
from .patching import JSON_PATCH, MERGE_PATCH, SSA_PATCH, STRATEGIC_PATCH
from .resources import CRD_RESOURCE, Resource, read_crd_documents
from .selectors import parse_label_selector
from .server import Access, EmulatorHandler

__all__ = ["ApiEmulator"]

T = TypeVar("T")
Obj = dict[str, Any]
Objs = list[Obj]  # `list` is shadowed by ApiEmulator.list in class-level annotations
Resources = list[Resource]
Requests = list[Any]
PATCH_TYPES = {"merge": MERGE_PATCH, "json": JSON_PATCH, "strategic": STRATEGIC_PATCH, "apply": SSA_PATCH}
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


class ApiEmulator:
    """A Kubernetes API server emulator (kmock-based) for tests and local runs, served from its own thread.

    Start it with ``with ApiEmulator.running(crds_dir=...) as api:`` or ``api.start()`` / ``api.stop()``.
    The helpers (``create``, ``get``, ``list``, ``patch``, ``delete``, ...) are synchronous and thread-safe; they act
    on the store directly (they are not API requests, so they do not appear in :meth:`access_counts`). Their writes
    are recorded in ``metadata.managedFields`` for the field manager ``"emulator"`` unless ``field_manager`` says.
    ``api.kmock`` is the underlying kmock handler: its DSL reactions take precedence over the emulation, e.g.
    ``api.kmock['patch', kmock.resource('orchestrator.dev/v1alpha1/servicerequests')] << 500`` injects a fault.
    """

    def __init__(
        self,
        *,
        crds_dir: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        strict_namespaces: bool = True,
        request_log_limit: int = 1000,
        bookmark_interval: float = 30.0,
        history_limit: int = 20_000,
    ) -> None:
        self.kmock = EmulatorHandler(
            strict_namespaces=strict_namespaces,
            request_log_limit=request_log_limit,
            bookmark_interval=bookmark_interval,
            history_limit=history_limit,
        )
        self.store = self.kmock.store
        self.store._on_change = self._notify
        self._host, self._port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._failure: BaseException | None = None
        self._changed = threading.Condition()
        self._generation = 0
        if crds_dir is not None:
            self.load_crds(crds_dir)

    # Lifecycle.

    @classmethod
    @contextlib.contextmanager
    def running(cls, **kwargs: Any) -> Iterator[ApiEmulator]:
        emulator = cls(**kwargs)
        emulator.start()
        try:
            yield emulator
        finally:
            emulator.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self, timeout: float = 10.0) -> Self:
        if self._thread is not None or self._started.is_set():
            raise RuntimeError("the emulator is already started (or was stopped: start a new one instead)")
        self._thread = threading.Thread(target=self._run, name="k8s-api-emulator", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout) or self._failure is not None:
            raise RuntimeError(f"the API emulator failed to start: {self._failure!r}") from self._failure
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None or self._loop is None or self._stop is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve(loop))
        except BaseException as exc:  # reported by start()
            self._failure = exc
            self._started.set()
        finally:
            loop.close()

    async def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        self._stop = asyncio.Event()
        async with self.kmock:  # starts kmock's stream feeder (for its DSL streams)
            server = aiohttp.web.Server(self.kmock, handler_cancellation=True)
            runner = aiohttp.web.ServerRunner(server, shutdown_timeout=1.0)
            await runner.setup()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
            self._port = sock.getsockname()[1]
            site = aiohttp.web.SockSite(runner, sock)
            await site.start()
            self._loop = loop
            self._started.set()
            try:
                await self._stop.wait()
            finally:
                self.kmock.close_watches()
                await runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def internal_errors(self) -> list[BaseException]:
        """Unexpected exceptions inside the emulator (each was answered with a 500); empty unless it has a bug."""
        return self.kmock.internal_errors

    # Running code on the emulator's loop.

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the emulator's event loop (where the store lives) and return its result."""
        loop = self._loop
        if loop is None or threading.current_thread() is self._thread or not loop.is_running():
            return fn(*args, **kwargs)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=30)

    async def acall(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """The same as :meth:`call`, awaitable from another event loop (e.g. an async test or the operator's)."""
        return await asyncio.get_running_loop().run_in_executor(None, lambda: self.call(fn, *args, **kwargs))

    def _notify(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    # Object helpers (synchronous, thread-safe, not counted as API requests).

    def resource(self, name: str) -> Resource:
        """Resolve a plural, singular, kind, short name (``sr``), ``plural.group`` or ``group/version/plural``."""
        return self.call(self.kmock.registry.find, name)

    def create(self, obj: Mapping[str, Any], *, namespace: str | None = None, field_manager: str = "emulator") -> Obj:
        """Create an object as a client would; also writes its ``status`` (via /status) and creates its namespace."""
        writer = Writer(field_manager)

        def op() -> Obj:
            resource = self.kmock.registry.for_kind(obj["apiVersion"], obj["kind"])
            ns = (namespace or obj.get("metadata", {}).get("namespace") or "default") if resource.namespaced else None
            if ns is not None:
                self._ensure_namespace(ns)
            created = self.store.create(resource, ns, obj, writer=writer)
            if resource.isolates_status and obj.get("status") is not None:
                name, status = created["metadata"]["name"], {"status": obj["status"]}
                created = self.store.replace(resource, ns, name, status, subresource="status", writer=writer)
            return created

        return copy.deepcopy(self.call(op))

    def _ensure_namespace(self, namespace: str) -> None:
        namespaces = self.kmock.registry.get("", "v1", "namespaces")
        assert namespaces is not None
        if self.store.current(namespaces, None, namespace) is None:
            self.store.create(namespaces, None, {"metadata": {"name": namespace}}, writer=EMULATOR)

    def get(self, resource: str, name: str, namespace: str | None = None) -> Obj | None:
        return copy.deepcopy(self.call(lambda: self.store.current(self.kmock.registry.find(resource), namespace, name)))

    def list(self, resource: str, namespace: str | None = None, *, labels: str | None = None) -> Objs:
        """Objects of a resource (all namespaces unless given), optionally filtered by a label selector."""

        def op() -> Objs:
            return self.store.list(self.kmock.registry.find(resource), namespace, parse_label_selector(labels))

        return copy.deepcopy(self.call(op))

    def objects(self, kind: str, namespace: str | None = None) -> Objs:
        """All current objects of a kind (``"ServiceRequest"``, ``"sr"``, ``"secrets"``...)."""
        return self.list(kind, namespace)

    def patch(
        self,
        resource: str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        status: bool = False,
        patch_type: str = "merge",
        field_manager: str = "emulator",
        force: bool = False,
    ) -> Obj:
        """Patch an object (``patch_type``: merge, json, strategic, apply); ``status=True`` patches ``/status``.

        ``apply`` is server-side apply by ``field_manager`` (``force=True`` takes over conflicting fields)."""
        writer = Writer(field_manager, force)

        def op() -> Obj:
            res = self.kmock.registry.find(resource)
            sub = "status" if status else None
            content_type = PATCH_TYPES[patch_type]
            return self.store.patch(res, namespace, name, patch, content_type, subresource=sub, writer=writer)[0]

        return copy.deepcopy(self.call(op))

    def replace(self, obj: Mapping[str, Any], *, status: bool = False, field_manager: str = "emulator") -> Obj:
        """Replace (PUT) an object; ``status=True`` replaces only its ``status`` via ``/status``."""
        writer = Writer(field_manager)

        def op() -> Obj:
            resource = self.kmock.registry.for_kind(obj["apiVersion"], obj["kind"])
            meta = obj.get("metadata", {})
            sub = "status" if status else None
            namespace, name = meta.get("namespace"), meta["name"]
            return self.store.replace(resource, namespace, name, obj, subresource=sub, writer=writer)

        return copy.deepcopy(self.call(op))

    def delete(
        self, resource: str, name: str, namespace: str | None = None, *, propagation: str | None = None
    ) -> Obj | None:
        """Delete an object as a client would (finalizers honoured); returns ``None`` if it did not exist."""

        def op() -> Obj | None:
            res = self.kmock.registry.find(resource)
            if self.store.current(res, namespace, name) is None:
                return None
            return self.store.delete(res, namespace, name, {"propagationPolicy": propagation} if propagation else {})

        return copy.deepcopy(self.call(op))

    def events(self, namespace: str | None = None, *, involving: Mapping[str, Any] | None = None) -> Objs:
        """Kubernetes Events (core v1 and events.k8s.io/v1), optionally only those about one object."""
        found = self.list("v1/events", namespace)
        found += self.list("events.k8s.io/v1/events", namespace)
        if involving is not None:
            uid = involving.get("metadata", {}).get("uid")
            found = [e for e in found if (e.get("involvedObject") or e.get("regarding") or {}).get("uid") == uid]
        return found

    def versions(self, resource: str, name: str, namespace: str | None = None) -> Objs:
        """Every state of the object still in the watch history (oldest first), e.g. to see transient annotations."""

        def op() -> Objs:
            key = self.kmock.registry.find(resource).key
            return [
                dict(change.new)
                for change in self.store.history._changes
                if change.resource == key
                and change.new["metadata"]["name"] == name
                and change.new["metadata"].get("namespace") == namespace
            ]

        return copy.deepcopy(self.call(op))

    def wait_for(
        self,
        resource: str,
        name: str,
        namespace: str | None = None,
        *,
        condition: Callable[[Obj | None], bool] | None = None,
        timeout: float = 10.0,
    ) -> Obj | None:
        """Block until ``condition(object or None)`` holds (default: the object exists); return the object."""
        check = condition or (lambda obj: obj is not None)
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                seen = self._generation
            obj = self.get(resource, name, namespace)
            if check(obj):
                return obj
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{resource} {namespace}/{name} did not reach the condition in {timeout}s: {obj}")
            with self._changed:
                if self._generation == seen:
                    self._changed.wait(remaining)

    def load_crds(self, path: str | Path) -> Resources:
        """Register the CustomResourceDefinitions of a YAML file or folder (stored as CRD objects, too)."""
        documents = read_crd_documents(path)

        def op() -> Resources:
            for crd in documents:
                current = self.store.current(CRD_RESOURCE, None, crd["metadata"]["name"])
                if current is None:
                    self.store.create(CRD_RESOURCE, None, crd)
                else:
                    meta = {**crd["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}
                    self.store.replace(CRD_RESOURCE, None, crd["metadata"]["name"], {**crd, "metadata": meta})
            names = {crd["metadata"]["name"] for crd in documents}
            return [r for r in self.kmock.registry if r.crd_name in names]

        return self.call(op)

    def load(self, source: str | Path | Iterable[Mapping[str, Any]]) -> Objs:
        """Create (or replace) the objects of YAML files/folders or of given dicts; CRDs go first."""
        if isinstance(source, str | Path):
            path = Path(source)
            files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
            docs = [d for f in files for d in yaml.safe_load_all(f.read_text(encoding="utf-8")) if isinstance(d, dict)]
        else:
            docs = [dict(d) for d in source]
        docs = [d for d in docs if "apiVersion" in d and "kind" in d]
        docs.sort(key=lambda d: d["kind"] != "CustomResourceDefinition")
        result = []
        for doc in docs:
            meta = doc.get("metadata", {})
            resource = self.call(self.kmock.registry.for_kind, doc["apiVersion"], doc["kind"])
            namespace = (meta.get("namespace") or "default") if resource.namespaced else None
            existing = self.call(self.store.current, resource, namespace, meta.get("name", ""))
            if existing is None:
                result.append(self.create(doc, namespace=namespace))
            else:
                merged = {**doc, "metadata": {**meta, "namespace": namespace}}
                merged["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
                result.append(self.replace(merged))
        return result

    # The access record.

    def access_counts(self) -> collections.Counter[Access]:
        """How many requests of each (verb, group, resource, subresource, namespace, code) were served."""
        return self.call(lambda: collections.Counter(self.kmock.access))

    def reset_access(self) -> None:
        self.call(self.kmock.access.clear)

    def write_counts(self, *, successful: bool = True) -> collections.Counter[str]:
        """API writes (create/update/patch/delete) per resource, ``plural[/subresource]`` (for benchmarks)."""
        counts: collections.Counter[str] = collections.Counter()
        for access, n in self.access_counts().items():
            if access.verb in WRITE_VERBS and (not successful or access.code < 400):
                counts[f"{access.resource}/{access.subresource}" if access.subresource else str(access.resource)] += n
        return counts

    @property
    def requests(self) -> Requests:
        """kmock's log of the most recent requests (bounded by ``request_log_limit``)."""
        return self.call(lambda: list(self.kmock._requests))

    # Connecting clients.

    def write_kubeconfig(
        self, path: str | Path, *, namespace: str = "default", context: str = "emulator", token: str | None = None
    ) -> Path:
        """Write a kubeconfig pointing at the emulator (for kubectl, the kubernetes client, kopf).

        ``token``: the user's bearer token (the emulator accepts any; it tells callers apart, see ACCESS_LISTENERS)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": token} if token else {}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}],
            "current-context": context,
            "preferences": {},
        }
        path = Path(path)
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    def proxy_service(self, namespace: str, name: str, url: str | None) -> None:
        """Serve the API server's service proxy for Service ``namespace/name`` from ``url`` (its stand-in endpoints).

        ``/api/v1/namespaces/NS/services/NAME[:PORT]/proxy/PATH`` is then forwarded to ``url + /PATH``, as long as
        the Service object exists and names the port; ``url=None`` takes the endpoints away again (503)."""
        self.call(self.kmock.proxy.route, namespace, name, url)

    def write_pod_log(self, namespace: str, pod: str, text: str, *, at: datetime | None = None) -> None:
        """Append ``text`` to what ``GET /api/v1/namespaces/NS/pods/POD/log`` returns (each line stamped ``at``,
        default now), standing for what the pod's container printed (see pod_logs.py)."""
        self.call(self.kmock.pod_logs.write, namespace, pod, text, at)

    def connection_info(self, *, default_namespace: str = "default") -> Any:
        """A ``kopf.ConnectionInfo`` for an ``@kopf.on.login`` handler."""
        import kopf

        return kopf.ConnectionInfo(server=self.url, insecure=True, default_namespace=default_namespace)
