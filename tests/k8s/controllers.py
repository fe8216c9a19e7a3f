"""What kube-apiserver and the control plane do around a write: kind-specific defaults, CRD registration, the garbage
collector (ownerReferences) and the namespace controller. The emulator runs them synchronously inside the write."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import kmock

from . import errors
from .fieldmanager import GARBAGE_COLLECTOR, now_rfc3339
from .resources import CRD_RESOURCE, Registry, Resource, resources_from_crd

if TYPE_CHECKING:
    from .store import Store

__all__ = ["apply_defaults", "collect_garbage", "empty_namespace", "now_rfc3339", "register_crd", "unregister_crd"]

Obj = dict[str, Any]
NAMESPACES = kmock.resource("", "v1", "namespaces")
SECRETS = kmock.resource("", "v1", "secrets")


def apply_defaults(resource: Resource, old: Obj | None, new: Obj) -> None:
    """Kind-specific server behaviour on every create/update, before the commit (``new`` is mutated)."""
    if resource.key == SECRETS:
        string_data = new.pop("stringData", None) or {}
        encoded = {k: base64.b64encode(str(v).encode()).decode() for k, v in string_data.items()}
        if encoded:
            new["data"] = {**(new.get("data") or {}), **encoded}
        new.setdefault("type", "Opaque")
    elif resource.key == NAMESPACES and old is None:
        new["status"] = {"phase": "Active"}
    elif resource.key == CRD_RESOURCE.key:
        _crd_status(resource, new)


def _crd_status(resource: Resource, crd: Obj) -> None:
    name = crd["metadata"]["name"]
    try:
        resources_from_crd(crd)
        names, group = crd["spec"]["names"], crd["spec"]["group"]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise errors.invalid(resource.kind, resource.group, name, "spec", "FieldValueInvalid", str(exc)) from None
    if name != f"{names['plural']}.{group}":
        detail = f'"{name}": must be spec.names.plural+"."+spec.group'
        raise errors.invalid(resource.kind, resource.group, name, "metadata.name", "FieldValueInvalid", detail)
    conditions = [
        ("NamesAccepted", "NoConflicts", "no conflicts found"),
        ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
    ]
    crd["status"] = {
        "acceptedNames": names,
        "storedVersions": [v["name"] for v in crd["spec"].get("versions", []) if v.get("storage")],
        "conditions": [
            {"type": t, "status": "True", "reason": r, "message": m, "lastTransitionTime": now_rfc3339()}
            for t, r, m in conditions
        ],
    }


def register_crd(registry: Registry, crd: Obj) -> None:
    """Serve (or re-serve, after an update) the resources a stored CRD defines."""
    for old in [r for r in registry if r.crd_name == crd["metadata"]["name"]]:
        registry.remove(old)
    for resource in resources_from_crd(crd):
        registry.add(resource)


def unregister_crd(store: Store, crd: Obj) -> None:
    """A removed CRD takes its objects with it."""
    for resource in [r for r in store.registry if r.crd_name == crd["metadata"]["name"]]:
        for obj in store.list(resource, None):
            store._remove(resource, obj, obj, "Background")
        store.registry.remove(resource)


def collect_garbage(store: Store, owner_uid: str, policy: str) -> None:
    """The garbage collector: delete (or orphan) the objects whose ownerReferences name a removed owner.

    Like Kubernetes, a dependent that still has another existing owner only loses the dangling reference."""
    for key in sorted(store._dependents.pop(owner_uid, set()), key=str):
        resource = store.registry.get(key[0].group or "", key[0].version or "", key[0].plural or "")
        obj = store.current(resource, key[1], key[2]) if resource is not None else None
        if resource is None or obj is None:
            continue
        refs = obj["metadata"].get("ownerReferences", [])
        alive = [r for r in refs if r.get("uid") != owner_uid and r.get("uid") in store._by_uid]
        if policy == "Orphan" or alive:
            remaining = [r for r in refs if r.get("uid") != owner_uid]
            orphaned = {**obj, "metadata": {**obj["metadata"], "ownerReferences": remaining}}
            store._update(resource, obj, orphaned, False, GARBAGE_COLLECTOR)
        else:
            store.delete(resource, key[1], key[2])


def empty_namespace(store: Store, namespace: str) -> None:
    """The namespace controller: delete everything in a terminating namespace, then the namespace itself."""
    for resource in store.registry:
        if resource.namespaced:
            for obj in store.list(resource, namespace):
                if store.current(resource, namespace, obj["metadata"]["name"]) is not None:
                    store.delete(resource, namespace, obj["metadata"]["name"])
    namespaces = store.registry.by_key(NAMESPACES)
    ns = store.current(namespaces, None, namespace)
    if ns is not None and not ns["metadata"].get("finalizers") and not store._per_namespace[namespace]:
        store._remove(namespaces, ns, ns, "Background")
