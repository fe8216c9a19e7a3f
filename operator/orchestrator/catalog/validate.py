"""One validator for catalog files and requests, used by devctl now and by catalog sync and admission later.

``load_catalog`` parses and checks a catalog folder all-or-nothing style: every document is checked and
every problem reported, and only valid documents are offered to callers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..api.base import API_VERSION
from ..api.catalog import CatalogBundle, CatalogItem
from ..api.environments import EnvironmentsConfig
from ..api.service_request import ServiceRequest
from .diagnostics import Diagnostic, DiagnosticList, suggest
from .fields import apply_defaults, value_problems
from .schema_check import build_model, check_schema
from .semantic import CheckOptions, ModuleCache, check_bundle, check_item
from .source_files import SourceDocument, discover_yaml_files, read_source
from .terraform_modules import TerraformParseCache

CatalogKind = Literal["CatalogItem", "CatalogBundle"]
CATALOG_KINDS: tuple[CatalogKind, ...] = ("CatalogItem", "CatalogBundle")


@dataclass
class DocumentSummary:
    file: str
    index: int
    line: int
    kind: str | None
    name: str | None
    valid: bool = True


@dataclass
class CatalogEntry:
    """A schema-valid catalog document and the diagnostics collected for it."""

    kind: CatalogKind
    name: str
    model: CatalogItem | CatalogBundle
    document: SourceDocument
    report: DiagnosticList
    target: bool
    """False for documents read only as context (to resolve references of the files being validated)."""


@dataclass
class ValidationReport:
    """Everything one validation run found."""

    documents: list[DocumentSummary] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    def ok(self, *, strict: bool = False) -> bool:
        return not self.errors and not (strict and self.warnings)

    def merge(self, other: ValidationReport) -> None:
        self.documents.extend(other.documents)
        self.diagnostics.extend(other.diagnostics)


@dataclass
class Catalog:
    """The valid documents of one catalog root, by kind and name."""

    root: Path
    items: dict[str, CatalogEntry] = field(default_factory=dict)
    bundles: dict[str, CatalogEntry] = field(default_factory=dict)

    def item(self, name: str) -> CatalogItem | None:
        entry = self.items.get(name)
        return entry.model if entry is not None and isinstance(entry.model, CatalogItem) else None

    def bundle(self, name: str) -> CatalogBundle | None:
        entry = self.bundles.get(name)
        return entry.model if entry is not None and isinstance(entry.model, CatalogBundle) else None

    def targets(self) -> RequestTargets:
        """This catalog's items and bundles, as the targets requests are checked against."""
        return RequestTargets(
            where=_display(self.root),
            items={name: e.model for name, e in self.items.items() if isinstance(e.model, CatalogItem)},
            bundles={name: e.model for name, e in self.bundles.items() if isinstance(e.model, CatalogBundle)},
        )


@dataclass(frozen=True)
class RequestTargets:
    """The items and bundles a request may name, and where they come from (for "no catalog item named x in ...")."""

    where: str
    items: Mapping[str, CatalogItem] = field(default_factory=dict)
    bundles: Mapping[str, CatalogBundle] = field(default_factory=dict)


def catalog_root_for(path: Path) -> Path:
    """The catalog root of a file: the nearest ancestor holding ``modules/``, else the file's own folder."""
    start = path if path.is_dir() else path.parent
    for candidate in [start, *start.parents]:
        if (candidate / "modules").is_dir():
            return candidate
    return start


def _display(path: Path, base: Path | None = None) -> str:
    """How a file is named in messages: relative to ``base`` (default: the working directory) when inside it,
    else absolute."""
    absolute = path.resolve()
    try:
        return str(absolute.relative_to((base or Path.cwd()).resolve()))
    except ValueError:
        return str(absolute)


def _check_kind(document: SourceDocument, report: DiagnosticList, allowed: Sequence[str]) -> str | None:
    data = document.data
    if not isinstance(data, dict):
        kind_list = " or ".join(allowed)
        report.error(
            (), f"expected a {kind_list} mapping (apiVersion, kind, metadata, spec); got {type(data).__name__}"
        )
        return None
    kind = data.get("kind")
    if kind in allowed:
        return str(kind)
    if "kind" not in data:
        report.error(("kind",), f"missing required field 'kind' (expected {' or '.join(allowed)})")
    elif kind == "ServiceRequest":
        report.error(
            ("kind",), "a ServiceRequest does not belong in the catalog; check it with `devctl validate request`"
        )
    elif kind in CATALOG_KINDS:
        report.error(
            ("kind",), f"expected {' or '.join(allowed)}; a {kind} is checked with `devctl validate catalog-item`"
        )
    else:
        report.error(("kind",), f"expected {' or '.join(allowed)}; got {kind!r}{suggest(str(kind), allowed)}")
    if data.get("apiVersion") != API_VERSION:
        report.error(("apiVersion",), f"expected '{API_VERSION}', got {data.get('apiVersion')!r}")
    return None


def _parse_entries(
    path: Path, display: str, *, target: bool, report: ValidationReport
) -> list[tuple[SourceDocument, DiagnosticList, CatalogKind | None]]:
    source = read_source(path, display)
    if target:
        report.diagnostics.extend(source.diagnostics)
        if source.diagnostics and not source.documents:
            report.documents.append(DocumentSummary(display, 0, 1, None, None, valid=False))
    parsed: list[tuple[SourceDocument, DiagnosticList, CatalogKind | None]] = []
    for document in source.documents:
        diagnostics = DiagnosticList(display, document.positions, document.index)
        kind = _check_kind(document, diagnostics, CATALOG_KINDS)
        parsed.append((document, diagnostics, kind if kind in CATALOG_KINDS else None))
    return parsed


def load_catalog(
    root: Path,
    *,
    targets: Sequence[Path] | None = None,
    strict: bool = False,
    relative_names: bool = False,
    parse_cache: TerraformParseCache | None = None,
) -> tuple[Catalog, ValidationReport]:
    """Parse and check the catalog under ``root``.

    Files are named relative to the working directory, or with ``relative_names`` relative to ``root`` (as
    catalog sync reports them: the path inside the repository, whatever checkout directory it was read from).

    With ``targets``, only those files' problems are reported; the rest of the root is read as context so
    that bundles can resolve their items. Without, every YAML file under ``root`` (outside ``modules/`` and
    hidden folders) is a target. ``parse_cache`` keeps what the Terraform modules declare between runs (devctl).
    """
    report = ValidationReport()
    catalog = Catalog(root=root)
    all_files = discover_yaml_files(root) if root.is_dir() else []
    wanted = [p.resolve() for p in targets] if targets is not None else [p.resolve() for p in all_files]
    wanted_set = set(wanted)
    context = [p for p in all_files if p.resolve() not in wanted_set] if targets is not None else []
    entries: list[CatalogEntry] = []
    for path, is_target in [*((p, True) for p in wanted), *((p, False) for p in context)]:
        display = _display(path, root if relative_names else None)
        for document, diagnostics, kind in _parse_entries(path, display, target=is_target, report=report):
            model: CatalogItem | CatalogBundle | None = None
            if kind == "CatalogItem" and check_schema(kind, document.data, diagnostics):
                model = build_model(CatalogItem, document.data, diagnostics)
            elif kind == "CatalogBundle" and check_schema(kind, document.data, diagnostics):
                model = build_model(CatalogBundle, document.data, diagnostics)
            name = document.data.get("metadata", {}).get("name") if isinstance(document.data, dict) else None
            if is_target:
                report.documents.append(
                    DocumentSummary(
                        display, document.index, document.line, kind, name if isinstance(name, str) else None
                    )
                )
            if model is None or kind is None:
                if is_target:
                    report.documents[-1].valid = False
                    report.diagnostics.extend(diagnostics.items)
                continue
            entry = CatalogEntry(kind, model.metadata.name, model, document, diagnostics, is_target)
            registry = catalog.items if kind == "CatalogItem" else catalog.bundles
            first = registry.get(entry.name)
            if first is not None:
                diagnostics.error(
                    ("metadata", "name"),
                    f"duplicate {kind} name '{entry.name}' (first defined in {first.document.file}:"
                    f"{first.document.positions.get(('metadata', 'name'), (first.document.line, 0))[0]})",
                )
            else:
                registry[entry.name] = entry
            entries.append(entry)
    options = CheckOptions(modules=ModuleCache(root, parse_cache), strict=strict)
    for entry in entries:
        if not entry.target:
            continue
        if isinstance(entry.model, CatalogItem):
            check_item(entry.model, entry.report, options)
        else:
            check_bundle(entry.model, entry.report, options, catalog.item)
    for entry in entries:
        if entry.target:
            report.diagnostics.extend(entry.report.items)
    _mark_invalid(report)
    return catalog, report


def _mark_invalid(report: ValidationReport) -> None:
    """Sort problems in reading order and mark the documents that have errors."""
    report.diagnostics.sort(key=Diagnostic.reading_order)
    bad = {(d.file, d.document) for d in report.errors}
    for summary in report.documents:
        if (summary.file, summary.index) in bad or (summary.file, None) in bad:
            summary.valid = False


def validate_catalog_paths(
    paths: Sequence[Path], *, strict: bool = False, parse_cache: TerraformParseCache | None = None
) -> ValidationReport:
    """Validate catalog folders and files. A folder is a catalog root; a file's root is found upwards."""
    report = ValidationReport()
    by_root: dict[Path, list[Path]] = {}
    for path in paths:
        if path.is_dir():
            _, sub = load_catalog(path, strict=strict, parse_cache=parse_cache)
            report.merge(sub)
            if not sub.documents:
                report.diagnostics.append(Diagnostic(_display(path), None, None, "", "no YAML files found"))
        else:
            by_root.setdefault(catalog_root_for(path), []).append(path)
    for root, files in by_root.items():
        _, sub = load_catalog(root, targets=files, strict=strict, parse_cache=parse_cache)
        report.merge(sub)
    return report


def load_environments(path: Path) -> tuple[EnvironmentsConfig | None, list[Diagnostic]]:
    """The environments config file (the same YAML the operator's ConfigMap holds)."""
    display = _display(path)
    source = read_source(path, display)
    if source.diagnostics or not source.documents:
        return None, source.diagnostics
    document = source.documents[0]
    diagnostics = DiagnosticList(display, document.positions, document.index)
    return build_model(EnvironmentsConfig, document.data, diagnostics), diagnostics.items


def validate_request_file(
    path: Path, catalog_dir: Path, *, environments: EnvironmentsConfig | None = None
) -> ValidationReport:
    """Check ServiceRequest manifests against the schema, their item's fields schema and the environments."""
    catalog, _ = load_catalog(catalog_dir, targets=[])
    report = ValidationReport()
    display = _display(path)
    source = read_source(path, display)
    report.diagnostics.extend(source.diagnostics)
    for document in source.documents:
        diagnostics = DiagnosticList(display, document.positions, document.index)
        name = document.data.get("metadata", {}).get("name") if isinstance(document.data, dict) else None
        report.documents.append(
            DocumentSummary(
                display, document.index, document.line, "ServiceRequest", name if isinstance(name, str) else None
            )
        )
        check_request_document(document, diagnostics, catalog.targets(), environments)
        report.diagnostics.extend(diagnostics.items)
    if not source.documents and not source.diagnostics:
        report.diagnostics.append(Diagnostic(display, None, None, "", "file is empty"))
    _mark_invalid(report)
    return report


def check_request_document(
    document: SourceDocument,
    report: DiagnosticList,
    targets: RequestTargets,
    environments: EnvironmentsConfig | None = None,
) -> ServiceRequest | None:
    """Check one ServiceRequest document: kind and schema, then its fields against the item or bundle it names
    (looked up in ``targets``) and, with ``environments``, its environment. Problems go to ``report``; the parsed
    request is returned when it has a valid shape (even if its fields are invalid), else None.

    ``devctl validate request`` checks files against a catalog folder; ``devctl request submit`` checks the
    request it built against the item it read from the cluster — the same checks, the same messages.
    """
    if not (
        _check_kind(document, report, ("ServiceRequest",)) and check_schema("ServiceRequest", document.data, report)
    ):
        return None
    request = build_model(ServiceRequest, document.data, report)
    if request is not None:
        _check_request(request, targets, report, environments)
    return request


def _check_request(
    request: ServiceRequest, targets: RequestTargets, report: DiagnosticList, environments: EnvironmentsConfig | None
) -> None:
    spec = request.spec
    # The model guarantees exactly one of catalogItem and bundle.
    target: CatalogItem | CatalogBundle | None
    entries: Mapping[str, Any]
    if spec.catalog_item is not None:
        field_name, label, name, entries = "catalogItem", "item", spec.catalog_item, targets.items
        target = targets.items.get(name)
    else:
        field_name, label, name, entries = "bundle", "bundle", spec.bundle or "", targets.bundles
        target = targets.bundles.get(name)
    schema = target.spec.fields if target is not None else None
    if target is None:
        report.error(
            ("spec", field_name),
            f"no catalog {label} named '{name}' in {targets.where}{suggest(name, entries)}",
        )
    if schema is not None:
        for problem_path, message in value_problems(schema, apply_defaults(schema, spec.fields)):
            report.error(("spec", "fields", *problem_path), message)
    if environments is not None and environments.resolve(spec.environment) is None:
        known = ", ".join(sorted(environments.environments)) or "none"
        if spec.environment is None:
            report.error(
                ("spec",), f"no environment given and the environments config sets no default (known: {known})"
            )
        else:
            report.error(
                ("spec", "environment"),
                f"unknown environment '{spec.environment}'"
                f"{suggest(spec.environment, environments.environments)} (known: {known})",
            )


def check_cluster_object(
    kind: CatalogKind, body: Mapping[str, Any], item: Callable[[str], CatalogItem | None]
) -> list[Diagnostic]:
    """Errors of a CatalogItem or CatalogBundle as the cluster holds it (for its Valid condition).

    The same schema and semantic checks as for files, except those needing the Terraform modules, which live in
    the catalog repository, not in the cluster. ``item`` resolves the items a bundle names.
    """
    data = _cluster_document(body)
    report = DiagnosticList(f"{kind}/{(body.get('metadata') or {}).get('name', '?')}")
    if check_schema(kind, data, report):
        options = CheckOptions(modules=None)
        if kind == "CatalogItem":
            model = build_model(CatalogItem, data, report)
            if model is not None:
                check_item(model, report, options)
        else:
            bundle = build_model(CatalogBundle, data, report)
            if bundle is not None:
                check_bundle(bundle, report, options, item)
    return [d for d in report.items if d.severity == "error"]


def _cluster_document(body: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a cluster object a catalog file would hold (no status, managedFields, resourceVersion...)."""
    data = {k: body.get(k) for k in ("apiVersion", "kind", "metadata", "spec")}
    meta = body.get("metadata") or {}
    data["metadata"] = {k: meta[k] for k in ("name", "labels", "annotations") if k in meta}
    return data


def item_from_cluster(body: Mapping[str, Any]) -> tuple[CatalogItem | None, list[Diagnostic]]:
    """The CatalogItem model of an item as the cluster holds it, or None with the schema errors that prevent it."""
    report = DiagnosticList(f"CatalogItem/{(body.get('metadata') or {}).get('name', '?')}")
    data = _cluster_document(body)
    model = build_model(CatalogItem, data, report) if check_schema("CatalogItem", data, report) else None
    return model, report.errors
