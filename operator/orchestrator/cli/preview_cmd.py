"""`devctl preview form` and `devctl test variables`: see an item as requesters and the operator will, offline."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import EXIT_FAILED, EXIT_OK, CliError, get_globals, global_options

_catalog_option = click.option(
    "--catalog",
    "catalog_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Catalog root folder (default: $DEVCTL_CATALOG, else ./catalog).",
)


@click.group()
def preview() -> None:
    """Preview catalog items offline, as requesters will see them."""


@preview.command("form")
@click.argument("item")
@_catalog_option
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the form as one self-contained HTML page to this file instead.",
)
@global_options
def preview_form(item: str, catalog_dir: Path | None, html_file: Path | None) -> None:
    """Show an item's fields as the form a requester fills in.

    ITEM is an item's name in the catalog folder, or the path of its file. The terminal view draws a panel per
    group of fields (a nested object is a group of its own); each field shows its label, a required marker (*),
    the input (text, number, checkbox, select, list, key=value), its default, its constraints and description.
    With --html, one static HTML page (no external assets, no scripts) with real form inputs: required,
    pattern, min/max, length limits, <select> for enums, defaults filled in. $COLUMNS fixes the width.

    \b
    devctl preview form postgresql-standard
    devctl preview form catalog/workspaces/dev-workspace.yaml --html /tmp/form.html
    """
    import os

    from .offline_catalog import find_entry

    glob = get_globals()
    glob.formats("table")
    found = find_entry(item, catalog_dir, kinds=("CatalogItem", "CatalogBundle"))
    data = dict(found.entry.document.data)
    if html_file is not None:
        from .preview_form import render_html

        try:
            html_file.write_text(render_html(data), encoding="utf-8")
        except OSError as error:
            raise CliError(f"cannot write {html_file}: {error.strerror or error}") from None
        click.echo(f"wrote {html_file}")
        return
    from rich.console import Console

    from .preview_form import render_terminal

    columns = os.environ.get("COLUMNS", "")
    width = int(columns) if columns.isdigit() and int(columns) > 0 else None if sys.stdout.isatty() else 100
    console = Console(
        width=width, highlight=False, no_color=glob.no_color or bool(os.environ.get("NO_COLOR")), emoji=False
    )
    render_terminal(data, console)


@click.group("test")
def test_group() -> None:
    """Check catalog items offline with sample data and the operator's own code."""


@test_group.command("variables")
@click.argument("item")
@_catalog_option
@click.option("--field", "field_flags", multiple=True, metavar="KEY=VALUE", help="A field value (YAML scalar).")
@click.option(
    "-f",
    "--values",
    "values_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Field values from a YAML file (a mapping, or a ServiceRequest manifest's spec.fields).",
)
@click.option("--action", "only_action", metavar="NAME", help="Show only this action.")
@click.option("--environment", metavar="NAME", help="The request's environment (default: the config's default).")
@click.option(
    "--environments",
    "environments_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The operator's environments config (e.g. examples/environments.yaml); without it, placeholders.",
)
@global_options
def test_variables(
    item: str,
    catalog_dir: Path | None,
    field_flags: tuple[str, ...],
    values_files: tuple[Path, ...],
    only_action: str | None,
    environment: str | None,
    environments_file: Path | None,
) -> None:
    """Render every template of an item with your field values and sample scopes.

    Fields from -f files (a mapping, or a ServiceRequest manifest: its spec.fields, and its spec.environment
    unless --environment is given), then --field flags (KEY=VALUE, YAML scalars, dotted keys for nested
    fields), get the schema's defaults and are validated exactly as the operator validates a request. The
    other scopes are samples: request and system values, the environment (from --environments FILE, else placeholders),
    secrets as placeholders, and each earlier action's outputs as placeholders shaped like what it exposes
    (Terraform module outputs, JIRA key/url and outputs, workspace namespace, HTTP status and outputs). Every
    action of both paths is rendered with the operator's renderer (its `when` evaluated), then the item's
    outputs. Exit 1 on invalid fields or on any render error, named by file, line, action and template path.

    \b
    devctl test variables postgresql-standard --field dbName=orders --field size=large
    devctl test variables dns-record -f values.yaml --environments examples/environments.yaml --environment dev
    """
    from .offline_catalog import find_entry
    from .request_fields import FieldInputError, collect_fields
    from .template_check import InputProblem, Inputs, check_variables
    from .template_report import environment_of, load_environments_file, print_variables

    glob = get_globals()
    output = glob.formats("table", "json", "yaml")
    found = find_entry(item, catalog_dir)
    try:
        fields = collect_fields(values_files, field_flags)
    except FieldInputError as error:
        raise CliError(str(error)) from None
    environments = load_environments_file(environments_file) if environments_file is not None else None
    from ..api.catalog import CatalogItem

    model = found.entry.model
    known = [action.name for action in model.all_actions()] if isinstance(model, CatalogItem) else []
    if only_action is not None and only_action not in known:
        from ..catalog.diagnostics import suggest
        from .common import EXIT_NOT_FOUND

        raise CliError(
            f"item '{found.entry.name}' has no action '{only_action}'{suggest(only_action, known)}",
            exit_code=EXIT_NOT_FOUND,
            hint=f"its actions: {', '.join(known)}",
        )
    from ..catalog.semantic import ModuleCache

    inputs = Inputs(
        fields,
        environment=environment or environment_of(values_files),
        environments=environments,
        environments_source=str(environments_file) if environments_file is not None else None,
        namespace=glob.namespace,
        only_action=only_action,
    )
    try:
        report = check_variables(found.entry, ModuleCache(found.catalog.root), inputs)
    except InputProblem as error:
        raise CliError(
            str(error), hint=f"devctl catalog get {found.entry.name} --catalog {found.catalog.root} lists the fields"
        ) from None
    print_variables(report, found.errors, output)
    sys.exit(EXIT_OK if not report.errors and not found.errors else EXIT_FAILED)
