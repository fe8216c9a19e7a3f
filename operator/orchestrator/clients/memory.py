"""An in-memory Kubernetes API: the ``KubernetesClient`` calls, answered in the process (``devctl simulate``).

Like kubectl's client-side dry run, nothing leaves the process. It keeps the semantics the operator's code relies
on, as a real API server has them:

- create stamps ``uid``, ``resourceVersion`` (one counter for every object), ``generation`` 1 and
  ``creationTimestamp``; a name that is taken is 409 AlreadyExists; ``generateName`` is honoured;
- ``patch`` is an RFC 7386 merge patch; ``metadata.resourceVersion`` in the patch is a precondition (409 Conflict
  when stale); 404 when the object does not exist;
- the status subresource: a patch with ``subresource="status"`` changes only ``status``, one without it never does;
  ``generation`` grows when anything but metadata and status changes;
- Secrets: ``stringData`` is folded into ``data`` (base64) on every write, and never stored;
- server-side apply, simplified: the object is created, or the applied configuration is merged into it (maps
  merged, lists replaced); the field manager is recorded in ``managedFields`` (operation Apply, with the time);
  field ownership, conflicts and the removal of fields a manager stopped applying are not modelled;
- delete: a missing object counts as deleted (as ``KubernetesApi.delete``); a ``uid`` precondition naming another
  object is 409; deleting a Namespace deletes what is in it;
- label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k``, ``!k``.

Not modelled: watches, admission and defaulting, the existence of namespaces, owner-reference garbage collection,
finalizers and ``deletionTimestamp``.
"""

from __future__ import annotations

import base64
import copy
import itertools
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .kubernetes_types import KubernetesApiError, ResourceRef

_KEY = r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_EQUALITY = re.compile(rf"^(?P<key>{_KEY})\s*(?P<op>==|!=|=)\s*(?P<value>{_VALUE})$")
_SET = re.compile(rf"^(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_EXISTS = re.compile(rf"^(?P<negated>!?)\s*(?P<key>{_KEY})$")
_SERVER_FIELDS = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")

ObjectKey = tuple[str, str, str | None, str]
"""(group, plural, namespace or None for cluster-scoped objects, name)."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, ``None`` removes a key, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


@dataclass(frozen=True)
class _Requirement:
    key: str
    operator: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.operator == "exists":
            return value is not None
        if self.operator == "!exists":
            return value is None
        if self.operator == "in":
            return value is not None and value in self.values
        return value is None or value not in self.values  # notin and != match objects without the label


def _split_selector(selector: str) -> Iterator[str]:
    depth = 0
    part = ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            yield part.strip()
            part = ""
        else:
            part += char
    if part.strip():
        yield part.strip()


def parse_selector(selector: str) -> list[_Requirement]:
    """The requirements of a label selector; ``KubernetesApiError`` 400 when it cannot be parsed."""
    requirements = []
    for part in _split_selector(selector):
        if match := _EQUALITY.match(part):
            operator = "notin" if match["op"] == "!=" else "in"
            requirements.append(_Requirement(match["key"], operator, frozenset({match["value"]})))
        elif match := _SET.match(part):
            values = frozenset(v.strip() for v in match["values"].split(",") if v.strip())
            requirements.append(_Requirement(match["key"], match["op"], values))
        elif match := _EXISTS.match(part):
            requirements.append(_Requirement(match["key"], "!exists" if match["negated"] else "exists"))
        else:
            raise KubernetesApiError(400, "BadRequest", f"unable to parse requirement: {part!r}")
    return requirements


def _fold_string_data(body: dict[str, Any]) -> None:
    """What the API server does with a Secret's ``stringData``: encode it into ``data``."""
    string_data = body.pop("stringData", None)
    if string_data:
        data = dict(body.get("data") or {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        body["data"] = data


class MemoryKubernetes:
    """A ``KubernetesClient`` holding every object in a dict; see the module docstring for what it models."""

    def __init__(self) -> None:
        self._objects: dict[ObjectKey, dict[str, Any]] = {}
        self._versions = itertools.count(1)
        self._names = itertools.count(1)

    # --- helpers ------------------------------------------------------------------------------------------------
    @staticmethod
    def _key(resource: ResourceRef, namespace: str | None, name: str) -> ObjectKey:
        return (resource.group, resource.plural, namespace if resource.namespaced else None, name)

    def _stored(self, resource: ResourceRef, name: str, namespace: str | None) -> dict[str, Any]:
        stored = self._objects.get(self._key(resource, namespace, name))
        if stored is None:
            where = f" in namespace {namespace}" if resource.namespaced and namespace else ""
            raise KubernetesApiError(404, "NotFound", f'{resource.plural} "{name}" not found{where}')
        return stored

    def _written(self, resource: ResourceRef, stored: dict[str, Any]) -> dict[str, Any]:
        stored["metadata"]["resourceVersion"] = str(next(self._versions))
        if resource.plural == "secrets" and not resource.group:
            _fold_string_data(stored)
        return copy.deepcopy(stored)

    @staticmethod
    def _check_version(stored: Mapping[str, Any], wanted: Any) -> None:
        if wanted is not None and str(wanted) != stored["metadata"]["resourceVersion"]:
            name = stored["metadata"]["name"]
            raise KubernetesApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on "{name}": the object has been modified; '
                "please apply your changes to the latest version and try again",
            )

    def _namespace_of(self, resource: ResourceRef, body: Mapping[str, Any], namespace: str | None) -> str | None:
        if not resource.namespaced:
            return None
        given = (body.get("metadata") or {}).get("namespace")
        if namespace and given and given != namespace:
            raise KubernetesApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        found = namespace or given
        if not found:
            raise KubernetesApiError(400, "BadRequest", f"{resource.plural} are namespaced: a namespace is required")
        return str(found)

    def _new(self, resource: ResourceRef, body: Mapping[str, Any], namespace: str | None) -> dict[str, Any]:
        stored: dict[str, Any] = copy.deepcopy(dict(body))
        metadata = stored.setdefault("metadata", {})
        if not metadata.get("name"):
            if not metadata.get("generateName"):
                raise KubernetesApiError(422, "Invalid", "metadata.name: Required value: name or generateName")
            metadata["name"] = f"{metadata['generateName']}{next(self._names):05d}"
        ns = self._namespace_of(resource, stored, namespace)
        if ns is not None:
            metadata["namespace"] = ns
        else:
            metadata.pop("namespace", None)
        if self._key(resource, ns, metadata["name"]) in self._objects:
            raise KubernetesApiError(409, "AlreadyExists", f'{resource.plural} "{metadata["name"]}" already exists')
        metadata["uid"] = metadata.get("uid") or str(uuid.uuid4())
        metadata["generation"] = 1
        metadata["creationTimestamp"] = _now()
        metadata.pop("resourceVersion", None)
        self._objects[self._key(resource, ns, metadata["name"])] = stored
        return stored

    # --- seeding and inspection (not part of KubernetesClient) --------------------------------------------------
    def seed(self, resource: ResourceRef, body: Mapping[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Store an object as a test fixture or a loaded manifest: like ``create``, but a given ``uid`` is kept."""
        return self._written(resource, self._new(resource, body, namespace))

    def objects(self, resource: ResourceRef, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every object of ``resource`` (in ``namespace`` when given), ordered by namespace and name."""
        found = [
            copy.deepcopy(obj)
            for (group, plural, ns, _), obj in self._objects.items()
            if (group, plural) == (resource.group, resource.plural) and (namespace is None or ns == namespace)
        ]
        return sorted(found, key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))

    # --- KubernetesClient ---------------------------------------------------------------------------------------
    async def get(self, resource: ResourceRef, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        stored = self._objects.get(self._key(resource, namespace, name))
        return copy.deepcopy(stored) if stored is not None else None

    async def list(
        self, resource: ResourceRef, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        requirements = parse_selector(label_selector) if label_selector else []
        return [
            obj
            for obj in self.objects(resource, namespace if resource.namespaced else None)
            if all(r.matches(obj["metadata"].get("labels") or {}) for r in requirements)
        ]

    async def create(
        self, resource: ResourceRef, body: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        body = {**body, "metadata": {k: v for k, v in (body.get("metadata") or {}).items() if k != "uid"}}
        return self._written(resource, self._new(resource, body, namespace))

    async def patch(
        self,
        resource: ResourceRef,
        name: str,
        patch: Mapping[str, Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        stored = self._stored(resource, name, namespace)
        patch_metadata = dict(patch.get("metadata") or {})
        self._check_version(stored, patch_metadata.pop("resourceVersion", None))
        if subresource == "status":
            if "status" in patch:
                stored["status"] = merge(stored.get("status"), patch["status"]) or {}
            return self._written(resource, stored)
        if subresource is not None:
            raise KubernetesApiError(404, "NotFound", f"the server could not find the subresource {subresource!r}")
        self._apply_change(stored, {**patch, "metadata": patch_metadata})
        return self._written(resource, stored)

    def _apply_change(self, stored: dict[str, Any], change: Mapping[str, Any]) -> None:
        """Merge ``change`` into the stored object: never status or server-set metadata; bump generation."""
        before = {k: v for k, v in stored.items() if k not in ("metadata", "status")}
        metadata = {k: v for k, v in (change.get("metadata") or {}).items() if k not in (*_SERVER_FIELDS, "name")}
        for key, value in change.items():
            if key in ("metadata", "status", "apiVersion", "kind"):
                continue
            if value is None:
                stored.pop(key, None)
            else:
                stored[key] = merge(stored.get(key), value)
        stored["metadata"] = merge(stored["metadata"], metadata)
        after = {k: v for k, v in stored.items() if k not in ("metadata", "status")}
        if before != after:
            stored["metadata"]["generation"] = int(stored["metadata"].get("generation") or 1) + 1

    async def apply(
        self,
        resource: ResourceRef,
        body: Mapping[str, Any],
        *,
        field_manager: str,
        force: bool = False,
        namespace: str | None = None,
    ) -> dict[str, Any]:
        metadata = dict(body.get("metadata") or {})
        name = str(metadata.get("name") or "")
        if not name:
            raise KubernetesApiError(422, "Invalid", "metadata.name: Required value: server-side apply needs a name")
        ns = self._namespace_of(resource, body, namespace)
        entry = {"manager": field_manager, "operation": "Apply", "apiVersion": body.get("apiVersion"), "time": _now()}
        stored = self._objects.get(self._key(resource, ns, name))
        if stored is None:
            if metadata.get("resourceVersion") is not None:
                raise KubernetesApiError(404, "NotFound", f'{resource.plural} "{name}" not found')
            created = {k: v for k, v in body.items() if k != "status"}
            stored = self._new(resource, {**created, "metadata": {k: v for k, v in metadata.items() if k != "uid"}}, ns)
            stored["metadata"]["managedFields"] = [entry]
            return self._written(resource, stored)
        self._check_version(stored, metadata.pop("resourceVersion", None))
        self._apply_change(stored, {**body, "metadata": metadata})
        managers = [m for m in stored["metadata"].get("managedFields") or [] if m.get("manager") != field_manager]
        stored["metadata"]["managedFields"] = [*managers, entry]
        return self._written(resource, stored)

    async def delete(
        self, resource: ResourceRef, name: str, namespace: str | None = None, *, uid: str | None = None
    ) -> None:
        key = self._key(resource, namespace, name)
        stored = self._objects.get(key)
        if stored is None:
            return
        if uid is not None and stored["metadata"].get("uid") != uid:
            raise KubernetesApiError(
                409,
                "Conflict",
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: {stored['metadata'].get('uid')}",
            )
        del self._objects[key]
        if not resource.group and resource.plural == "namespaces":
            for contained in [k for k in self._objects if k[2] == name]:
                del self._objects[contained]

    async def close(self) -> None:
        """Nothing to release; here so that it can stand in wherever a client is closed."""


def without_server_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` as a manifest: the metadata the API server sets (uid, resourceVersion, ...) and status left out."""
    result = {k: copy.deepcopy(v) for k, v in body.items() if k != "status"}
    result["metadata"] = {k: v for k, v in (body.get("metadata") or {}).items() if k not in _SERVER_FIELDS}
    return result
