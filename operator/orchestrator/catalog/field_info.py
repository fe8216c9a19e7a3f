"""The ``fields`` schema of an item as a list of fields people read: for tables, forms and request skeletons.

Pure functions over the JSON Schema: each declared property (recursively for nested objects and arrays of
objects) becomes a ``FieldInfo`` with its label, type, input kind, required flag, default and constraints in words.
Local ``$ref`` (``#/$defs/...``) and ``allOf`` are resolved; ``anyOf``/``oneOf`` show their first branch's type.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

InputKind = str
"""text, textarea, email, url, date, datetime, number, checkbox, select, multiselect, list, keyvalue or group."""

_FORMAT_KINDS = {"email": "email", "uri": "url", "url": "url", "date": "date", "date-time": "datetime"}
_LONG_TEXT = 120


def as_mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one (for reading documents that may be malformed)."""
    return value if isinstance(value, Mapping) else {}


def resolve(node: Any, root: Mapping[str, Any], *, depth: int = 0) -> dict[str, Any]:
    """``node`` with local ``$ref`` followed and ``allOf`` branches merged in (shallow); {} for non-schemas."""
    if not isinstance(node, Mapping) or depth > 20:
        return {}
    result = dict(node)
    ref = result.pop("$ref", None)
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        result = {**resolve(target, root, depth=depth + 1), **result}
    for branch in result.pop("allOf", None) or []:
        merged = resolve(branch, root, depth=depth + 1)
        properties = {**(merged.get("properties") or {}), **(result.get("properties") or {})}
        required = [*(merged.get("required") or []), *(result.get("required") or [])]
        result = {**merged, **result}
        if properties:
            result["properties"] = properties
        if required:
            result["required"] = list(dict.fromkeys(required))
    return result


def schema_type(schema: Mapping[str, Any]) -> str | None:
    """The declared type (the first non-null one of a list; the first branch's for anyOf/oneOf), else inferred."""
    declared = schema.get("type")
    if isinstance(declared, list):
        declared = next((t for t in declared if t != "null"), declared[0] if declared else None)
    if isinstance(declared, str):
        return declared
    for combinator in ("anyOf", "oneOf"):
        branches = schema.get(combinator)
        if isinstance(branches, list) and branches and isinstance(branches[0], Mapping):
            return schema_type(branches[0])
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return _json_type(schema["enum"][0])
    if "const" in schema:
        return _json_type(schema["const"])
    return None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, Mapping) else "null"


def is_map(schema: Mapping[str, Any]) -> bool:
    """An object without declared properties whose values follow ``additionalProperties`` (a key-value map)."""
    extra = schema.get("additionalProperties")
    return schema_type(schema) == "object" and not schema.get("properties") and extra is not False


def compact(value: Any) -> str:
    """A value as one short line: strings as they are, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


@dataclass(frozen=True)
class FieldInfo:
    """One field of the schema as a person sees it."""

    path: tuple[str, ...]
    """Property names from the top; an array's items add ``[]`` (``("owners", "[]")`` is not listed separately)."""
    schema: Mapping[str, Any]
    """The field's schema, resolved."""
    required: bool
    """Required within its parent object."""
    root: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The whole fields schema (for local ``$ref``)."""

    @property
    def name(self) -> str:
        return ".".join(self.path).replace(".[]", "[]")

    @property
    def key(self) -> str:
        return self.path[-1]

    @property
    def depth(self) -> int:
        return len([part for part in self.path if part != "[]"]) - 1

    @property
    def label(self) -> str:
        title = self.schema.get("title")
        return str(title) if title else self.key

    @property
    def description(self) -> str:
        return str(self.schema.get("description") or "")

    @property
    def type_label(self) -> str:
        kind = schema_type(self.schema) or "any"
        if kind == "array":
            items = resolve_items(self.schema, self.root)
            return f"array of {schema_type(items) or 'any'}"
        if kind == "object" and is_map(self.schema):
            extra = self.schema.get("additionalProperties")
            value_type = schema_type(resolve(extra, self.root)) if isinstance(extra, Mapping) else None
            return f"map of {value_type or 'any'}"
        return kind

    @property
    def is_group(self) -> bool:
        """An object with declared properties: shown as a group of its own fields."""
        return schema_type(self.schema) == "object" and bool(self.schema.get("properties"))

    @property
    def has_default(self) -> bool:
        return "default" in self.schema

    @property
    def default(self) -> Any:
        return self.schema.get("default")

    @property
    def enum(self) -> list[Any] | None:
        values = self.schema.get("enum")
        if isinstance(values, list):
            return values
        if "const" in self.schema:
            return [self.schema["const"]]
        return None

    @property
    def input_kind(self) -> InputKind:
        kind = schema_type(self.schema)
        if self.enum is not None:
            return "select"
        if kind == "boolean":
            return "checkbox"
        if kind in ("integer", "number"):
            return "number"
        if kind == "array":
            items = resolve_items(self.schema, self.root)
            return "multiselect" if isinstance(items.get("enum"), list) else "list"
        if kind == "object":
            return "group" if self.is_group else "keyvalue"
        fmt = self.schema.get("format")
        if isinstance(fmt, str) and fmt in _FORMAT_KINDS:
            return _FORMAT_KINDS[fmt]
        max_length = self.schema.get("maxLength")
        if (isinstance(max_length, int) and max_length > _LONG_TEXT) and "pattern" not in self.schema:
            return "textarea"
        return "text"

    def constraints(self) -> list[str]:
        """The constraints in words (``one of: a, b``, ``20 to 2000``, ``pattern: ^x$``), in a stable order."""
        items = resolve_items(self.schema, self.root) if schema_type(self.schema) == "array" else None
        return constraint_words(self.schema, items, self.root)


def resolve_items(schema: Mapping[str, Any], root: Mapping[str, Any] | None = None) -> dict[str, Any]:
    items = schema.get("items")
    return resolve(items, root or schema) if isinstance(items, Mapping) else {}


def _range(low: Any, high: Any, unit: str = "") -> str | None:
    if low is not None and high is not None:
        return f"{low} to {high}{unit}"
    if low is not None:
        return f"at least {low}{unit}"
    if high is not None:
        return f"at most {high}{unit}"
    return None


def constraint_words(
    schema: Mapping[str, Any], items: Mapping[str, Any] | None = None, root: Mapping[str, Any] | None = None
) -> list[str]:
    words: list[str] = []
    enum = schema.get("enum")
    if isinstance(enum, list):
        words.append("one of: " + ", ".join(compact(v) for v in enum))
    if "const" in schema:
        words.append(f"exactly {compact(schema['const'])}")
    numeric = _range(
        schema.get("minimum", schema.get("exclusiveMinimum")), schema.get("maximum", schema.get("exclusiveMaximum"))
    )
    if numeric:
        exclusive = [k for k in ("exclusiveMinimum", "exclusiveMaximum") if k in schema]
        words.append(numeric + (" (exclusive)" if exclusive else ""))
    if "multipleOf" in schema:
        words.append(f"multiple of {compact(schema['multipleOf'])}")
    length = _range(schema.get("minLength"), schema.get("maxLength"), " chars")
    if length:
        words.append(length)
    if isinstance(schema.get("format"), str):
        words.append(f"format {schema['format']}")
    if isinstance(schema.get("pattern"), str):
        words.append(f"pattern {schema['pattern']}")
    count = _range(schema.get("minItems"), schema.get("maxItems"), " items")
    if count:
        words.append(count)
    if schema.get("uniqueItems"):
        words.append("unique")
    entries = _range(schema.get("minProperties"), schema.get("maxProperties"), " entries")
    if entries:
        words.append(entries)
    if items:
        inner = constraint_words(items, None, root)
        if inner:
            words.append("each: " + "; ".join(inner))
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping) and schema_type(schema) == "object":
        inner = constraint_words(resolve(extra, root or schema), None, root)
        if inner:
            words.append("values: " + "; ".join(inner))
    return words


def describe_fields(schema: Mapping[str, Any]) -> list[FieldInfo]:
    """Every declared field of the fields schema, parents before their children, in declaration order."""
    return list(_walk(resolve(schema, schema), schema, ()))


def _walk(node: Mapping[str, Any], root: Mapping[str, Any], prefix: tuple[str, ...]) -> Iterator[FieldInfo]:
    required = set(node.get("required") or [])
    for name, raw in (node.get("properties") or {}).items():
        sub = resolve(raw, root)
        info = FieldInfo((*prefix, str(name)), sub, name in required, root)
        yield info
        if info.is_group:
            yield from _walk(sub, root, info.path)
        elif schema_type(sub) == "array":
            items = resolve_items(sub, root)
            if schema_type(items) == "object" and items.get("properties"):
                yield from _walk(items, root, (*info.path, "[]"))
