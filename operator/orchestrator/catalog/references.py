"""Static checking of template references against the scopes of DESIGN.md and the item's fields schema.

``devctl validate`` uses this to catch ``fields.dbNmae`` or ``outputs.provison.endpoint`` at review time,
long before a request renders the template.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..templates.analysis import TemplateReference, find_references, find_references_in_expression
from ..templates.errors import TemplateError
from .diagnostics import suggest

if TYPE_CHECKING:
    from ..api.catalog import CatalogItem

#: Known keys of the fixed scopes; None means free-form below that point.
FIXED_SCOPES: dict[str, frozenset[str] | None] = {
    "metadata": frozenset({"name", "version", "owner", "category", "labels"}),
    "request": frozenset({"name", "namespace", "uid", "requester", "createdAt", "environment", "generation"}),
    "system": frozenset({"clusterName", "operatorVersion", "now", "catalogRevision"}),
    "environment": None,
    "secrets": None,
}
#: Keys under these are free-form maps.
_FREE_FORM_LEAVES = {("metadata", "labels")}
SCOPE_NAMES = ("fields", *FIXED_SCOPES, "outputs")


@dataclass(frozen=True)
class OutputProducer:
    """What ``outputs.<name>`` offers to a template: its keys, or None when they cannot be known statically."""

    name: str
    keys: frozenset[str] | None
    kind: str = "action"
    lane: str | None = None
    """For actions: the fulfillment path (automated or manual) it belongs to."""


@dataclass
class ReferenceContext:
    """Everything a template at one place may refer to."""

    fields_schema: Mapping[str, Any]
    visible_outputs: Mapping[str, OutputProducer]
    """Producers this template may read: earlier actions, or earlier components."""
    all_outputs: Mapping[str, OutputProducer] = field(default_factory=dict)
    """Every producer of the item, to tell 'not yet available' from 'does not exist'."""
    extra_scopes: frozenset[str] = frozenset()
    """Scopes available only here, such as ``ticket`` in a JIRA action's outputs."""
    lane: str | None = None
    """The fulfillment path of the action holding the template, if any."""


def _dotted(parts: Iterable[str]) -> str:
    return ".".join(parts)


def _schema_properties(schema: Mapping[str, Any], root: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Declared properties of a schema node (through local $ref and allOf/anyOf/oneOf), and whether it is closed.

    A node that declares properties is treated as closed even when additionalProperties is not false: a
    reference to an undeclared name is almost always a typo.
    """
    if "$ref" in schema and isinstance(schema["$ref"], str) and schema["$ref"].startswith("#/"):
        target: Any = root
        for part in schema["$ref"][2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        return _schema_properties(target, root)
    properties: dict[str, Any] = dict(schema.get("properties", {}) or {})
    open_map = isinstance(schema.get("additionalProperties"), Mapping) and bool(schema.get("additionalProperties"))
    for combinator in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(combinator, []) or []:
            if isinstance(sub, Mapping):
                sub_properties, _ = _schema_properties(sub, root)
                properties.update(sub_properties)
    closed = bool(properties) and not open_map and schema.get("additionalProperties") is not True
    return properties, closed


def _check_fields_path(path: tuple[str, ...], schema: Mapping[str, Any]) -> str | None:
    node: Mapping[str, Any] = schema
    walked = ["fields"]
    for segment in path:
        properties, closed = _schema_properties(node, schema)
        if segment in properties and isinstance(properties[segment], Mapping):
            node = properties[segment]
        elif isinstance(node.get("additionalProperties"), Mapping) and node["additionalProperties"]:
            node = node["additionalProperties"]
        elif node.get("type") == "array" and segment.isdigit() and isinstance(node.get("items"), Mapping):
            node = node["items"]
        elif closed:
            where = _dotted(walked)
            return f"{where} has no field '{segment}'{suggest(segment, properties)}"
        else:
            return None  # free-form below this point
        walked.append(segment)
    return None


def check_reference(reference: TemplateReference, context: ReferenceContext) -> str | None:
    """Why the reference cannot resolve, or None when it can (or cannot be known statically)."""
    root, rest = reference.path[0], reference.path[1:]
    if root in context.extra_scopes:
        return None
    if root == "fields":
        return _check_fields_path(rest, context.fields_schema)
    if root == "outputs":
        if not rest:
            return None
        producer_name = rest[0]
        producer = context.visible_outputs.get(producer_name)
        if producer is None:
            if producer_name in context.all_outputs:
                other = context.all_outputs[producer_name]
                kind = other.kind
                if other.lane is not None and context.lane is not None and other.lane != context.lane:
                    return (
                        f"action '{producer_name}' belongs to the {other.lane} path; actions of the {context.lane} "
                        f"path can read only {context.lane} actions' outputs"
                    )
                return f"{kind} '{producer_name}' does not run before this one; add it to dependsOn"
            choices = context.all_outputs or context.visible_outputs
            label = "component" if any(p.kind == "component" for p in choices.values()) else "action"
            return f"no {label} named '{producer_name}'{suggest(producer_name, choices)}"
        if len(rest) > 1 and producer.keys is not None and rest[1] not in producer.keys:
            offered = ", ".join(sorted(producer.keys)) or "nothing"
            return (
                f"{producer.kind} '{producer_name}' has no output '{rest[1]}'{suggest(rest[1], producer.keys)} "
                f"(it offers: {offered})"
            )
        return None
    if root in FIXED_SCOPES:
        known = FIXED_SCOPES[root]
        if known is None or not rest:
            return None
        if rest[0] not in known:
            return f"{root} has no field '{rest[0]}'{suggest(rest[0], known)} (it offers: {', '.join(sorted(known))})"
        if len(rest) > 1 and (root, rest[0]) not in _FREE_FORM_LEAVES:
            return f"{root}.{rest[0]} is a single value; it has no field '{rest[1]}'"
        return None
    scopes = sorted({*SCOPE_NAMES, *context.extra_scopes})
    return f"unknown variable '{root}'{suggest(root, scopes)}; templates can use {', '.join(scopes)}"


def check_template(source: str, context: ReferenceContext, *, expression: bool = False) -> list[tuple[int, str]]:
    """Problems of one template as (line within the template, message); a syntax error is one problem."""
    try:
        references = find_references_in_expression(source) if expression else find_references(source)
    except TemplateError as exc:
        return [(exc.line or 1, f"template syntax error: {exc.message}")]
    problems: list[tuple[int, str]] = []
    for reference in references:
        reason = check_reference(reference, context)
        if reason is not None:
            problems.append((reference.line, f"template references {_dotted(reference.path)}: {reason}"))
    return problems


def is_template(value: Any) -> bool:
    """Whether a string holds template markup (and so is not checked as a literal value)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def template_strings(value: Any) -> Iterable[str]:
    """Every string inside ``value`` (mappings, lists) that may hold a template."""
    if isinstance(value, str):
        if "{" in value:
            yield value
    elif isinstance(value, Mapping):
        for child in value.values():
            yield from template_strings(child)
    elif isinstance(value, list | tuple):
        for child in value:
            yield from template_strings(child)


def item_references(item: CatalogItem, root: str) -> list[tuple[str, ...]]:
    """Every scope path rooted at ``root`` that a CatalogItem's templates read (actions, ``when``, outputs).

    Templates that do not parse are skipped: validation and rendering report them with their location.
    """
    from ..api.base import dump

    sources: list[tuple[str, bool]] = []
    for action in item.all_actions():
        body = dump(action)
        when = body.pop("when", None)
        sources.extend((text, False) for text in template_strings(body))
        if when:
            sources.append((when, True))
    sources.extend((text, False) for output in item.spec.outputs for text in template_strings(output.value))
    found: list[tuple[str, ...]] = []
    for text, expression in sources:
        try:
            references = find_references_in_expression(text) if expression else find_references(text)
        except TemplateError:
            continue
        found.extend(ref.path for ref in references if ref.path[0] == root)
    return found
