"""Field management as kube-apiserver does it (k8s.io/apimachinery/pkg/util/managedfields): ``metadata.managedFields``
on every write, and server-side apply (``PATCH`` with ``application/apply-patch+yaml``) with its conflicts.

Followed (https://kubernetes.io/docs/reference/using-api/server-side-apply/ and the apiserver's field manager):

* creates, updates and non-apply patches record an ``Update`` entry for the writer (``?fieldManager=``, else the
  User-Agent up to its first ``/``, else ``unknown``) owning what it added or changed; the others lose those fields,
  and everybody loses what it removed; the entry's time moves only when the write changed something;
* an apply records the ``Apply`` entry of its manager owning exactly the applied configuration; fields it applied
  last time and left out now are removed unless another manager owns them; changing a field another manager owns is a
  409 ``FieldManagerConflict`` unless ``?force=true`` (then the ownership moves); applying the value a field already
  has shares its ownership (a write of the new managedFields); an apply that changes neither values nor ownership
  changes nothing (no new resourceVersion, no event, the entry keeps its time); applying ``null`` takes a field over
  and clears it (the null of a declared field is dropped, as for custom resources, others stay);
* ``/status`` writes get entries with ``subresource: status`` and touch only ``.status``; main-resource writes of a
  kind with a status subresource never own ``.status``; ``apiVersion``, ``kind`` and the server-set metadata (name,
  namespace, uid, resourceVersion, generation, creationTimestamp...) are never owned;
* a non-apply write may replace ``managedFields`` (``[]`` or ``[{}]`` clears them); an apply must not send any;
  at most 10 ``Update`` entries are kept, the oldest merged into ``ancient-changes``.

Not emulated: the schemas of built-in kinds (only ObjectMeta's maps and lists and ConfigMap/Secret data are known:
other lists are atomic, struct fields created by an update get ``.: {}`` as map keys do), duplicate items in
associative lists, the server's part of the ``kubectl`` manager's migration from client-side apply (kubectl does its
own), CRD defaults, and conversion between versions. A ``/status`` apply takes only ``.status`` from its configuration.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from . import errors
from .fieldsets import (
    Path,
    Paths,
    Shape,
    builtin_shape,
    compare,
    drop_nulls,
    equal,
    field_set,
    from_fields_v1,
    merge,
    path_string,
    remove_items,
    to_fields_v1,
    with_named_parents,
)

if TYPE_CHECKING:
    from .resources import Resource

__all__ = [
    "EMULATOR",
    "GARBAGE_COLLECTOR",
    "KUBE_APISERVER",
    "Writer",
    "apply",
    "check_apply_config",
    "now_rfc3339",
    "record_update",
    "writer_from_request",
]

Obj = dict[str, Any]
APPLY, UPDATE = "Apply", "Update"
MAX_UPDATE_MANAGERS = 10
FIELD_MANAGER_MAX_LENGTH = 128
_NEVER_OWNED_META = ("name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation")
_NEVER_OWNED: Paths = frozenset(  # stripMetaManager's set: compared exactly, so their children could be owned
    {("f:apiVersion",), ("f:kind",), ("f:metadata",)}
    | {("f:metadata", "f:" + key) for key in (*_NEVER_OWNED_META, "managedFields", "resourceVersion")}
)


@dataclass(frozen=True)
class Writer:
    """Who writes: the field manager's name, and for an apply whether it forces conflicts (``?force=true``)."""

    manager: str
    force: bool = False


EMULATOR = Writer("emulator")  # writes made with the ApiEmulator helpers, not through the API
GARBAGE_COLLECTOR = Writer("kube-controller-manager")
KUBE_APISERVER = Writer("kube-apiserver")  # the system namespaces


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Entry:
    """One ``managedFields`` entry. Entries are told apart by manager, operation and subresource, and for ``Update``
    by apiVersion too (structured-merge-diff's manager identifier): an applier keeps one entry across versions."""

    manager: str
    operation: str
    api_version: str
    subresource: str
    fields: Paths
    time: str | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.manager, self.operation, self.api_version if self.operation == UPDATE else "", self.subresource)

    def describe(self) -> str:
        """How a conflict names the manager: ``"x"``, ``"x" with subresource "status"``, ``"x" using v1``."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        return f"{text} using {self.api_version}" if self.operation == UPDATE else text


Managed = dict[tuple[str, str, str, str], Entry]


# The request side.


def prefix_from_user_agent(user_agent: str) -> str:
    """The default field manager of a non-apply write: the User-Agent up to its first ``/``, printable, 128 bytes."""
    out = ""
    for char in user_agent.split("/")[0]:
        if char.isprintable():
            if len((out + char).encode()) > FIELD_MANAGER_MAX_LENGTH:
                break
            out += char
    return out


def writer_from_request(query: Mapping[str, str], user_agent: str, verb: str, *, applies: bool = False) -> Writer:
    """The writer of a create/update/patch request, validated as the ``meta.k8s.io`` Create/Update/PatchOptions are
    (a 422): an apply must name its ``fieldManager``; ``force`` is for applies only."""
    options = {"create": "CreateOptions", "update": "UpdateOptions"}.get(verb, "PatchOptions")
    manager, force = query.get("fieldManager", ""), False
    if options == "PatchOptions" and "force" in query:
        force = _parse_bool(query["force"])
        if not applies:
            raise _invalid_options(options, "force", "FieldValueForbidden", "may not be specified for non-apply patch")
    if applies and not manager:
        raise _invalid_options(options, "fieldManager", "FieldValueRequired", "is required for apply patch")
    if len(manager.encode()) > FIELD_MANAGER_MAX_LENGTH:
        detail = f"may not be more than {FIELD_MANAGER_MAX_LENGTH} bytes"
        raise _invalid_options(options, "fieldManager", "FieldValueTooLong", detail)
    for position, char in enumerate(manager):
        if not char.isprintable():
            detail = f"{json.dumps(manager)}: invalid character U+{ord(char):04X} (at position {position})"
            raise _invalid_options(options, "fieldManager", "FieldValueInvalid", detail)
    return Writer(manager or prefix_from_user_agent(user_agent), force)


def _parse_bool(text: str) -> bool:
    """Go's ``strconv.ParseBool``, as the query parameter decoding uses it."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise errors.bad_request(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def _invalid_options(kind: str, field: str, cause: str, detail: str) -> errors.KubernetesError:
    return errors.invalid(kind, "meta.k8s.io", "", field, cause, detail)


def check_apply_config(resource: Resource, name: str, config: Any) -> Obj:
    """What kube-apiserver checks in an applied configuration before merging it."""
    if not isinstance(config, dict):
        raise errors.bad_request("the body of an apply patch must be a YAML or JSON object")
    api_version, kind = str(config.get("apiVersion") or ""), str(config.get("kind") or "")
    if (api_version, kind) != (resource.api_version, resource.kind):
        group, _, version = api_version.rpartition("/")
        raise errors.bad_request(f"invalid object type: {group}/{version}, Kind={kind}")
    meta = config.get("metadata") or {}
    if not isinstance(meta, dict):
        raise errors.bad_request("metadata must be an object")
    if meta.get("managedFields") is not None:
        raise errors.bad_request("metadata.managedFields must be nil")
    if meta.get("name") not in (None, "", name):
        raise errors.bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
    return config


# The object side.


def shape_of(resource: Resource) -> Shape:
    return resource.shape or builtin_shape(resource.kind)


def view(resource: Resource, obj: Mapping[str, Any] | None, subresource: str | None) -> Obj:
    """The part of an object that a write through an endpoint may change: ``.status`` only for ``/status``; all but
    ``.status`` (if the kind has a status subresource) for the main resource. ``managedFields`` is never a field."""
    if not obj:
        return {}
    if subresource == "status":
        return {"status": obj["status"]} if "status" in obj else {}
    out = {k: v for k, v in obj.items() if not (k == "status" and resource.isolates_status)}
    if isinstance(meta := out.get("metadata"), dict) and "managedFields" in meta:
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out


def record_update(
    resource: Resource, old: Obj | None, new: Obj, writer: Writer, subresource: str | None, supplied: Any
) -> list[dict[str, Any]]:
    """The ``managedFields`` after a create, update or non-apply patch (``FieldManager.Update``): the writer's
    ``Update`` entry takes what the write added or changed from everybody, everybody loses what it removed.

    ``supplied`` is the ``managedFields`` of the written object: used instead of the live ones if valid (on the main
    resource), as the real server lets clients fix them; ``[]`` or ``[{}]`` clears them."""
    managed = _live_or_supplied(old, supplied, subresource)
    change = compare(view(resource, old, subresource), view(resource, new, subresource), shape_of(resource))
    changed = frozenset(change.added | change.modified)
    managed = _give_up(managed, changed | change.removed, keep=None)
    taken = changed - _NEVER_OWNED
    if taken:
        me = Entry(writer.manager or "unknown", UPDATE, resource.api_version, subresource or "", taken, now_rfc3339())
        previous = managed.get(me.key)
        managed[me.key] = replace(me, fields=taken | previous.fields) if previous else me
    return _encode(_cap_updaters(managed))


def apply(
    resource: Resource, live: Obj | None, config: Obj, writer: Writer, subresource: str | None
) -> tuple[Obj, list[dict[str, Any]]]:
    """Server-side apply of a configuration (checked by :func:`check_apply_config`) to the live object (``None``: to
    be created) through an endpoint: returns the new :func:`view` and the new ``managedFields``.

    Raises the 409 of kube-apiserver when the configuration changes fields of other managers and ``force`` is off."""
    shape = shape_of(resource)
    managed = _decode_or_empty(((live or {}).get("metadata") or {}).get("managedFields"))
    before, applied = view(resource, live, subresource), view(resource, config, subresource)
    fields = field_set(applied, shape)
    me = Entry(writer.manager or "unknown", APPLY, resource.api_version, subresource or "", fields)
    last = managed.get(me.key)
    managed[me.key] = replace(me, time=last.time) if last else me
    after = _prune(merge(before, applied, shape), managed, last.fields if last else frozenset(), shape)
    change = compare(before, after, shape)
    changed = frozenset(change.added | change.modified)
    conflicts = [(e, p) for e in managed.values() if e.key != me.key for p in e.fields & changed]
    if conflicts and not writer.force:
        raise conflict_error(conflicts)
    managed = _give_up(managed, changed | change.removed, keep=me.key)
    after = drop_nulls(after, shape)  # applying null to a field takes it over (a conflict if another owns it)
    mine = managed.pop(me.key, me)
    if mine.fields - _NEVER_OWNED:
        time = now_rfc3339() if not equal(before, after) else mine.time
        managed[me.key] = replace(mine, fields=mine.fields - _NEVER_OWNED, time=time)
    return after, _encode(managed)


def _prune(merged: Obj, managed: Managed, last: Paths, shape: Shape) -> Obj:
    """Remove what the manager applied last time but not now, unless someone (it too, now) still owns it: the
    structured-merge-diff ``prune``, ``addBackOwnedItems`` and ``addBackDanglingItems`` steps."""
    if not last:
        return merged
    last = with_named_parents(last, shape)
    pruned = remove_items(merged, last, shape)
    owned = with_named_parents(frozenset().union(*(e.fields for e in managed.values())), shape)
    present = with_named_parents(field_set(merged, shape), shape)
    kept = with_named_parents(field_set(pruned, shape), shape)
    pruned = remove_items(merged, present - (kept | owned), shape)
    kept = with_named_parents(field_set(pruned, shape), shape)
    return remove_items(merged, (present - kept) & last, shape)


def _give_up(managed: Managed, fields: Paths, keep: tuple[str, str, str, str] | None) -> Managed:
    """Every manager but ``keep`` loses these fields (changed or removed by the write); empty entries go."""
    out: Managed = {}
    for key, entry in managed.items():
        remaining = entry.fields if key == keep else entry.fields - fields
        if remaining:
            out[key] = replace(entry, fields=remaining)
    return out


def _cap_updaters(managed: Managed) -> Managed:
    """At most 10 ``Update`` entries: the oldest are merged, per apiVersion, into ``ancient-changes``."""
    updaters = sorted((e for e in managed.values() if e.operation == UPDATE), key=lambda e: (e.time or "", e.key))
    excess = len(updaters) - MAX_UPDATE_MANAGERS
    if excess <= 0:
        return managed
    out = dict(managed)
    firsts: dict[str, Entry] = {}
    for entry in updaters:
        bucket_key = ("ancient-changes", UPDATE, entry.api_version, "")
        if excess <= 0:
            break
        first = firsts.setdefault(entry.api_version, entry)
        if first is entry or entry.key == bucket_key:
            continue  # the oldest of a version becomes the bucket once a second one joins it
        if bucket_key not in out:
            out[bucket_key] = replace(out.pop(first.key), manager="ancient-changes", subresource="")
        bucket = out[bucket_key]
        out[bucket_key] = replace(bucket, fields=bucket.fields | entry.fields, time=entry.time)
        del out[entry.key]
        excess -= 1
    return out


# managedFields on the wire.


def _encode(managed: Managed) -> list[dict[str, Any]]:
    """The entries as ``metadata.managedFields``, in the server's order: Apply before Update, then oldest first."""
    entries = sorted(
        managed.values(), key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource)
    )
    return [_encode_entry(e) for e in entries]


def _encode_entry(entry: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {"manager": entry.manager, "operation": entry.operation, "apiVersion": entry.api_version}
    if entry.time is not None:
        out["time"] = entry.time
    out |= {"fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(entry.fields)}
    if entry.subresource:
        out["subresource"] = entry.subresource
    return out


def _decode(raw: Any) -> Managed:
    """``DecodeManagedFields``: raises ``ValueError`` on anything but a list of valid entries."""
    if not isinstance(raw, list):
        raise ValueError("managedFields must be a list")
    managed: Managed = {}
    for item in raw:
        if not isinstance(item, Mapping) or item.get("operation") not in (APPLY, UPDATE):
            raise ValueError("operation must be `Apply` or `Update`")
        if not item.get("apiVersion") or item.get("fieldsType") != "FieldsV1":
            raise ValueError("apiVersion must not be empty and fieldsType must be FieldsV1")
        fields = from_fields_v1(item.get("fieldsV1") or {})
        time = item.get("time")
        entry = Entry(
            str(item.get("manager") or ""),
            item["operation"],
            str(item["apiVersion"]),
            str(item.get("subresource") or ""),
            fields,
            str(time) if time is not None else None,
        )
        managed[entry.key] = entry
    return managed


def _decode_or_empty(raw: Any) -> Managed:
    try:
        return _decode(raw or [])
    except ValueError:
        return {}


def _live_or_supplied(old: Obj | None, supplied: Any, subresource: str | None) -> Managed:
    """``decodeLiveOrNew``: the written object's managedFields if valid and not empty, else the live ones; a reset
    (``[]`` or ``[{}]``) empties them; subresource writes cannot set them."""
    live = _decode_or_empty(((old or {}).get("metadata") or {}).get("managedFields"))
    if subresource is not None or supplied is None:
        return live
    if supplied in ([], [{}]):
        return {}
    try:
        return _decode(supplied) or live
    except ValueError:
        return live


# Conflicts.


def conflict_error(conflicts: Iterable[tuple[Entry, Path]]) -> errors.KubernetesError:
    """The 409 of ``NewConflictError``: a ``FieldManagerConflict`` cause per field, the message grouped by manager."""
    found = sorted(conflicts, key=lambda c: (_identifier(c[0]), c[1]))
    causes = [
        {"reason": "FieldManagerConflict", "message": f"conflict with {e.describe()}", "field": path_string(p)}
        for e, p in found
    ]
    if len(found) == 1:
        entry, path = found[0]
        message = f"Apply failed with 1 conflict: conflict with {entry.describe()}: {path_string(path)}"
    else:
        lines: list[str] = []
        for entry, path in found:
            header = f"conflicts with {entry.describe()}:"
            if header not in lines:
                lines.append(header)
            lines.append(f"- {path_string(path)}")
        message = f"Apply failed with {len(found)} conflicts: " + "\n".join(lines)
    return errors.apply_conflict(message, causes)


def _identifier(entry: Entry) -> str:
    """structured-merge-diff's manager identifier (the JSON of the entry without fields and time), used for order."""
    ident = {"manager": entry.manager, "operation": entry.operation}
    if entry.operation == UPDATE:
        ident["apiVersion"] = entry.api_version
    if entry.subresource:
        ident["subresource"] = entry.subresource
    return json.dumps(ident, separators=(",", ":"))
