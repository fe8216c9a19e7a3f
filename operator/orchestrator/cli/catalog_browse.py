"""`devctl catalog list|get|search`: the catalog as the cluster (or a catalog folder) holds it.

Works on plain objects (the API's JSON, or a catalog file's document), so the same printing serves both.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ..catalog.field_info import FieldInfo, as_mapping, compact, describe_fields
from ..clients.cluster import CATALOG_BUNDLES, CATALOG_ITEMS, Cluster, ClusterError, Kind
from .common import EXIT_NOT_FOUND, CliError, condition, dump_json, dump_yaml, emit, shorten, table_lines

KIND_SHORT = {"CatalogItem": "item", "CatalogBundle": "bundle"}
RESOURCE_NAMES = {"CatalogItem": "catalogitem", "CatalogBundle": "catalogbundle"}
_PAGE_KINDS: dict[str, tuple[Kind, str]] = {
    "items": (CATALOG_ITEMS, "CatalogItem"),
    "bundles": (CATALOG_BUNDLES, "CatalogBundle"),
}
TERMINAL_WIDTH = 80
#: Which `catalog list` columns give up their width first on a narrow terminal (column index, narrowest width).
LIST_SHRINK_ORDER = ((4, 8), (5, 9), (2, 8), (3, 7), (0, 12))


def output_width() -> int | None:
    """The width tables are fitted to: ``$COLUMNS`` when set, else 80 on a terminal, else None (whole cells)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return TERMINAL_WIDTH if sys.stdout.isatty() else None


def fit_by_priority(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], width: int, order: Sequence[tuple[int, int]]
) -> list[list[str]]:
    """Rows with cells shortened ("…") column by column in ``order`` ((column, narrowest width) pairs), until the
    table fits ``width``: the columns people scan (the name) keep their text longest."""
    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    if not cells:
        return cells
    widths = [max(len(headers[i]), *(len(row[i]) for row in cells)) for i in range(len(headers))]
    excess = sum(widths) + 3 * (len(widths) - 1) - width
    for column, narrowest in order:
        if excess <= 0:
            break
        cut = min(excess, widths[column] - max(narrowest, len(headers[column])))
        if cut > 0:
            widths[column] -= cut
            excess -= cut
    return [[shorten(cell, widths[i]) for i, cell in enumerate(row)] for row in cells]


def echo_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    empty: str | None = None,
    priority: Sequence[tuple[int, int]] = (),
) -> None:
    width = output_width()
    materialised = [list(row) for row in rows]
    if width is not None and priority:
        materialised = fit_by_priority(headers, materialised, width, priority)
    lines = table_lines(headers, materialised, max_width=width)
    if not lines and empty:
        click.echo(empty, err=True)
    for line in lines:
        click.echo(line)


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_mapping(obj.get("spec"))


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def ready_text(obj: Mapping[str, Any]) -> str:
    return str(condition(obj, "Ready").get("status") or "-")


# ---- list --------------------------------------------------------------------------------------------------------


@dataclass
class Filters:
    category: str | None = None
    owner: str | None = None
    tag: str | None = None

    def __bool__(self) -> bool:
        return any((self.category, self.owner, self.tag))

    def match(self, obj: Mapping[str, Any]) -> bool:
        spec = _spec(obj)
        if self.category and spec.get("category") != self.category:
            return False
        if self.owner and spec.get("owner") != self.owner:
            return False
        tags = spec.get("tags")
        return not (self.tag and (not isinstance(tags, list) or self.tag not in tags))


@dataclass
class Page:
    objects: list[dict[str, Any]]
    continue_token: str | None
    scanned: int
    """How many objects the server returned for this page (before the client-side filters)."""


def encode_token(kind: str, server_token: str | None) -> str:
    raw = json.dumps([kind, server_token or ""], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, str | None]:
    """The kind (items or bundles) and the API server's token a ``--continue`` token stands for."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        kind, server_token = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as error:
        raise click.BadParameter(
            f"not a token printed by devctl catalog list ({error})", param_hint="--continue"
        ) from None
    if kind not in _PAGE_KINDS or not isinstance(server_token, str):
        raise click.BadParameter("not a token printed by devctl catalog list", param_hint="--continue")
    return kind, server_token or None


def list_page(cluster: Cluster, filters: Filters, *, limit: int | None, continue_token: str | None) -> Page:
    """One page: CatalogItems first, then CatalogBundles, ``limit`` objects at most (before filtering).

    The API server pages each kind; the token devctl prints names the kind and the server's token, so
    ``--continue`` resumes exactly where the page ended, across the two kinds.
    """
    start_kind, server_token = decode_token(continue_token) if continue_token else ("items", None)
    order = list(_PAGE_KINDS)
    objects: list[dict[str, Any]] = []
    scanned = 0
    for kind in order[order.index(start_kind) :]:
        resource, kind_name = _PAGE_KINDS[kind]
        room = None if limit is None else limit - scanned
        if room is not None and room <= 0:
            return Page(objects, encode_token(kind, None), scanned)
        page = cluster.list_page(resource, limit=room, continue_token=server_token)
        server_token = None
        items = [dict(obj, kind=obj.get("kind") or kind_name) for obj in page.get("items") or []]
        scanned += len(items)
        objects.extend(obj for obj in items if filters.match(obj))
        next_token = (page.get("metadata") or {}).get("continue")
        if next_token:
            return Page(objects, encode_token(kind, next_token), scanned)
    return Page(objects, None, scanned)


def print_list(page: Page, *, filters: Filters, limit: int | None) -> None:
    rows = [
        (
            _name(obj),
            KIND_SHORT.get(str(obj.get("kind")), str(obj.get("kind"))),
            _spec(obj).get("category", ""),
            _spec(obj).get("version", ""),
            _spec(obj).get("owner", ""),
            _spec(obj).get("lifecycle", "stable"),
            ready_text(obj),
        )
        for obj in page.objects
    ]

    def table() -> None:
        empty = "No catalog items found" + (" matching the filters" if filters else "") + "."
        echo_table(
            ("NAME", "KIND", "CATEGORY", "VERSION", "OWNER", "LIFECYCLE", "READY"),
            rows,
            empty=empty,
            priority=LIST_SHRINK_ORDER,
        )
        if page.continue_token:
            flags = f"--limit {limit} " if limit else ""
            click.echo(f"\nMore results: devctl catalog list {flags}--continue {page.continue_token}", err=True)

    data = {
        "apiVersion": "v1",
        "kind": "List",
        "items": page.objects,
        "metadata": {"continue": page.continue_token} if page.continue_token else {},
    }
    names = [f"{RESOURCE_NAMES.get(str(obj.get('kind')), 'catalogitem')}/{_name(obj)}" for obj in page.objects]
    emit(data, table=table, names=names)


# ---- get ---------------------------------------------------------------------------------------------------------


def get_object(cluster: Cluster, name: str) -> dict[str, Any]:
    """The CatalogItem ``name``, else the CatalogBundle ``name``; exit 3 when neither exists."""
    for kind, kind_name in ((CATALOG_ITEMS, "CatalogItem"), (CATALOG_BUNDLES, "CatalogBundle")):
        try:
            obj = cluster.get(kind, name)
        except ClusterError as error:
            if error.status == 404:
                continue
            raise
        return dict(obj, kind=obj.get("kind") or kind_name)
    known = sorted(_name(obj) for obj in cluster.list(CATALOG_ITEMS)) + sorted(
        _name(obj) for obj in cluster.list(CATALOG_BUNDLES)
    )
    from ..catalog.diagnostics import suggest

    raise CliError(
        f"no catalog item or bundle named '{name}' in the cluster{suggest(name, known)}",
        exit_code=EXIT_NOT_FOUND,
        hint="devctl catalog list (or devctl catalog search WORDS)",
    )


def field_rows(schema: Mapping[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for info in describe_fields(schema):
        rows.append(
            (
                info.name,
                info.type_label,
                "yes" if info.required else "no",
                compact(info.default) if info.has_default else "-",
                "; ".join(info.constraints()) or "-",
                _field_description(info),
            )
        )
    return rows


def _field_description(info: FieldInfo) -> str:
    title, description = info.schema.get("title"), info.description
    if title and description:
        return f"{title}: {description}"
    return str(title or description or "")


def _action_summary(action: Mapping[str, Any]) -> str:
    kind = str(action.get("type", ""))
    block = as_mapping(action.get(kind))
    if kind == "terraform":
        parts = [f"module {block.get('module', '?')}"]
        if block.get("approvePlan") == "manual":
            parts.append("plan approved by a person")
        if block.get("runner") == "job":
            parts.append("runs in a Job")
    elif kind == "jira":
        parts = [f"project {block.get('project', '?')}", f"issue type {block.get('issueType', 'Task')}"]
    elif kind == "workspace":
        parts = [f"namespace {block.get('namespace', '?')}"]
    elif kind == "http":
        parts = [f"{block.get('method', 'POST')} {block.get('url', '?')}"]
    else:
        parts = []
    if action.get("dependsOn"):
        parts.append("after " + ", ".join(action["dependsOn"]))
    if action.get("when"):
        parts.append(f"when {action['when']}")
    return "; ".join(parts)


def describe(obj: Mapping[str, Any]) -> list[str]:
    """The kubectl-describe-like text of an item or bundle (without its fields table)."""
    spec = _spec(obj)
    meta = as_mapping(obj.get("metadata"))
    annotations = as_mapping(meta.get("annotations"))
    lines: list[str] = []

    def line(label: str, value: Any) -> None:
        if value not in (None, "", []):
            lines.append(f"{label + ':':<17}{value}")

    line("Name", _name(obj))
    line("Kind", obj.get("kind"))
    line("Display name", spec.get("displayName"))
    description = " ".join(str(spec.get("description") or "").split())
    if description:
        wrapped = textwrap.wrap(description, width=max((output_width() or 120) - 17, 40))
        lines.append(f"{'Description:':<17}{wrapped[0]}")
        lines.extend(" " * 17 + more for more in wrapped[1:])
    line("Owner", spec.get("owner"))
    line("Category", spec.get("category"))
    line("Version", spec.get("version"))
    line("Lifecycle", spec.get("lifecycle", "stable"))
    line("Tags", ", ".join(str(tag) for tag in spec.get("tags") or []))
    line("Documentation", spec.get("documentation"))
    approval = as_mapping(spec.get("approval"))
    if approval.get("required"):
        approvers = ", ".join(approval.get("approvers") or []) or "the operator's default approvers"
        line("Approval", f"required (risk class {approval.get('riskClass', 'low')}; approvers: {approvers})")
    else:
        line("Approval", "not required")
    fulfillment = as_mapping(spec.get("fulfillment"))
    if fulfillment:
        mode = fulfillment.get("mode", "automated")
        fallback = " (a permanent failure falls back to manual)" if fulfillment.get("fallbackToManual") else ""
        line("Fulfillment", f"{mode}{fallback}")
        for lane in ("automated", "manual"):
            actions = fulfillment.get(lane) or []
            if actions:
                lines.append(f"  {lane}:")
                for action in actions:
                    lines.append(f"    {action.get('name')} ({action.get('type')}): {_action_summary(action)}")
    components = spec.get("components") or []
    if components:
        lines.append("Components:")
        for component in components:
            after = f" after {', '.join(component['dependsOn'])}" if component.get("dependsOn") else ""
            lines.append(f"  {component.get('name')}: item {component.get('item')}{after}")
    outputs = spec.get("outputs") or []
    if outputs:
        lines.append("Outputs:")
        for output in outputs:
            sensitive = " (sensitive: in the outputs Secret)" if output.get("sensitive") else ""
            description = f": {output['description']}" if output.get("description") else ""
            lines.append(f"  {output.get('name')}{sensitive}{description}")
    line("Deletion policy", spec.get("deletionPolicy"))
    line("Source", annotations.get("orchestrator.dev/source-path"))
    line("Revision", annotations.get("orchestrator.dev/revision"))
    status = as_mapping(obj.get("status"))
    if status:
        line("Requests", status.get("activeRequests"))
        conditions = status.get("conditions") or []
        if conditions:
            lines.append("Conditions:")
            rows = [
                (c.get("type", ""), c.get("status", ""), c.get("reason", ""), c.get("message", "")) for c in conditions
            ]
            lines.extend("  " + text for text in table_lines(("TYPE", "STATUS", "REASON", "MESSAGE"), rows))
    return lines


def print_get(obj: Mapping[str, Any]) -> None:
    def table() -> None:
        for text in describe(obj):
            click.echo(text)
        rows = field_rows(_spec(obj).get("fields") or {})
        click.echo("\nFields:" if rows else "\nFields: none")
        echo_table(("NAME", "TYPE", "REQUIRED", "DEFAULT", "ALLOWED", "DESCRIPTION"), rows)

    emit(dict(obj), table=table, names=[f"{RESOURCE_NAMES.get(str(obj.get('kind')), 'catalogitem')}/{_name(obj)}"])


def print_schema(obj: Mapping[str, Any], output: str) -> None:
    schema = _spec(obj).get("fields") or {}
    click.echo(dump_yaml(schema) if output == "yaml" else dump_json(schema), nl=output != "yaml")


# ---- search ------------------------------------------------------------------------------------------------------

#: Weight of a word found in each place; a word counts once, where it weighs most.
SEARCH_WEIGHTS = (("name", 8), ("tags", 4), ("displayName", 2), ("description", 1))
EXACT_BONUS = 2


@dataclass
class Hit:
    obj: dict[str, Any]
    score: int
    matched: list[str]


def score(obj: Mapping[str, Any], words: Sequence[str]) -> Hit | None:
    """How well ``obj`` matches: per word, the weight of the best place it occurs (exact name or tag: more)."""
    spec = _spec(obj)
    places = {
        "name": [_name(obj).lower()],
        "tags": [str(tag).lower() for tag in spec.get("tags") or []],
        "displayName": [str(spec.get("displayName") or "").lower()],
        "description": [str(spec.get("description") or "").lower()],
    }
    total = 0
    matched: list[str] = []
    for word in (w.lower() for w in words if w.strip()):
        for place, weight in SEARCH_WEIGHTS:
            texts = places[place]
            if any(word in text for text in texts):
                exact = place in ("name", "tags") and any(word == text for text in texts)
                total += weight + (EXACT_BONUS if exact else 0)
                if place not in matched:
                    matched.append(place)
                break
    return Hit(dict(obj), total, matched) if total else None


def search(objects: Iterable[Mapping[str, Any]], words: Sequence[str]) -> list[Hit]:
    """Objects matching any word, best first (ties by name)."""
    hits = [hit for obj in objects if (hit := score(obj, words)) is not None]
    return sorted(hits, key=lambda hit: (-hit.score, _name(hit.obj)))


def cluster_objects(cluster: Cluster) -> list[dict[str, Any]]:
    return [
        *(dict(obj, kind=obj.get("kind") or "CatalogItem") for obj in cluster.list(CATALOG_ITEMS)),
        *(dict(obj, kind=obj.get("kind") or "CatalogBundle") for obj in cluster.list(CATALOG_BUNDLES)),
    ]


def folder_objects(root: Path) -> list[dict[str, Any]]:
    """The valid items and bundles of a catalog folder, as documents."""
    from ..catalog.validate import load_catalog

    catalog, _ = load_catalog(root, targets=[])
    return [dict(entry.document.data) for entry in [*catalog.items.values(), *catalog.bundles.values()]]


def print_search(hits: Sequence[Hit], words: Sequence[str]) -> None:
    rows = [
        (
            _name(hit.obj),
            KIND_SHORT.get(str(hit.obj.get("kind")), ""),
            hit.score,
            ",".join(hit.matched),
            _spec(hit.obj).get("displayName", ""),
        )
        for hit in hits
    ]
    data = [
        {
            "name": _name(hit.obj),
            "kind": hit.obj.get("kind"),
            "score": hit.score,
            "matched": hit.matched,
            "displayName": _spec(hit.obj).get("displayName"),
            "version": _spec(hit.obj).get("version"),
        }
        for hit in hits
    ]
    names = [f"{RESOURCE_NAMES.get(str(hit.obj.get('kind')), 'catalogitem')}/{_name(hit.obj)}" for hit in hits]
    emit(
        data,
        table=lambda: echo_table(
            ("NAME", "KIND", "SCORE", "MATCHED", "DISPLAY NAME"), rows, empty=f"Nothing matches: {' '.join(words)}"
        ),
        names=names,
    )
