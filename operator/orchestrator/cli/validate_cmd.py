"""`devctl validate catalog-item|bundle|request`: the operator's validator, offline."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import EXIT_FAILED, EXIT_OK, get_globals, global_options

_existing_path = click.Path(exists=True, path_type=Path)
_strict_option = click.option(
    "--strict", is_flag=True, help="Also warn on missing descriptions and deprecated items in bundles; warnings fail."
)


@click.group()
def validate() -> None:
    """Check catalog files and requests offline, with the validator the operator uses.

    Exit 0 when valid, 1 when anything is invalid (each problem named by file, line and path).
    """


def _validate_catalog(paths: tuple[Path, ...], strict: bool) -> None:
    from ..catalog.terraform_modules import TerraformParseCache
    from ..catalog.validate import validate_catalog_paths
    from .output import print_report

    glob = get_globals()
    output = glob.formats("table", "json", "yaml")
    report = validate_catalog_paths(list(paths), strict=strict, parse_cache=TerraformParseCache.default())
    print_report(report, output=output, strict=strict, console=glob.console)
    sys.exit(EXIT_OK if report.ok(strict=strict) else EXIT_FAILED)


@validate.command("catalog-item")
@click.argument("paths", nargs=-1, required=True, type=_existing_path)
@_strict_option
@global_options
def validate_catalog_item(paths: tuple[Path, ...], strict: bool) -> None:
    """Validate catalog files or whole catalog folders (items and bundles).

    A folder is a catalog root: module paths resolve inside it, and bundles find their items there.

    \b
    devctl validate catalog-item catalog/
    devctl validate catalog-item catalog/databases/postgresql-standard.yaml -o json
    """
    _validate_catalog(paths, strict)


@validate.command("bundle")
@click.argument("paths", nargs=-1, required=True, type=_existing_path)
@_strict_option
@global_options
def validate_bundle(paths: tuple[Path, ...], strict: bool) -> None:
    """Validate CatalogBundle files; their items are looked up in the file's catalog root."""
    _validate_catalog(paths, strict)


@validate.command("request")
@click.argument("path", type=_existing_path)
@click.option(
    "--catalog",
    "catalog_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Catalog root folder.",
)
@click.option(
    "--environments",
    "environments_file",
    type=_existing_path,
    help="Environments config (the operator's environments.yaml); without it, environments are not checked.",
)
@global_options
def validate_request(path: Path, catalog_dir: Path, environments_file: Path | None) -> None:
    """Validate a ServiceRequest manifest against its catalog item or bundle."""
    from ..catalog.validate import load_environments, validate_request_file
    from .output import print_report

    glob = get_globals()
    output = glob.formats("table", "json", "yaml")
    environments = None
    if environments_file is not None:
        environments, problems = load_environments(environments_file)
        if environments is None:
            for problem in problems:
                click.echo(problem.render(), err=True)
            sys.exit(EXIT_FAILED)
    report = validate_request_file(path, catalog_dir, environments=environments)
    print_report(report, output=output, strict=False, console=glob.console)
    sys.exit(EXIT_OK if report.ok() else EXIT_FAILED)
