"""Printing validation reports: a compiler-style list plus a summary table, or JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.console import Console

    from ..catalog.validate import ValidationReport

OutputFormat = str  # "table", "json" or "yaml" (checked by Globals.formats)


def report_to_dict(report: ValidationReport, *, strict: bool) -> dict[str, object]:
    from ..catalog.diagnostics import Diagnostic

    return {
        "valid": report.ok(strict=strict),
        "errors": len(report.errors),
        "warnings": len(report.warnings),
        "documents": [
            {"file": d.file, "document": d.index, "line": d.line, "kind": d.kind, "name": d.name, "valid": d.valid}
            for d in report.documents
        ],
        "diagnostics": [d.to_dict() for d in sorted(report.diagnostics, key=Diagnostic.reading_order)],
    }


def print_report(
    report: ValidationReport, *, output: OutputFormat, strict: bool, console: Callable[[], Console]
) -> None:
    """Print ``report`` as JSON, YAML or (with the console ``console()`` makes: colours) a problem list and table."""
    if output in ("json", "yaml"):
        from .common import dump_json, dump_yaml

        # Machine output is plain text: no need to load rich for it.
        data = report_to_dict(report, strict=strict)
        click.echo(dump_json(data) if output == "json" else dump_yaml(data).rstrip("\n"))
        return
    from rich.table import Table

    from ..catalog.diagnostics import Diagnostic

    screen = console()
    for diagnostic in sorted(report.diagnostics, key=Diagnostic.reading_order):
        style = "red" if diagnostic.severity == "error" else "yellow"
        screen.print(diagnostic.render(), style=style, soft_wrap=True, highlight=False, markup=False)
    if report.documents:
        table = Table(show_edge=False, pad_edge=False, box=None)
        for column in ("FILE", "KIND", "NAME", "RESULT"):
            table.add_column(column, no_wrap=True)
        problems: dict[tuple[str, int | None], tuple[int, int]] = {}
        for d in report.diagnostics:
            errors, warnings = problems.get((d.file, d.document), (0, 0))
            problems[(d.file, d.document)] = (errors + (d.severity == "error"), warnings + (d.severity == "warning"))
        for summary in report.documents:
            errors, warnings = problems.get((summary.file, summary.index), (0, 0))
            whole_file = problems.get((summary.file, None), (0, 0))
            errors += whole_file[0]
            if not summary.valid or errors:
                result = f"[red]invalid[/red] ({errors} error{'s' if errors != 1 else ''})"
            elif warnings:
                result = f"[yellow]valid[/yellow] ({warnings} warning{'s' if warnings != 1 else ''})"
            else:
                result = "[green]valid[/green]"
            location = summary.file + (f" #{summary.index}" if summary.index else "")
            table.add_row(location, summary.kind or "-", summary.name or "-", result)
        screen.print()
        screen.print(table)
    verdict = "valid" if report.ok(strict=strict) else "invalid"
    screen.print(
        f"\n{len(report.documents)} document(s): {verdict}; {len(report.errors)} error(s), "
        f"{len(report.warnings)} warning(s)" + (" (--strict: warnings fail)" if strict and report.warnings else ""),
        highlight=False,
    )
