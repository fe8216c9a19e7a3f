"""The object store with kube-apiserver semantics: stamping, generation, optimistic concurrency, /status isolation,
field management and server-side apply (fieldmanager.py), finalizers and deletion (the controllers it triggers are in
controllers.py). Runs on the emulator's event loop only, so it needs no locking: every operation is synchronous and
atomic."""

from __future__ import annotations

import collections
import copy
import random
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import kmock

from . import controllers, errors, fieldmanager
from .fieldmanager import EMULATOR, KUBE_APISERVER, Writer
from .patching import SSA_PATCH, apply_patch
from .resources import CRD_RESOURCE, Registry, Resource
from .selectors import FieldSelector, LabelSelector
from .watching import Change, EventHistory, Subscriber

__all__ = ["Store", "now_rfc3339"]

Obj = dict[str, Any]
Objs = list[Obj]  # the methods named `list` shadow the builtin in class-level annotations
Events = list[dict[str, Any]]
Key = tuple[kmock.resource, str | None, str]
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # as in k8s.io/apimachinery/pkg/util/rand
_SERVER_OWNED_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")
NAMESPACES = controllers.NAMESPACES
now_rfc3339 = controllers.now_rfc3339


def _content(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What ``metadata.generation`` tracks: everything but metadata and status (i.e. the spec)."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _normalize_meta(meta: dict[str, Any]) -> None:
    """Drop empty lists/maps, as the apiserver's Go structs (``omitempty``) do."""
    for key in ("labels", "annotations", "finalizers", "ownerReferences", "managedFields"):
        if key in meta and not meta[key]:
            del meta[key]


class Store:
    def __init__(
        self,
        registry: Registry,
        objects: kmock.ObjectsArray,
        *,
        strict_namespaces: bool = True,
        history_limit: int = 20_000,
        versions_kept: int = 4,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.registry = registry
        self.objects = objects  # kmock's ObjectsArray: every object with its recent versions
        self.strict_namespaces = strict_namespaces
        self.rv = 0
        self.history = EventHistory(history_limit)
        self.subscribers: set[Subscriber] = set()
        self._versions_kept = versions_kept
        self._on_change = on_change
        self._live: dict[kmock.resource, dict[tuple[str | None, str], None]] = collections.defaultdict(dict)
        self._by_uid: dict[str, Key] = {}
        self._dependents: dict[str, set[Key]] = collections.defaultdict(set)
        self._per_namespace: collections.Counter[str] = collections.Counter()
        for name in SYSTEM_NAMESPACES:
            self.create(self._namespaces, None, {"metadata": {"name": name}}, writer=KUBE_APISERVER)

    @property
    def _namespaces(self) -> Resource:
        return self.registry.by_key(NAMESPACES)

    # Reading.

    def current(self, resource: Resource, namespace: str | None, name: str) -> Obj | None:
        key = (resource.key, namespace if resource.namespaced else None, name)
        if key not in self.objects:
            return None
        obj = self.objects[key]
        return None if obj.deleted else obj.last.raw

    def get(self, resource: Resource, namespace: str | None, name: str) -> Obj:
        obj = self.current(resource, namespace, name)
        if obj is None:
            raise errors.not_found(resource.plural, resource.group, name)
        return obj

    def list(
        self,
        resource: Resource,
        namespace: str | None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
    ) -> Objs:
        keys = sorted(self._live.get(resource.key, {}), key=lambda k: (k[0] or "", k[1]))
        if fields is not None and (name := fields.name()) is not None:
            keys = [k for k in keys if k[1] == name]
        items = []
        for ns, name in keys:
            if namespace is not None and ns != namespace:
                continue
            obj = self.objects[resource.key, ns, name].last.raw
            if (labels is None or labels.matches(obj)) and (fields is None or fields.matches(obj)):
                items.append(obj)
        return items

    # Watching.

    def subscribe(self, resource: Resource, subscriber: Subscriber, since: str | None) -> Events:
        """Register a stream and return the events it must see first: the current state, or what came after ``since``.

        Both happen in one synchronous step, so no change can slip between the snapshot and the live events."""
        if since in (None, "", "0"):
            objs = self.list(resource, subscriber.namespace)
            initial = [{"type": "ADDED", "object": obj} for obj in objs if subscriber.selects(obj)]
        else:
            try:
                rv = int(since)
            except ValueError:
                raise errors.bad_request(f"invalid resource version: {since!r}") from None
            initial = self.history.since(rv, subscriber)
        self.subscribers.add(subscriber)
        return initial

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    # Writing.

    def create(
        self,
        resource: Resource,
        namespace: str | None,
        body: Any,
        *,
        dry_run: bool = False,
        writer: Writer = EMULATOR,
        applied: bool = False,
    ) -> Obj:
        """Create an object; ``writer`` gets an ``Update`` entry in its managedFields (``applied``: they are the ones
        of a server-side apply, computed by the caller)."""
        if not isinstance(body, Mapping):
            raise errors.bad_request("the body of the request must be a JSON object")
        self._check_type(resource, body)
        meta = dict(body.get("metadata") or {})
        if resource.namespaced:
            namespace = namespace or meta.get("namespace")
            if not namespace:
                raise errors.bad_request("the namespace of the object is missing (post to a namespaced URL)")
            if meta.get("namespace") not in (None, "", namespace):
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
            self._check_namespace_accepts(resource, namespace, meta.get("name") or meta.get("generateName", ""))
        else:
            meta.pop("namespace", None)
            namespace = None
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = self._generate_name(resource, namespace, str(meta["generateName"]))
        name = meta.get("name") or ""
        self._validate_name(resource, name)
        if self.current(resource, namespace, name) is not None:
            raise errors.already_exists(resource.plural, resource.group, name)
        supplied = meta.pop("managedFields", None)
        for key in ("resourceVersion", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(key, None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(), generation=1)
        _normalize_meta(meta)
        new: Obj = {"apiVersion": resource.api_version, "kind": resource.kind, **copy.deepcopy(dict(body))}
        new["apiVersion"], new["kind"], new["metadata"] = resource.api_version, resource.kind, meta
        if resource.isolates_status:
            new.pop("status", None)
        controllers.apply_defaults(resource, None, new)
        meta["managedFields"] = (
            supplied if applied else fieldmanager.record_update(resource, None, new, writer, None, supplied)
        )
        _normalize_meta(meta)  # no entries: no managedFields
        if dry_run:
            return new
        self._commit(resource, "ADDED", None, new)
        return new

    def replace(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        writer: Writer = EMULATOR,
    ) -> Obj:
        if not isinstance(body, Mapping):
            raise errors.bad_request("the body of the request must be a JSON object")
        old = self.get(resource, namespace, name)
        meta = body.get("metadata") or {}
        if meta.get("name") not in (None, "", name):
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        if resource.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        self._check_type(resource, body)
        self._check_rv(resource, old, meta.get("resourceVersion"))
        new = self._merge_subresource(resource, old, dict(body), subresource)
        return self._update(resource, old, new, dry_run, writer, subresource)

    def patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        writer: Writer = EMULATOR,
    ) -> tuple[Obj, bool]:
        """Apply a patch; returns the new object and whether it was created (server-side apply of a new object)."""
        old = self.current(resource, namespace, name)
        if content_type == SSA_PATCH:
            return self._apply(resource, namespace, name, old, patch, subresource, dry_run, writer)
        if old is None:
            raise errors.not_found(resource.plural, resource.group, name)
        patched = apply_patch(old, patch, content_type)
        self._check_rv(resource, old, (patched.get("metadata") or {}).get("resourceVersion"))
        new = self._merge_subresource(resource, old, patched, subresource)
        return self._update(resource, old, new, dry_run, writer, subresource), False

    def _apply(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        old: Obj | None,
        patch: Any,
        subresource: str | None,
        dry_run: bool,
        writer: Writer,
    ) -> tuple[Obj, bool]:
        """Server-side apply: the configuration merged in (or a new object made of it) with the field ownership of
        fieldmanager.apply; a ``metadata.resourceVersion`` in it is a precondition."""
        config = fieldmanager.check_apply_config(resource, name, patch)
        if resource.namespaced and (config.get("metadata") or {}).get("namespace") not in (None, "", namespace):
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        if old is None:
            if subresource is not None:
                raise errors.not_found(resource.plural, resource.group, name)
            body, managed = fieldmanager.apply(resource, None, config, writer, None)
            body["metadata"] = {**(body.get("metadata") or {}), "name": name, "managedFields": managed}
            return self.create(resource, namespace, body, dry_run=dry_run, writer=writer, applied=True), True
        if subresource is not None and subresource not in resource.subresources:
            raise errors.not_found(resource.plural, resource.group, None)
        applied, managed = fieldmanager.apply(resource, old, config, writer, subresource)
        self._check_rv(resource, old, (config.get("metadata") or {}).get("resourceVersion"))
        new = self._merge_subresource(resource, old, applied, subresource)
        new["metadata"] = {**new["metadata"], "managedFields": managed}
        return self._update(resource, old, new, dry_run, writer, subresource, applied=True), False

    def delete(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        dry_run: bool = False,
    ) -> Obj:
        options = options or {}
        old = self.get(resource, namespace, name)
        preconditions = options.get("preconditions") or {}
        meta = old["metadata"]
        if preconditions.get("uid") not in (None, meta["uid"]):
            why = f"Precondition failed: UID in precondition: {preconditions['uid']}, UID in object meta: {meta['uid']}"
            raise errors.conflict(resource.plural, resource.group, name, why)
        if preconditions.get("resourceVersion") not in (None, meta["resourceVersion"]):
            raise errors.conflict(resource.plural, resource.group, name)
        policy = options.get("propagationPolicy") or ("Orphan" if options.get("orphanDependents") else "Background")
        if meta.get("deletionTimestamp"):
            return old  # already being deleted: nothing more to do
        is_namespace = resource.key == NAMESPACES
        if not meta.get("finalizers") and not is_namespace:
            if dry_run:
                return old
            return self._remove(resource, old, old, policy)
        new = copy.deepcopy(old)
        new["metadata"].update(deletionTimestamp=now_rfc3339(), deletionGracePeriodSeconds=0)
        new["metadata"]["generation"] = meta.get("generation", 0) + 1
        if is_namespace:
            new["status"] = {**(new.get("status") or {}), "phase": "Terminating"}
        if dry_run:
            return new
        self._commit(resource, "MODIFIED", old, new)
        if is_namespace:
            controllers.empty_namespace(self, name)
            return self.current(resource, None, name) or new
        return new

    def delete_collection(
        self,
        resource: Resource,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        options: Mapping[str, Any] | None = None,
        *,
        dry_run: bool = False,
    ) -> Objs:
        result = []
        for obj in self.list(resource, namespace, labels, fields):
            meta = obj["metadata"]
            if self.current(resource, meta.get("namespace"), meta["name"]) is not None:
                result.append(self.delete(resource, meta.get("namespace"), meta["name"], options, dry_run=dry_run))
        return result

    # The machinery.

    def _check_type(self, resource: Resource, body: Mapping[str, Any]) -> None:
        if body.get("apiVersion") not in (None, "", resource.api_version):
            raise errors.bad_request(
                f"the API version in the data ({body['apiVersion']}) does not match the expected API version "
                f"({resource.api_version})"
            )
        if body.get("kind") not in (None, "", resource.kind):
            raise errors.bad_request(
                f"the kind in the data ({body['kind']}) does not match the expected kind ({resource.kind})"
            )

    def _check_rv(self, resource: Resource, old: Obj, rv: Any) -> None:
        if rv not in (None, "") and str(rv) != old["metadata"]["resourceVersion"]:
            raise errors.conflict(resource.plural, resource.group, old["metadata"]["name"])

    def _check_namespace_accepts(self, resource: Resource, namespace: str, name: str) -> None:
        ns = self.current(self._namespaces, None, namespace)
        if ns is None:
            if self.strict_namespaces:
                raise errors.not_found("namespaces", "", namespace)
            return
        if ns["metadata"].get("deletionTimestamp"):
            message = (
                f'{resource.plural}{"." + resource.group if resource.group else ""} "{name}" is forbidden: '
                f"unable to create new content in namespace {namespace} because it is being terminated"
            )
            raise errors.forbidden(message, {"name": name, "group": resource.group, "kind": resource.plural})

    def _validate_name(self, resource: Resource, name: str) -> None:
        if not name:
            raise errors.invalid(
                resource.kind,
                resource.group,
                "",
                "metadata.name",
                "FieldValueRequired",
                "name or generateName is required",
            )
        if resource.group == "rbac.authorization.k8s.io":
            ok = "/" not in name and name not in (".", "..")  # RBAC names are path segments (e.g. "system:x")
        elif resource.key == NAMESPACES:
            ok = bool(_LABEL.match(name)) and len(name) <= 63
        else:
            ok = bool(_SUBDOMAIN.match(name)) and len(name) <= 253
        if not ok:
            detail = f'"{name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '
            detail += "'-' or '.', and must start and end with an alphanumeric character"
            raise errors.invalid(resource.kind, resource.group, name, "metadata.name", "FieldValueInvalid", detail)

    def _generate_name(self, resource: Resource, namespace: str | None, prefix: str) -> str:
        while True:
            name = prefix + "".join(random.choices(_SUFFIX_ALPHABET, k=5))
            if self.current(resource, namespace, name) is None:
                return name

    def _merge_subresource(self, resource: Resource, old: Obj, new: Obj, subresource: str | None) -> Obj:
        """/status writes change only .status; main-resource writes never change .status (if it is isolated)."""
        if subresource is not None and subresource not in resource.subresources:
            raise errors.not_found(resource.plural, resource.group, None)
        if subresource == "status":
            result = copy.deepcopy(old)
            if new.get("status") is None:
                result.pop("status", None)
            else:
                result["status"] = new["status"]
            return result
        if subresource is not None:
            raise errors.method_not_allowed(f"the subresource {subresource!r} is not supported by the emulator")
        if resource.isolates_status:
            new = {k: v for k, v in new.items() if k != "status"}
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
        return new

    def _update(
        self,
        resource: Resource,
        old: Obj,
        new: Obj,
        dry_run: bool,
        writer: Writer = EMULATOR,
        subresource: str | None = None,
        *,
        applied: bool = False,
    ) -> Obj:
        """Write a new version (``writer`` gets an ``Update`` entry in managedFields, unless ``applied``: they are the
        ones server-side apply computed); a write that changes nothing changes nothing."""
        old_meta = old["metadata"]
        meta = dict(new.get("metadata") or {})
        meta["name"] = old_meta["name"]
        if resource.namespaced:
            meta["namespace"] = old_meta["namespace"]
        else:
            meta.pop("namespace", None)
        for key in _SERVER_OWNED_META:
            meta.pop(key, None)
            if key in old_meta:
                meta[key] = old_meta[key]
        meta["resourceVersion"] = old_meta["resourceVersion"]
        meta.pop("selfLink", None)
        supplied = meta.pop("managedFields", None)
        _normalize_meta(meta)
        new = {**new, "apiVersion": resource.api_version, "kind": resource.kind, "metadata": meta}
        if old_meta.get("deletionTimestamp"):
            added = [f for f in meta.get("finalizers", []) if f not in old_meta.get("finalizers", [])]
            if added:
                listed = ", ".join(f'"{f}"' for f in added)
                detail = "no new finalizers can be added if the object is being deleted, "
                detail += f"found new finalizers []string{{{listed}}}"
                raise errors.invalid(
                    resource.kind, resource.group, meta["name"], "metadata.finalizers", "FieldValueForbidden", detail
                )
        controllers.apply_defaults(resource, old, new)
        if _content(new) != _content(old):
            meta["generation"] = old_meta.get("generation", 1) + 1
        if applied:
            meta["managedFields"] = supplied
        else:
            meta["managedFields"] = fieldmanager.record_update(resource, old, new, writer, subresource, supplied)
        _normalize_meta(meta)  # no entries: no managedFields
        if new == old:
            return old  # a no-op write changes nothing: no new resourceVersion, no watch event
        if dry_run:
            return new
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and self._may_vanish(resource, new):
            return self._remove(resource, old, new, "Background")
        self._commit(resource, "MODIFIED", old, new)
        return new

    def _may_vanish(self, resource: Resource, obj: Obj) -> bool:
        return resource.key != NAMESPACES or not self._per_namespace[obj["metadata"]["name"]]

    def _remove(self, resource: Resource, old: Obj, final: Obj, policy: str) -> Obj:
        final = copy.deepcopy(final)
        self._commit(resource, "DELETED", old, final)
        uid, namespace = final["metadata"]["uid"], final["metadata"].get("namespace")
        controllers.collect_garbage(self, uid, policy)
        if resource.key == CRD_RESOURCE.key:
            controllers.unregister_crd(self, final)
        if namespace and not self._per_namespace[namespace]:
            ns = self.current(self._namespaces, None, namespace)
            if ns is not None and ns["metadata"].get("deletionTimestamp") and not ns["metadata"].get("finalizers"):
                self._remove(self._namespaces, ns, ns, "Background")
        return final

    def _commit(self, resource: Resource, kind: str, old: Obj | None, new: Obj) -> None:
        self.rv += 1
        new["metadata"]["resourceVersion"] = str(self.rv)
        meta = new["metadata"]
        namespace, name, uid = meta.get("namespace"), meta["name"], meta["uid"]
        key: Key = (resource.key, namespace, name)
        if kind == "ADDED":
            if key in self.objects:
                self.objects[key].create(new)
            else:
                self.objects[key] = new
            self._live[resource.key][namespace, name] = None
            self._by_uid[uid] = key
            if namespace:
                self._per_namespace[namespace] += 1
        elif kind == "MODIFIED":
            self.objects[key].history.append(new)
        else:
            self.objects[key].history.append(new)
            self.objects[key].delete()
            self._live[resource.key].pop((namespace, name), None)
            self._by_uid.pop(uid, None)
            if namespace:
                self._per_namespace[namespace] -= 1
        history = self.objects[key].history
        if len(history) > self._versions_kept:
            del history[: len(history) - self._versions_kept]
        for ref in (old or {}).get("metadata", {}).get("ownerReferences", []):
            self._dependents.get(ref.get("uid"), set()).discard(key)
        if kind != "DELETED":
            for ref in meta.get("ownerReferences", []):
                self._dependents[ref.get("uid")].add(key)
        if resource.key == CRD_RESOURCE.key and kind != "DELETED":
            controllers.register_crd(self.registry, new)
        change = Change(self.rv, resource.key, kind, old, new)
        self.history.append(change)
        for subscriber in list(self.subscribers):
            if (event := subscriber.translate(change)) is not None:
                subscriber.queue.put_nowait(event)
        if self._on_change is not None:
            self._on_change()
