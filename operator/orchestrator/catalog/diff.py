"""What changed between two catalogs: items and bundles added, removed and changed, and how.

Pure comparison of two loaded catalogs (``load_catalog``): versions, fulfillment mode, the fields schema field by
field (added, removed, newly required, type, enum, pattern, bounds, default), actions by name on each path, outputs,
components, and the rest of the spec. Each change says whether it can break requests that were valid before
(``breaking``); a changed entry whose version was not raised is flagged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..api.base import dump
from ..api.catalog import CatalogBundle, CatalogItem
from .field_info import FieldInfo, compact, describe_fields, resolve_items, schema_type
from .validate import Catalog, CatalogEntry

_TIGHTER_IF_HIGHER = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_TIGHTER_IF_LOWER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_SPEC_KEYS_COMPARED_ELSEWHERE = {"version", "fields", "fulfillment", "outputs", "components"}
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?")


@dataclass(frozen=True)
class Change:
    """One difference inside an entry: ``area`` is fields, actions, outputs, components, fulfillment or spec."""

    area: str
    subject: str
    """What changed: a field path, an action name (``automated/provision``), an output or a spec key."""
    message: str
    breaking: bool = False


@dataclass
class EntryChange:
    kind: str
    name: str
    old_version: str
    new_version: str
    changes: list[Change] = field(default_factory=list)

    @property
    def version_bumped(self) -> bool:
        return version_key(self.new_version) > version_key(self.old_version)

    @property
    def breaking(self) -> bool:
        return any(change.breaking for change in self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "oldVersion": self.old_version,
            "newVersion": self.new_version,
            "versionBumped": self.version_bumped,
            "breaking": self.breaking,
            "changes": [asdict(change) for change in self.changes],
        }


@dataclass(frozen=True)
class EntryRef:
    kind: str
    name: str
    version: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CatalogDiff:
    added: list[EntryRef] = field(default_factory=list)
    removed: list[EntryRef] = field(default_factory=list)
    changed: list[EntryChange] = field(default_factory=list)

    @property
    def unbumped(self) -> list[EntryChange]:
        """Changed entries whose version was not raised."""
        return [entry for entry in self.changed if not entry.version_bumped]

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": [ref.to_dict() for ref in self.added],
            "removed": [ref.to_dict() for ref in self.removed],
            "changed": [entry.to_dict() for entry in self.changed],
        }


def version_key(version: str) -> tuple[int, int, int, int, str]:
    """Semver order: a release sorts after its pre-releases; an unparseable version sorts first."""
    match = _SEMVER.match(version)
    if match is None:
        return (-1, -1, -1, 0, version)
    major, minor, patch, pre = match.groups()
    return (int(major), int(minor), int(patch), 0 if pre else 1, pre or "")


def diff_catalogs(old: Catalog, new: Catalog) -> CatalogDiff:
    """Compare the valid items and bundles of two catalogs, by kind and name (sorted)."""
    result = CatalogDiff()
    for kind, old_entries, new_entries in (
        ("CatalogItem", old.items, new.items),
        ("CatalogBundle", old.bundles, new.bundles),
    ):
        for name in sorted(set(old_entries) | set(new_entries)):
            before, after = old_entries.get(name), new_entries.get(name)
            if before is None and after is not None:
                result.added.append(EntryRef(kind, name, after.model.spec.version))
            elif after is None and before is not None:
                result.removed.append(EntryRef(kind, name, before.model.spec.version))
            elif before is not None and after is not None:
                changed = diff_entries(before, after)
                if changed.changes:
                    result.changed.append(changed)
    return result


def diff_entries(old: CatalogEntry, new: CatalogEntry) -> EntryChange:
    before, after = old.model, new.model
    entry = EntryChange(old.kind, old.name, before.spec.version, after.spec.version)
    changes = entry.changes
    if before.spec.version != after.spec.version:
        lowered = version_key(after.spec.version) < version_key(before.spec.version)
        note = " (lowered)" if lowered else ""
        changes.append(Change("spec", "version", f"{before.spec.version} -> {after.spec.version}{note}"))
    changes.extend(diff_fields(before.spec.fields, after.spec.fields))
    if isinstance(before, CatalogItem) and isinstance(after, CatalogItem):
        changes.extend(_diff_fulfillment(before, after))
    if isinstance(before, CatalogBundle) and isinstance(after, CatalogBundle):
        changes.extend(_diff_components(before, after))
    changes.extend(_diff_outputs(_outputs(before), _outputs(after)))
    changes.extend(_diff_spec_rest(before, after))
    return entry


# ---- fields ------------------------------------------------------------------------------------------------------


def diff_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Field-level differences of two fields schemas (breaking when a request valid before may now fail)."""
    before = {info.name: info for info in describe_fields(old)}
    after = {info.name: info for info in describe_fields(new)}
    changes: list[Change] = []
    closed = new.get("additionalProperties") is False
    for name in before.keys() - after.keys():
        changes.append(
            Change(
                "fields",
                name,
                "field removed" + (" (requests that set it are now rejected)" if closed else ""),
                breaking=closed or before[name].required,
            )
        )
    for name in after.keys() - before.keys():
        info = after[name]
        if info.required and not info.has_default:
            changes.append(Change("fields", name, "field added, required without a default", breaking=True))
        else:
            changes.append(Change("fields", name, "field added" + (" (required)" if info.required else "")))
    for name in before.keys() & after.keys():
        changes.extend(_diff_field(before[name], after[name]))
    return sorted(changes, key=lambda change: change.subject)


def _diff_field(old: FieldInfo, new: FieldInfo) -> Iterator[Change]:
    name = new.name
    if new.required and not old.required:
        yield Change("fields", name, "now required" + ("" if new.has_default else " (no default)"), breaking=True)
    elif old.required and not new.required:
        yield Change("fields", name, "no longer required")
    if old.type_label != new.type_label:
        yield Change("fields", name, f"type {old.type_label} -> {new.type_label}", breaking=True)
    yield from _diff_constraints(name, old.schema, new.schema)
    old_items = resolve_items(old.schema, old.root) if schema_type(old.schema) == "array" else {}
    new_items = resolve_items(new.schema, new.root) if schema_type(new.schema) == "array" else {}
    if old_items or new_items:
        yield from _diff_constraints(f"{name}[]", old_items, new_items)
    if old.has_default != new.has_default or (old.has_default and old.default != new.default):
        before = compact(old.default) if old.has_default else "none"
        after = compact(new.default) if new.has_default else "none"
        yield Change("fields", name, f"default {before} -> {after}")


def _diff_constraints(name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[Change]:
    old_enum, new_enum = old.get("enum"), new.get("enum")
    if old_enum != new_enum:
        if isinstance(old_enum, list) and isinstance(new_enum, list):
            removed = [v for v in old_enum if v not in new_enum]
            added = [v for v in new_enum if v not in old_enum]
            parts = []
            if removed:
                parts.append("removed " + ", ".join(compact(v) for v in removed))
            if added:
                parts.append("added " + ", ".join(compact(v) for v in added))
            verb = "narrowed" if removed and not added else "widened" if added and not removed else "changed"
            yield Change("fields", name, f"enum {verb}: {'; '.join(parts) or 'reordered'}", breaking=bool(removed))
        elif isinstance(new_enum, list):
            yield Change("fields", name, "now restricted to: " + ", ".join(compact(v) for v in new_enum), True)
        else:
            yield Change("fields", name, "no longer restricted to a list of values")
    for key in ("pattern", "format", "const"):
        if old.get(key) != new.get(key):
            shown = " -> ".join(compact(side[key]) if key in side else "none" for side in (old, new))
            yield Change("fields", name, f"{key} {shown}", breaking=key in new)
    for key in (*_TIGHTER_IF_HIGHER, *_TIGHTER_IF_LOWER, "multipleOf", "uniqueItems"):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        tighter: bool
        if key in _TIGHTER_IF_HIGHER:
            tighter = after is not None and (before is None or after > before)
        elif key in _TIGHTER_IF_LOWER:
            tighter = after is not None and (before is None or after < before)
        else:
            tighter = after is not None and after is not False
        shown = " -> ".join("none" if value is None else compact(value) for value in (before, after))
        yield Change("fields", name, f"{key} {shown}", breaking=tighter)
    if old.get("additionalProperties") is not False and new.get("additionalProperties") is False:
        yield Change("fields", name, "no longer accepts undeclared keys", breaking=True)


# ---- fulfillment, outputs, components, the rest --------------------------------------------------------------------


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _diff_fulfillment(old: CatalogItem, new: CatalogItem) -> Iterator[Change]:
    before, after = old.spec.fulfillment, new.spec.fulfillment
    if before.mode != after.mode:
        yield Change("fulfillment", "mode", f"mode {before.mode} -> {after.mode}")
    if before.fallback_to_manual != after.fallback_to_manual:
        yield Change("fulfillment", "fallbackToManual", f"fallbackToManual {after.fallback_to_manual}")
    for lane in ("automated", "manual"):
        old_actions = {action.name: dump(action) for action in getattr(before, lane)}
        new_actions = {action.name: dump(action) for action in getattr(after, lane)}
        for name in old_actions.keys() - new_actions.keys():
            yield Change("actions", f"{lane}/{name}", f"action removed ({old_actions[name].get('type')})")
        for name in new_actions.keys() - old_actions.keys():
            yield Change("actions", f"{lane}/{name}", f"action added ({new_actions[name].get('type')})")
        for name in sorted(old_actions.keys() & new_actions.keys()):
            keys = _changed_keys(old_actions[name], new_actions[name])
            if keys:
                yield Change("actions", f"{lane}/{name}", "changed: " + ", ".join(keys))
        order_before = [n for n in old_actions if n in new_actions]
        order_after = [n for n in new_actions if n in old_actions]
        if order_before != order_after:
            yield Change("actions", lane, "action order changed: " + ", ".join(order_after))


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ, two levels deep (``terraform.variables``, ``when``)."""
    keys: list[str] = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if _canonical(before) == _canonical(after):
            continue
        if not prefix and isinstance(before, Mapping) and isinstance(after, Mapping):
            keys.extend(_changed_keys(before, after, f"{key}."))
        else:
            keys.append(prefix + key)
    return keys


def _outputs(model: CatalogItem | CatalogBundle) -> dict[str, dict[str, Any]]:
    return {output.name: dump(output) for output in model.spec.outputs}


def _diff_outputs(old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]) -> Iterator[Change]:
    for name in sorted(old.keys() - new.keys()):
        yield Change("outputs", name, "output removed (consumers of it break)", breaking=True)
    for name in sorted(new.keys() - old.keys()):
        yield Change("outputs", name, "output added")
    for name in sorted(old.keys() & new.keys()):
        keys = _changed_keys(old[name], new[name])
        if keys:
            yield Change("outputs", name, "changed: " + ", ".join(keys))


def _diff_components(old: CatalogBundle, new: CatalogBundle) -> Iterator[Change]:
    before = {component.name: dump(component) for component in old.spec.components}
    after = {component.name: dump(component) for component in new.spec.components}
    for name in sorted(before.keys() - after.keys()):
        yield Change("components", name, f"component removed (item {before[name].get('item')})")
    for name in sorted(after.keys() - before.keys()):
        yield Change("components", name, f"component added (item {after[name].get('item')})")
    for name in sorted(before.keys() & after.keys()):
        keys = _changed_keys(before[name], after[name])
        if keys:
            yield Change("components", name, "changed: " + ", ".join(keys))


def _diff_spec_rest(old: CatalogItem | CatalogBundle, new: CatalogItem | CatalogBundle) -> Iterator[Change]:
    before = {k: v for k, v in dump(old.spec).items() if k not in _SPEC_KEYS_COMPARED_ELSEWHERE}
    after = {k: v for k, v in dump(new.spec).items() if k not in _SPEC_KEYS_COMPARED_ELSEWHERE}
    for key in sorted(set(before) | set(after)):
        if _canonical(before.get(key)) == _canonical(after.get(key)):
            continue
        value = after.get(key)
        shown = compact(value) if value is not None else "removed"
        if len(shown) > 60:
            shown = "changed"
        yield Change("spec", key, f"{key}: {shown}" if shown != "changed" else f"{key} changed")
