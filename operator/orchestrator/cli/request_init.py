"""``devctl request init``: a commented ServiceRequest skeleton for a requests repository (Argo CD, Flux).

Every field of the item's schema appears with its title, description, type, allowed values, constraints and default
as comments. Required fields come first, marked REQUIRED, with an empty value to fill in (or their default when
they have one); optional fields are commented out, showing their default, so that leaving them alone keeps the
item's default. The output is valid YAML, and ``devctl validate request`` accepts it once the required values are
filled in.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import yaml

from .common import EXIT_NOT_FOUND, Globals, fail

WIDTH = 100


def scalar(value: Any) -> str:
    """A value as YAML flow text on one line (strings quoted only when YAML needs it)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _comment(text: str, indent: str) -> list[str]:
    lines: list[str] = []
    for paragraph in str(text).splitlines() or [""]:
        wrapped = textwrap.wrap(paragraph, width=max(40, WIDTH - len(indent) - 2)) or [""]
        lines += [f"{indent}# {line}".rstrip() for line in wrapped]
    return lines


def _type_of(schema: Mapping[str, Any]) -> str:
    declared = schema.get("type")
    if isinstance(declared, list):
        text = " or ".join(str(t) for t in declared)
    elif declared:
        text = str(declared)
    elif "enum" in schema:
        text = "one of the values below"
    else:
        text = "any"
    if declared == "array" and isinstance(schema.get("items"), Mapping):
        inner = schema["items"]
        text += f" of {_type_of(inner)}"
        if isinstance(inner.get("properties"), Mapping):
            text += f" ({', '.join(inner['properties'])})"
    return text


def constraints(schema: Mapping[str, Any]) -> str:
    """``type: string; one of: a, b; default: a; pattern: ...`` for a field's comment."""
    parts = [f"type: {_type_of(schema)}"]
    if isinstance(schema.get("enum"), list):
        parts.append("one of: " + ", ".join(scalar(v) for v in schema["enum"]))
    if "const" in schema:
        parts.append(f"must be: {scalar(schema['const'])}")
    if "default" in schema:
        parts.append(f"default: {scalar(schema['default'])}")
    for key, label in (
        ("pattern", "pattern"),
        ("format", "format"),
        ("minimum", "minimum"),
        ("maximum", "maximum"),
        ("exclusiveMinimum", "greater than"),
        ("exclusiveMaximum", "less than"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
    ):
        if key in schema:
            parts.append(f"{label}: {schema[key]}")
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        parts.append("e.g. " + ", ".join(scalar(v) for v in schema["examples"][:2]))
    return "; ".join(parts)


def ordered_properties(schema: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any], bool]]:
    """(name, subschema, required): required fields first (in the order ``required`` lists them), then the rest
    in declaration order."""
    properties = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
    assert isinstance(properties, Mapping)
    required = [r for r in schema.get("required") or [] if r in properties]
    rest = [name for name in properties if name not in required]
    return [
        (name, properties[name] if isinstance(properties[name], Mapping) else {}, name in required)
        for name in [*required, *rest]
    ]


def render_fields(schema: Mapping[str, Any], indent: str, *, commented: bool = False) -> list[str]:
    """The lines of a ``fields`` mapping for ``schema``; ``commented`` writes every value line commented out
    (an optional object: uncommenting it keeps the indentation right)."""
    lines: list[str] = []
    for name, sub, required in ordered_properties(schema):
        key = scalar(name)
        if lines:
            lines.append("")
        title = sub.get("title")
        marker = "REQUIRED" if required and not commented else "optional" if not required else "required in it"
        lines += _comment(f"{title} ({marker})" if title else marker, indent)
        if sub.get("description"):
            lines += _comment(" ".join(str(sub["description"]).split()), indent)
        lines += _comment(constraints(sub), indent)
        nested = bool(isinstance(sub.get("properties"), Mapping) and sub["properties"] and "default" not in sub)
        if required and not commented:
            if nested:
                lines.append(f"{indent}{key}:")
                lines += render_fields(sub, indent + "  ")
            elif "default" in sub:
                lines.append(f"{indent}{key}: {scalar(sub['default'])}")
            else:
                lines.append(f"{indent}{key}:   # REQUIRED: fill in")
        elif nested:
            lines.append(f"{indent}# {key}:")
            lines += render_fields(sub, indent + "  ", commented=True)
        elif "default" in sub:
            lines.append(f"{indent}# {key}: {scalar(sub['default'])}")
        else:
            lines.append(f"{indent}# {key}: {_placeholder(sub)}")
    return lines


def _placeholder(schema: Mapping[str, Any]) -> str:
    """What an optional field without a default shows: an example, the first allowed value, or its type."""
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return scalar(schema["examples"][0])
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return scalar(schema["enum"][0])
    return f"<{_type_of(schema)}>"


def skeleton(
    item: Mapping[str, Any],
    *,
    name: str | None = None,
    namespace: str | None = None,
    environments: Sequence[str] = (),
    default_environment: str | None = None,
    source: str = "",
) -> str:
    """The commented manifest for ``item`` (a CatalogItem object: metadata.name and spec)."""
    item_name = str((item.get("metadata") or {}).get("name"))
    spec = item.get("spec") or {}
    fields = spec.get("fields") if isinstance(spec.get("fields"), Mapping) else {}
    assert isinstance(fields, Mapping)
    title = f"{spec.get('displayName') or item_name} ({item_name} {spec.get('version') or ''})".replace(" )", ")")
    lines = [f"# ServiceRequest for {title}{f', from {source}' if source else ''}"]
    if spec.get("description"):
        lines += _comment(" ".join(str(spec["description"]).split()), "")
    lines += [
        "# Fill in the fields marked REQUIRED. Optional fields are commented out with their default;",
        "# uncomment one to set it. Check the file with: devctl validate request FILE --catalog DIR",
        "apiVersion: orchestrator.dev/v1alpha1",
        "kind: ServiceRequest",
        "metadata:",
        f"  name: {scalar(name or _default_name(item_name))}",
        f"  namespace: {scalar(namespace)}" if namespace else "  # namespace: <your team's namespace>",
        "spec:",
        f"  catalogItem: {scalar(item_name)}",
    ]
    if environments:
        default = f" (default: {default_environment})" if default_environment else ""
        lines.append(f"  # environment: one of {', '.join(environments)}{default}")
        lines.append(f"  # environment: {scalar(default_environment or environments[0])}")
    else:
        lines.append("  # environment: <name>   # the operator's default environment when omitted")
    if not ordered_properties(fields):
        lines.append("  fields: {}   # this item has no fields")
    else:
        lines.append("  fields:")
        lines += render_fields(fields, "    ")
    return "\n".join(lines) + "\n"


def _default_name(item: str) -> str:
    return f"my-{item}"[:63].rstrip("-")


def init(glob: Globals, item: str, *, catalog_dir: Path | None, out: Path | None, name: str | None) -> None:
    """Write the skeleton of ``item`` (from ``catalog_dir``, else from the cluster) to ``out`` or stdout."""
    glob.formats("table", "yaml")
    environments: list[str] = []
    default: str | None = None
    namespace = glob.namespace
    if catalog_dir is not None:
        from ..catalog.diagnostics import suggest
        from ..catalog.validate import load_catalog

        catalog, _ = load_catalog(catalog_dir, targets=[])
        entry = catalog.items.get(item)
        if entry is None:
            fail(
                f"no catalog item named '{item}' in {catalog_dir}{suggest(item, catalog.items)}",
                exit_code=EXIT_NOT_FOUND,
                hint=f"devctl validate catalog-item {catalog_dir} (invalid items are not offered)",
            )
        body: Mapping[str, Any] = entry.document.data
        source = f"the catalog in {catalog_dir}"
    else:
        from .request_submit import fetch_item, read_environments

        cluster = glob.cluster()
        body, _ = fetch_item(cluster, item)
        namespace = namespace or cluster.namespace
        config = read_environments(cluster)
        if config is not None:
            environments, default = sorted(config.environments), config.default
        source = "the cluster"
    text = skeleton(
        body, name=name, namespace=namespace, environments=environments, default_environment=default, source=source
    )
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as error:
        fail(f"cannot write {out}: {error.strerror or error}")
    click.echo(f"wrote {out}", err=True)
