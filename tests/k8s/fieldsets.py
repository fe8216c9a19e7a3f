"""Field sets as kube-apiserver tracks them for server-side apply, ported from sigs.k8s.io/structured-merge-diff.

A :class:`Shape` (the schema of an object, as far as field tracking cares) decides what a field is: struct fields and
map keys are fields of their own; a list is one atomic field (replaced whole) unless its schema says
``x-kubernetes-list-type: set`` or ``map``, whose items are fields keyed by value or by ``x-kubernetes-list-map-keys``.
A field set is a frozenset of paths, each a tuple of path elements spelled as in ``managedFields`` (``f:spec``,
``k:{"type":"Ready"}``, ``v:"x"``), e.g. ``{("f:spec", "f:size"), ("f:metadata", "f:labels", "f:app")}``.

Ported: ``TypedValue.ToFieldSet`` (:func:`field_set`), ``Compare`` (:func:`compare`), ``Merge`` (:func:`merge`),
``RemoveItems`` (:func:`remove_items`), ``Set.EnsureNamedFieldsAreMembers`` (:func:`with_named_parents`), the FieldsV1
encoding and ``Path.String`` (``.spec.size``, ``[type="Ready"]``). Not ported: unions, version conversion (every
resource has one served version here), duplicates in associative lists and items without their keys (such a list is
treated as atomic instead of being rejected).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEDUCED",
    "MISSING",
    "OBJECT_META",
    "Comparison",
    "Path",
    "Paths",
    "Shape",
    "builtin_shape",
    "compare",
    "crd_shape",
    "drop_nulls",
    "equal",
    "field_set",
    "from_fields_v1",
    "merge",
    "path_string",
    "remove_items",
    "to_fields_v1",
    "with_named_parents",
]

Path = tuple[str, ...]
Paths = frozenset[Path]
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()  # an absent value (not a null one)
_Trie = dict[str, tuple[bool, "_Trie"]]  # path element -> (whether the path is in the set, the paths below it)


@dataclass(frozen=True, eq=False)
class Shape:
    """One node of a schema, as structured-merge-diff sees it: the same node serves maps, lists and scalars.

    ``fields`` are declared (named) struct fields; other keys are map elements of type ``elements``, which, unlike
    named fields, are fields in their own right even when they have children (``.: {}`` in FieldsV1). ``named``
    treats every key as a declared field (our stand-in for the Go structs of built-in kinds, whose schemas we lack).
    """

    fields: Mapping[str, Shape] = field(default_factory=dict)
    elements: Shape | None = None  # None: deduced (or OPEN when `named`)
    named: bool = False
    atomic_map: bool = False  # x-kubernetes-map-type: atomic
    items: Shape | None = None  # None: deduced
    list_type: str = "atomic"  # x-kubernetes-list-type: atomic | set | map
    keys: tuple[str, ...] = ()  # x-kubernetes-list-map-keys
    nullable: bool = False

    def child(self, key: str) -> Shape:
        found = self.fields.get(key)
        if found is not None:
            return found
        if self.elements is not None:
            return self.elements
        return OPEN if self.named else DEDUCED

    def is_named(self, key: str) -> bool:
        return self.named or key in self.fields

    def item(self) -> Shape:
        return self.items or DEDUCED


DEDUCED = Shape()  # structured-merge-diff's "__untyped_deduced_": granular maps, atomic lists
OPEN = Shape(named=True)
OBJECT_META = Shape(
    named=True,
    fields={
        "labels": DEDUCED,  # map[string]string: every key is a field
        "annotations": DEDUCED,
        "finalizers": Shape(list_type="set"),  # +listType=set
        "ownerReferences": Shape(list_type="map", keys=("uid",), items=OPEN),  # +listType=map +listMapKey=uid
    },
)
_BUILTIN_MAPS = {"ConfigMap": ("data", "binaryData"), "Secret": ("data", "stringData")}


@functools.cache
def builtin_shape(kind: str) -> Shape:
    """A built-in kind: all keys are struct fields (as in its Go type), lists are atomic, string maps are granular."""
    return Shape(named=True, fields={"metadata": OBJECT_META, **dict.fromkeys(_BUILTIN_MAPS.get(kind, ()), DEDUCED)})


def crd_shape(schema: Mapping[str, Any] | None) -> Shape:
    """The shape of a CRD version's ``openAPIV3Schema``; ``metadata`` is always ObjectMeta, as the server makes it."""
    root = _from_openapi(schema or {"x-kubernetes-preserve-unknown-fields": True})
    return dataclasses.replace(root, fields={**root.fields, "metadata": OBJECT_META})


def _from_openapi(schema: Mapping[str, Any]) -> Shape:
    properties = schema.get("properties") or {}
    extra, items = schema.get("additionalProperties"), schema.get("items")
    return Shape(
        fields={key: _from_openapi(value) for key, value in properties.items() if isinstance(value, Mapping)},
        elements=_from_openapi(extra) if isinstance(extra, Mapping) else None,
        atomic_map=schema.get("x-kubernetes-map-type") == "atomic",
        items=_from_openapi(items) if isinstance(items, Mapping) else None,
        list_type=schema.get("x-kubernetes-list-type") or "atomic",
        keys=tuple(schema.get("x-kubernetes-list-map-keys") or ()),
        nullable=bool(schema.get("nullable")),
    )


# Values.


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def equal(a: Any, b: Any) -> bool:
    """Value equality as structured-merge-diff has it: ``1 == 1.0``, but ``true != 1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(equal, a, b))
    return bool(a == b)


def _item_elements(items: list[Any], shape: Shape) -> list[str] | None:
    """The path elements of an associative list's items; ``None`` if the list is atomic (or cannot be keyed)."""
    if shape.list_type == "set" and not any(isinstance(item, dict | list) for item in items):
        elements = ["v:" + _json(item) for item in items]
    elif (
        shape.list_type == "map"
        and shape.keys
        and all(isinstance(i, dict) and set(shape.keys) <= i.keys() for i in items)
    ):
        elements = ["k:" + _json({key: item[key] for key in shape.keys}) for item in items]
    else:
        return None
    return elements if len(set(elements)) == len(elements) else None


def _keyed(value: Any, shape: Shape) -> dict[str, Any] | None:
    """An associative list (or an absent one) as {path element: item}; ``None`` if it is not one."""
    if value is MISSING:
        return {}
    if not isinstance(value, list):
        return None
    elements = _item_elements(value, shape)
    return None if elements is None else dict(zip(elements, value, strict=True))


# ToFieldSet.


def field_set(obj: Mapping[str, Any], shape: Shape) -> Paths:
    """The fields an object (or an applied configuration) sets: leaves, map keys and associative list items."""
    out: set[Path] = set()
    _collect(obj, shape, (), out)
    return frozenset(out)


def _collect(value: Any, shape: Shape, path: Path, out: set[Path]) -> None:
    if isinstance(value, dict) and not (shape.atomic_map and path):
        for key, child in value.items():
            below = (*path, "f:" + key)
            _collect(child, shape.child(key), below, out)
            if child is None or child == {} or not shape.is_named(key):
                out.add(below)
    elif isinstance(value, list) and (items := _keyed(value, shape)) is not None:
        for element, item in items.items():
            below = (*path, element)
            _collect(item, shape.item(), below, out)
            out.add(below)
    else:
        out.add(path)


# Compare.


@dataclass
class Comparison:
    """What changed between two objects: each field is in at most one of the three sets."""

    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)


def compare(old: Mapping[str, Any], new: Mapping[str, Any], shape: Shape) -> Comparison:
    """The fields ``new`` adds, modifies and removes; an added or removed map or list item counts with its content."""
    result = Comparison()
    _compare(old, new, shape, (), result)
    return result


def _compare(lhs: Any, rhs: Any, shape: Shape, path: Path, result: Comparison) -> None:
    if lhs is None and rhs and _mergeable(rhs, shape):  # null and a map (or associative list): items come, or go
        lhs = type(rhs)()
    elif rhs is None and lhs and _mergeable(lhs, shape):
        rhs = type(lhs)()
    maps = all(v is MISSING or isinstance(v, dict) for v in (lhs, rhs))
    if maps and not (shape.atomic_map and path) and (_filled(lhs) or _filled(rhs)):
        left, right = ({} if v is MISSING else v for v in (lhs, rhs))
        for key in {**left, **right}:
            below = (*path, "f:" + key)
            _compare(left.get(key, MISSING), right.get(key, MISSING), shape.child(key), below, result)
        _mark(lhs, rhs, path, result)
    elif (
        (left_items := _keyed(lhs, shape)) is not None
        and (right_items := _keyed(rhs, shape)) is not None
        and (left_items or right_items)
    ):
        for element in {**left_items, **right_items}:
            below = (*path, element)
            _compare(left_items.get(element, MISSING), right_items.get(element, MISSING), shape.item(), below, result)
        _mark(lhs, rhs, path, result)
    elif lhs is not MISSING and rhs is not MISSING and _structured(lhs) != _structured(rhs):
        _change_kind(lhs, rhs, shape, path, result)
    elif lhs is MISSING:
        result.added.add(path)
    elif rhs is MISSING:
        result.removed.add(path)
    elif not equal(lhs, rhs):
        result.modified.add(path)


def _filled(value: Any) -> bool:
    return value is not MISSING and bool(value)


def _structured(value: Any) -> type | None:
    return type(value) if isinstance(value, dict | list) else None


def _mark(lhs: Any, rhs: Any, path: Path, result: Comparison) -> None:
    if path and lhs is MISSING:
        result.added.add(path)
    elif path and rhs is MISSING:
        result.removed.add(path)


def _change_kind(lhs: Any, rhs: Any, shape: Shape, path: Path, result: Comparison) -> None:
    """A map that became a list or a scalar (or the other way round): the field changes, its old content goes."""
    gone, came = Comparison(), Comparison()
    _compare(lhs, MISSING, shape, path, gone)
    _compare(MISSING, rhs, shape, path, came)
    result.removed |= gone.removed - {path}
    result.added |= came.added - {path}
    result.modified.add(path)


# Merge (the apply of a configuration to the live object).


def merge(live: Any, config: Any, shape: Shape) -> Any:
    """The applied configuration merged into the live object: maps and associative lists merge item by item, anything
    else (scalars, atomic lists and maps) is replaced, by ``null`` too (see :func:`drop_nulls`); but ``null`` over a
    non-empty map or associative list leaves it as it is (it has no items to merge)."""
    if config is MISSING or (config is None and live and _mergeable(live, shape)):
        return live
    if isinstance(config, dict) and not shape.atomic_map:
        result = dict(live) if isinstance(live, dict) else {}
        for key, value in config.items():
            result[key] = merge(result.get(key, MISSING), value, shape.child(key))
        return result
    live_items, applied = _keyed(live, shape), _keyed(config, shape)
    if isinstance(live, list) and live_items is not None and applied is not None:
        return [
            merge(live_items.get(e, MISSING), applied.get(e, MISSING), shape.item())
            for e in _merged_order(live_items, applied)
        ]
    return config


def _merged_order(live: dict[str, Any], applied: dict[str, Any]) -> list[str]:
    """The item order of a merged associative list (structured-merge-diff's ``visitListItems``): the applied items in
    their order, the live-only ones kept where they were relative to them."""
    lhs, rhs = list(live), list(applied)
    shared = iter([e for e in rhs if e in live] + [None])
    next_shared = next(shared)
    done: set[str] = set()
    order: list[str] = []
    li = ri = 0
    while li < len(lhs) or ri < len(rhs):
        if li < len(lhs) and ri < len(rhs):
            if lhs[li] == rhs[ri]:
                done.add(lhs[li])
                order.append(lhs[li])
                li, ri, next_shared = li + 1, ri + 1, next(shared, None)
                continue
            if lhs[li] in applied and next_shared is not None and next_shared != lhs[li]:
                li += 1
                continue
        if li < len(lhs):
            if lhs[li] not in applied:
                order.append(lhs[li])
                li += 1
                continue
            if lhs[li] in done:
                li += 1
        if ri < len(rhs):
            done.add(rhs[ri])
            order.append(rhs[ri])
            if next_shared == rhs[ri]:
                next_shared = next(shared, None)
            ri += 1
    return order


def _mergeable(value: Any, shape: Shape) -> bool:
    if isinstance(value, dict):
        return not shape.atomic_map
    return isinstance(value, list) and _keyed(value, shape) is not None


def drop_nulls(value: Any, shape: Shape) -> Any:
    """The nulls the server drops after an apply (``PruneNonNullableNullsWithoutDefaults`` for custom resources): those
    of fields the schema declares (not ``nullable``); undeclared ones (``x-kubernetes-preserve-unknown-fields``) stay.
    """
    if isinstance(value, dict):
        return {
            key: drop_nulls(child, shape.child(key))
            for key, child in value.items()
            if child is not None or not _declared(shape, key) or shape.child(key).nullable
        }
    if isinstance(value, list):
        return [drop_nulls(item, shape.item()) for item in value]
    return value


def _declared(shape: Shape, key: str) -> bool:
    return shape.is_named(key) or shape.elements is not None


# RemoveItems.


def remove_items(obj: Mapping[str, Any], paths: Paths, shape: Shape) -> dict[str, Any]:
    """``obj`` without the given fields (and what is inside them); a map or list left empty becomes null."""
    return _remove(dict(obj), _trie(paths), shape) or {}


def _trie(paths: Paths) -> _Trie:
    root: _Trie = {}
    for path in paths:
        node = root
        for i, element in enumerate(path):
            member, below = node.get(element, (False, {}))
            node[element] = (member or i == len(path) - 1, below)
            node = below
    return root


def _remove(value: Any, trie: _Trie, shape: Shape) -> Any:
    if not trie:
        return value
    if isinstance(value, dict) and not shape.atomic_map:
        out = {}
        for key, child in value.items():
            member, below = trie.get("f:" + key, (False, {}))
            if not member:
                out[key] = _remove(child, below, shape.child(key))
        return out or None
    if isinstance(value, list) and (items := _keyed(value, shape)) is not None:
        kept = []
        for element, item in items.items():
            member, below = trie.get(element, (False, {}))
            if not member:
                kept.append(_remove(item, below, shape.item()))
        return kept or None
    return value


def with_named_parents(paths: Paths, shape: Shape) -> Paths:
    """``Set.EnsureNamedFieldsAreMembers``: add the struct fields that lead to the fields (not map keys or items)."""
    out = set(paths)
    for path in paths:
        node = shape
        for i, element in enumerate(path[:-1]):
            if element.startswith("f:"):
                if node.is_named(element[2:]):
                    out.add(path[: i + 1])
                node = node.child(element[2:])
            else:
                node = node.item()
    return frozenset(out)


# FieldsV1 and paths as text.


def to_fields_v1(paths: Paths) -> dict[str, Any]:
    """The FieldsV1 encoding: a tree of path elements; ``{}`` is an owned leaf, ``.`` marks an owned inner node."""
    return _encode(_trie(paths))


def _encode(trie: _Trie) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for element in sorted(trie):
        member, below = trie[element]
        out[element] = {**({".": {}} if member and below else {}), **_encode(below)}
    return out


def from_fields_v1(fields: Any, prefix: Path = ()) -> Paths:
    """Decode FieldsV1; raises ``ValueError`` if it is not valid."""
    if not isinstance(fields, Mapping):
        raise ValueError(f"FieldsV1 must be an object, not {fields!r}")
    out: set[Path] = set()
    for element, below in fields.items():
        if element == "." and prefix:
            out.add(prefix)
            continue
        path = (*prefix, _canonical(element))
        if not isinstance(below, Mapping):
            raise ValueError(f"FieldsV1 {element!r} must map to an object")
        out |= from_fields_v1(below, path) if below else {path}
    return frozenset(out)


def _canonical(element: str) -> str:
    kind, _, text = element.partition(":")
    if kind == "f" or (kind == "i" and text.isdigit()):
        return element
    if kind in ("k", "v"):
        try:
            return f"{kind}:{_json(json.loads(text))}"
        except ValueError:
            pass
    raise ValueError(f"invalid FieldsV1 path element {element!r}")


def path_string(path: Path) -> str:
    """A path as kube-apiserver prints it in conflicts: ``.spec.size``, ``.metadata.ownerReferences[uid="1"]``."""
    parts = []
    for element in path:
        kind, text = element[0], element[2:]
        if kind == "f":
            parts.append("." + text)
        elif kind == "k":
            parts.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(text).items()) + "]")
        elif kind == "v":
            parts.append(f"[={json.dumps(json.loads(text))}]")
        else:
            parts.append(f"[{text}]")
    return "".join(parts)
