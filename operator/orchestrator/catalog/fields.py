"""The ``fields`` JSON Schema of an item or bundle: checking it, applying its defaults, validating values."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from .diagnostics import FieldPath, PathPart, format_path

# Built once: check_schema() would build a validator of the meta-schema on every call.
_META_VALIDATOR = Draft202012Validator(Draft202012Validator.META_SCHEMA)
_JSON_SCHEMA_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")


def schema_problems(schema: Mapping[str, Any]) -> list[tuple[FieldPath, str]]:
    """Problems of the fields schema itself, as (path inside the schema, message).

    The schema must be a valid draft 2020-12 schema describing an object, and every ``default`` in it must
    satisfy the subschema it sits in.
    """
    exc = best_match(_META_VALIDATOR.iter_errors(schema))
    if exc is not None:
        path = tuple(exc.absolute_path)
        if path and path[-1] == "type":
            return [(path, f"{_short(exc.instance)} is not a JSON Schema type (use {', '.join(_JSON_SCHEMA_TYPES)})")]
        return [(path, f"not a valid JSON Schema: {exc.message}")]
    problems: list[tuple[FieldPath, str]] = []
    declared = schema.get("type")
    if declared is not None and declared != "object":
        problems.append((("type",), f"the fields schema must describe an object, not {declared!r}"))
    root = Draft202012Validator(schema)
    for path, subschema in _subschemas(schema, ()):
        if isinstance(subschema, Mapping) and "default" in subschema:
            errors = sorted(root.evolve(schema=subschema).iter_errors(subschema["default"]), key=str)
            if errors:
                problems.append(
                    (
                        (*path, "default"),
                        f"default {_short(subschema['default'])} does not satisfy its "
                        f"own schema: {describe_error(errors[0])}",
                    )
                )
    return problems


def _subschemas(node: Any, path: FieldPath) -> Iterator[tuple[FieldPath, Any]]:
    if not isinstance(node, Mapping):
        return
    yield path, node
    for key in ("properties", "$defs", "patternProperties"):
        for name, sub in (node.get(key) or {}).items() if isinstance(node.get(key), Mapping) else ():
            yield from _subschemas(sub, (*path, key, name))
    for key in ("items", "additionalProperties", "not", "if", "then", "else"):
        if isinstance(node.get(key), Mapping):
            yield from _subschemas(node[key], (*path, key))
    for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
        for index, sub in enumerate(node.get(key) or []) if isinstance(node.get(key), list) else ():
            yield from _subschemas(sub, (*path, key, index))


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= 60 else text[:57] + "..."


def describe_error(error: ValidationError) -> str:
    """A person's wording of one jsonschema error about a value (not about our own catalog format)."""
    validator: Any = error.validator
    expected: Any = error.validator_value
    instance: Any = error.instance
    schema: Any = error.schema
    if validator == "required":
        missing = [name for name in expected if isinstance(instance, Mapping) and name not in instance]
        return f"missing required field '{missing[0]}'" if missing else str(error.message)
    if validator == "enum":
        return f"expected one of {', '.join(map(str, expected))}; got {_short(instance)}"
    if validator == "type":
        return f"expected {expected if isinstance(expected, str) else ' or '.join(expected)}, got {_short(instance)}"
    if validator == "pattern":
        return f"{_short(instance)} does not match the pattern {expected}"
    if validator == "additionalProperties" and isinstance(instance, Mapping):
        known = set((schema or {}).get("properties", {})) if isinstance(schema, Mapping) else set()
        extra = sorted(set(instance) - known)
        return f"unknown field '{extra[0]}'" if extra else error.message
    return error.message


def apply_defaults(schema: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``values`` with the schema's property defaults filled in, recursively for nested objects."""
    result = copy.deepcopy(dict(values))
    _fill(schema, result)
    return result


def _fill(schema: Mapping[str, Any], target: dict[str, Any]) -> None:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return
    for name, sub in properties.items():
        if not isinstance(sub, Mapping):
            continue
        if name not in target and "default" in sub:
            target[name] = copy.deepcopy(sub["default"])
        if isinstance(target.get(name), dict):
            _fill(sub, target[name])


def value_problems(schema: Mapping[str, Any], values: Any) -> list[tuple[FieldPath, str]]:
    """Every way ``values`` fails the schema, as (path inside the values, message), in path order."""
    validator = Draft202012Validator(schema)
    problems: list[tuple[FieldPath, str]] = []
    for error in validator.iter_errors(values):
        path: tuple[PathPart, ...] = tuple(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, Mapping):
            for name in error.validator_value:
                if name not in error.instance:
                    problems.append(((*path, name), f"missing required field '{name}'"))
            continue
        if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
            known = set(schema.get("properties", {})) if isinstance(schema, Mapping) else set()
            for name in sorted(set(error.instance) - known):
                problems.append(((*path, name), "unknown field (the item's schema does not declare it)"))
            continue
        problems.append((path, describe_error(error)))
    # jsonschema >= 4.2x reports each missing required property as its own error, each carrying the whole
    # required list: the same problem comes more than once.
    return sorted(dict.fromkeys(problems), key=lambda p: format_path(p[0]))
