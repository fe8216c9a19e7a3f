"""Schema validation of catalog files and requests against the schemas generated from the API models.

jsonschema finds the problems; this module words them for people: the field path, what was expected, what
was found, and a "did you mean" for misspelt field names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any, TypeVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from referencing import Registry, Resource

from ..api import schema as api_schema
from ..api.actions import ACTION_TYPES
from ..api.base import DNS_LABEL_PATTERN, DURATION_PATTERN, IDENTIFIER_PATTERN, SEMVER_PATTERN
from .diagnostics import DiagnosticList, PathPart, suggest

M = TypeVar("M", bound=BaseModel)

SCHEMA_FOR_KIND = {
    "CatalogItem": api_schema.CATALOG_ITEM_SCHEMA,
    "CatalogBundle": api_schema.CATALOG_BUNDLE_SCHEMA,
    "ServiceRequest": api_schema.SERVICE_REQUEST_SCHEMA,
}

_PATTERN_MEANING = {
    DNS_LABEL_PATTERN: "must be an RFC 1123 label: lower-case letters, digits and '-', starting and ending "
    "with a letter or digit",
    IDENTIFIER_PATTERN: "must start with a lower-case letter and contain only letters, digits and '_' "
    "(templates read it as an attribute)",
    SEMVER_PATTERN: "must be a semantic version such as 1.4.0 or 2.0.0-rc.1",
    DURATION_PATTERN: "must be a duration such as 30s, 10m or 1h30m",
    "^[^/]": "must be a path relative to the catalog root",
}
_JSON_TYPES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


@cache
def _validators() -> dict[str, Draft202012Validator]:
    schemas = api_schema.catalog_schemas()
    resources = [
        (api_schema.SCHEMA_BASE_URL + name, Resource.from_contents(document)) for name, document in schemas.items()
    ]
    registry: Registry[Any] = Registry().with_resources(resources)
    # Round-trip through JSON so the validators never share mutable state with the generator.
    return {
        kind: Draft202012Validator(json.loads(json.dumps(schemas[name])), registry=registry)
        for kind, name in SCHEMA_FOR_KIND.items()
    }


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _show(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= 60 else text[:57] + "..."


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The most specific errors: an if/then or allOf failure reports through its sub-errors."""
    if error.validator in ("allOf", "then") and error.context:
        for sub in error.context:
            yield from _leaves(sub)
    else:
        yield error


def _explain(error: ValidationError, document: Any) -> Iterator[tuple[tuple[PathPart, ...], str]]:
    path: tuple[PathPart, ...] = tuple(error.absolute_path)
    validator: Any = error.validator
    expected: Any = error.validator_value
    instance: Any = error.instance
    schema: Any = error.schema
    if validator == "required":
        present = instance if isinstance(instance, dict) else {}
        for name in expected:
            if name not in present:
                if name in ACTION_TYPES and present.get("type") == name:
                    yield (*path, name), f"an action of type '{name}' needs a '{name}' block"
                else:
                    yield (*path, name), f"missing required field '{name}'"
    elif validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        for name in sorted(set(instance) - set(allowed)) if isinstance(instance, dict) else []:
            yield (*path, name), f"unknown field '{name}'{suggest(name, allowed, cutoff=0.7)}"
    elif validator == "type":
        wanted = " or ".join(_JSON_TYPES.get(t, t) for t in ([expected] if isinstance(expected, str) else expected))
        hint = " (quote it to keep it text)" if expected == "string" and isinstance(instance, int | float) else ""
        yield path, f"expected {wanted}, got {_type_name(instance)}{hint}"
    elif validator == "enum":
        choices = ", ".join(str(v) for v in expected)
        yield path, f"expected one of {choices}; got {_show(instance)}"
    elif validator == "const":
        yield path, f"expected '{expected}', got {_show(instance)}"
    elif validator == "pattern":
        meaning = _PATTERN_MEANING.get(expected, f"must match the pattern {expected}")
        yield path, f"{_show(instance)} {meaning}"
    elif validator in ("minLength", "maxLength"):
        if validator == "minLength" and expected == 1:
            yield path, "must not be empty"
        else:
            bound = "at least" if validator == "minLength" else "at most"
            yield path, f"must be {bound} {expected} characters long (got {len(instance)})"
    elif validator in ("minItems", "maxItems"):
        bound = "at least" if validator == "minItems" else "at most"
        yield path, f"must list {bound} {expected} entries (got {len(instance)})"
    elif validator in ("minimum", "maximum"):
        bound = "at least" if validator == "minimum" else "at most"
        yield path, f"must be {bound} {expected} (got {instance})"
    elif schema is False:
        # jsonschema reports a `false` property schema at the owning object; find the property by identity.
        owner = _resolve(document, path)
        if isinstance(owner, dict):
            key = next((k for k, v in owner.items() if v is instance), None)
            if key is not None:
                action_type = owner.get("type")
                reason = f"an action of type '{action_type}' takes no '{key}' block" if action_type else "not allowed"
                yield (*path, key), reason
                return
        yield path, "not allowed here"
    else:
        yield path, error.message


def _resolve(document: Any, path: tuple[PathPart, ...]) -> Any:
    node = document
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def check_schema(kind: str, document: Any, report: DiagnosticList) -> bool:
    """Validate a whole document of ``kind``; add one diagnostic per problem. True when valid."""
    validator = _validators()[kind]
    seen: set[tuple[tuple[PathPart, ...], str]] = set()
    problems: list[tuple[tuple[PathPart, ...], str]] = []
    for error in validator.iter_errors(document):
        for leaf in _leaves(error):
            for problem in _explain(leaf, document):
                if problem not in seen:
                    seen.add(problem)
                    problems.append(problem)
    for path, message in sorted(problems, key=lambda p: (report.locate(p[0])[0] or 0, [str(x) for x in p[0]])):
        report.error(path, message)
    return not problems


def build_model(model: type[M], document: Any, report: DiagnosticList) -> M | None:
    """Build the pydantic model of a schema-valid document; rules only the model knows become diagnostics."""
    try:
        return model.model_validate(document)
    except PydanticValidationError as exc:
        for problem in exc.errors(include_url=False):
            message = str(problem["msg"]).removeprefix("Value error, ")
            report.error(tuple(p for p in problem["loc"] if isinstance(p, str | int)), message)
        return None
