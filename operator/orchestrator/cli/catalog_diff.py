"""`devctl catalog diff OLD NEW [--requests DIR]`: what a catalog change does, and which requests it breaks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click

from ..catalog.diagnostics import DiagnosticList
from ..catalog.diff import CatalogDiff, diff_catalogs
from ..catalog.source_files import discover_yaml_files, read_source
from ..catalog.validate import Catalog, RequestTargets, ValidationReport, check_request_document, load_catalog
from .common import dump_json, dump_yaml


@dataclass
class BrokenRequest:
    file: str
    document: int
    name: str
    target: str
    line: int | None
    message: str


@dataclass
class RequestCheck:
    checked: int = 0
    broken: list[BrokenRequest] = field(default_factory=list)
    invalid_before: int = 0
    """Requests that were already invalid against the old catalog (not counted as broken by the change)."""


@dataclass
class DiffResult:
    old: Path
    new: Path
    diff: CatalogDiff
    old_errors: list[str]
    new_errors: list[str]
    requests: RequestCheck | None

    @property
    def ok(self) -> bool:
        return not self.new_errors and not (self.requests and self.requests.broken)

    def to_dict(self) -> dict[str, Any]:
        data = self.diff.to_dict()
        data["old"] = str(self.old)
        data["new"] = str(self.new)
        data["unbumped"] = [entry.name for entry in self.diff.unbumped]
        data["newCatalogErrors"] = self.new_errors
        data["oldCatalogErrors"] = self.old_errors
        if self.requests is not None:
            data["requests"] = {
                "checked": self.requests.checked,
                "invalidBefore": self.requests.invalid_before,
                "broken": [asdict(broken) for broken in self.requests.broken],
            }
        return data


def _errors(report: ValidationReport) -> list[str]:
    return [diagnostic.render() for diagnostic in report.errors]


def run_diff(old: Path, new: Path, requests: Path | None) -> DiffResult:
    old_catalog, old_report = load_catalog(old)
    new_catalog, new_report = load_catalog(new)
    checked = check_requests(requests, old_catalog, new_catalog) if requests is not None else None
    return DiffResult(
        old, new, diff_catalogs(old_catalog, new_catalog), _errors(old_report), _errors(new_report), checked
    )


def check_requests(folder: Path, old: Catalog, new: Catalog) -> RequestCheck:
    """Every ServiceRequest document under ``folder`` checked against both catalogs with the request validator;
    those valid before and invalid now are broken by the change."""
    result = RequestCheck()
    old_targets, new_targets = old.targets(), new.targets()
    files = [folder] if folder.is_file() else discover_yaml_files(folder, skip_dirs=())
    for path in files:
        source = read_source(path)
        for document in source.documents:
            data = document.data
            if not isinstance(data, dict) or data.get("kind") != "ServiceRequest":
                continue
            result.checked += 1
            before = _check(document, source.display, old_targets)
            if before.errors:
                result.invalid_before += 1
                continue
            after = _check(document, source.display, new_targets)
            if after.errors:
                first = after.errors[0]
                spec = data.get("spec") or {}
                target = spec.get("catalogItem") or (f"bundle {spec['bundle']}" if spec.get("bundle") else "?")
                message = "; ".join(f"{d.path}: {d.message}" if d.path else d.message for d in after.errors)
                name = str((data.get("metadata") or {}).get("name", ""))
                result.broken.append(
                    BrokenRequest(source.display, document.index, name, str(target), first.line, message)
                )
    return result


def _check(document: Any, display: str, targets: RequestTargets) -> DiagnosticList:
    report = DiagnosticList(display, document.positions, document.index)
    check_request_document(document, report, targets)
    return report


def print_diff(result: DiffResult, output: str) -> None:
    if output in ("json", "yaml"):
        data = result.to_dict()
        click.echo(dump_json(data) if output == "json" else dump_yaml(data), nl=output == "json")
        return
    diff = result.diff
    for error in result.old_errors:
        click.echo(f"warning: old catalog: {error}")
    for error in result.new_errors:
        click.echo(f"error: new catalog: {error}")
    for ref in diff.added:
        click.echo(f"+ {ref.kind} {ref.name} {ref.version}")
    for ref in diff.removed:
        click.echo(f"- {ref.kind} {ref.name} {ref.version}")
    for entry in diff.changed:
        version = (
            f"{entry.old_version} -> {entry.new_version}"
            if entry.old_version != entry.new_version
            else f"{entry.new_version}"
        )
        flags = []
        if entry.breaking:
            flags.append("BREAKING")
        if not entry.version_bumped:
            flags.append("VERSION NOT BUMPED")
        click.echo(f"~ {entry.kind} {entry.name} {version}" + (f"  [{', '.join(flags)}]" if flags else ""))
        for change in entry.changes:
            if change.subject == "version":
                continue
            mark = "!" if change.breaking else " "
            click.echo(f"   {mark} {change.area} {change.subject}: {change.message}")
    if not (diff.added or diff.removed or diff.changed):
        click.echo("No differences in items or bundles.")
    summary = f"\n{len(diff.added)} added, {len(diff.removed)} removed, {len(diff.changed)} changed"
    if diff.unbumped:
        summary += f"; {len(diff.unbumped)} changed without a version bump ({', '.join(e.name for e in diff.unbumped)})"
    click.echo(summary)
    if result.requests is not None:
        check = result.requests
        click.echo(
            f"Requests: {check.checked} checked, {len(check.broken)} broken by this change"
            + (f", {check.invalid_before} already invalid before" if check.invalid_before else "")
        )
        for broken in check.broken:
            where = f"{broken.file}:{broken.line}" if broken.line else broken.file
            click.echo(f"  {where}: {broken.name} ({broken.target}): {broken.message}")
