"""Printing `devctl test variables` reports: readable text, or one stable JSON/YAML document."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import yaml

from ..api.environments import EnvironmentsConfig
from ..catalog.diagnostics import Diagnostic
from ..catalog.source_files import read_source
from ..catalog.validate import load_environments
from .common import CliError, dump_json, dump_yaml
from .template_check import VariablesReport


def load_environments_file(path: Path) -> EnvironmentsConfig:
    """The operator's environments config from a file; exit 1 with the file's problems when it is invalid."""
    config, problems = load_environments(path)
    if config is None:
        detail = "; ".join(problem.render() for problem in problems) or "no environments config in it"
        raise CliError(f"{path}: {detail}")
    return config


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (ticket descriptions) as YAML block scalars, so they read as they will be sent."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value and not value.startswith(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)


def environment_of(values_files: Sequence[Path]) -> str | None:
    """``spec.environment`` of the last ServiceRequest manifest among the -f files that sets one."""
    chosen = None
    for path in values_files:
        source = read_source(path, str(path))
        data = source.documents[0].data if len(source.documents) == 1 else None
        spec = data.get("spec") if isinstance(data, dict) and data.get("kind") == "ServiceRequest" else None
        if isinstance(spec, dict) and isinstance(spec.get("environment"), str):
            chosen = spec["environment"]
    return chosen


def _indented_yaml(data: Any, indent: str = "    ") -> list[str]:
    text = yaml.dump(data, Dumper=_BlockDumper, sort_keys=True, default_flow_style=False, allow_unicode=True)
    return [(indent + line).rstrip() for line in text.rstrip("\n").splitlines()]


def print_variables(report: VariablesReport, item_errors: Sequence[Diagnostic], output: str) -> None:
    if output in ("json", "yaml"):
        data = report.to_dict()
        data["itemErrors"] = [diagnostic.render() for diagnostic in item_errors]
        click.echo(dump_json(data) if output == "json" else dump_yaml(data), nl=output == "json")
        return
    item = report.item
    fulfillment = item.spec.fulfillment
    fallback = ", falls back to manual" if fulfillment.fallback_to_manual and fulfillment.manual else ""
    click.echo(f"Item {item.metadata.name} {item.spec.version} ({report.file}): {fulfillment.mode}{fallback}")
    request = report.request
    click.echo(
        f"Request {request['namespace']}/{request['name']} (sample), environment "
        f"{report.environment or '(none)'}: {report.environment_source}"
    )
    click.echo("Fields (validated, defaults applied):")
    for line in _indented_yaml(report.fields, "  ") if report.fields else ["  {}"]:
        click.echo(line)
    for note in report.notes:
        click.echo(f"Note: {note}")
    lane = None
    for action in report.actions:
        if action.lane != lane:
            lane = action.lane
            primary = " (runs only after a fallback)" if lane != fulfillment.mode else ""
            click.echo(f"\n== {lane} path{primary if fulfillment.fallback_to_manual else ''} ==")
        click.echo(f"\n-- action {action.name} ({action.type})")
        if action.when is not None:
            verdict = {True: "true: runs", False: "false: skipped (rendered below for checking)", None: "error"}
            click.echo(f"  when {action.when} -> {verdict[action.when_value]}")
        if action.rendered is not None:
            click.echo("  rendered input:")
            for line in _indented_yaml(action.rendered):
                click.echo(line)
        else:
            click.echo("  rendered input: (failed, see the errors below)")
        if action.offers:
            click.echo(f"  outputs for later templates (outputs.{action.name}.*):")
            for line in _indented_yaml(action.offers):
                click.echo(line)
    for check in report.outputs:
        click.echo(f"\n== item outputs (after the {check.lane} path) ==")
        for line in _indented_yaml(check.values, "  ") if check.values else ["  (none)"]:
            click.echo(line)
    if item_errors:
        click.echo(f"\nThe catalog validator reports {len(item_errors)} error(s) in this item:")
        for diagnostic in item_errors:
            click.echo(f"  {diagnostic.render()}")
    warnings = [problem for problem in report.problems if problem.skipped]
    if warnings:
        click.echo("\nWarnings:")
        for problem in warnings:
            click.echo(f"  {problem.render()}")
    if report.errors:
        click.echo(f"\n{len(report.errors)} render error(s):")
        for problem in report.errors:
            click.echo(f"  {problem.render()}")
    else:
        rendered = len(report.actions)
        click.echo(f"\nAll templates rendered ({rendered} action(s), {len(report.outputs)} output set(s)).")
