"""devctl: the developer and platform-team CLI.

Exit codes: 0 success / valid; 1 invalid input or failed operation; 2 usage error; 3 internal error;
4 timed out waiting.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from .. import __version__
from ..catalog.validate import load_environments, validate_catalog_paths, validate_request_file
from ..clients.cluster import Cluster, ClusterError
from ..config import parse_duration
from .catalog_refresh import DEFAULT_OPERATOR_NAMESPACE, print_refresh, refresh_sources
from .output import OutputFormat, print_report

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL, EXIT_TIMEOUT = 0, 1, 2, 3, 4

_existing_path = click.Path(exists=True, path_type=Path)
_output_option = click.option(
    "-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True, help="Output format."
)


def _console() -> Console:
    # Piped output keeps whole lines (grep-able, no truncated table cells); a terminal gets its own width.
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 240)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="devctl")
def cli() -> None:
    """Platform Orchestrator's CLI: browse the catalog, request services, validate catalog changes."""


@cli.group()
def validate() -> None:
    """Check catalog files and requests offline, with the validator the operator uses."""


def _validate_catalog(paths: tuple[Path, ...], strict: bool, output: OutputFormat) -> None:
    report = validate_catalog_paths(list(paths), strict=strict)
    print_report(report, output=output, strict=strict, console=_console())
    sys.exit(EXIT_OK if report.ok(strict=strict) else EXIT_INVALID)


_strict_option = click.option(
    "--strict", is_flag=True, help="Also warn on missing descriptions and deprecated items in bundles; warnings fail."
)


@validate.command("catalog-item")
@click.argument("paths", nargs=-1, required=True, type=_existing_path)
@_strict_option
@_output_option
def validate_catalog_item(paths: tuple[Path, ...], strict: bool, output: OutputFormat) -> None:
    """Validate catalog files or whole catalog folders (items and bundles).

    A folder is a catalog root: module paths resolve inside it, and bundles find their items there.
    """
    _validate_catalog(paths, strict, output)


@validate.command("bundle")
@click.argument("paths", nargs=-1, required=True, type=_existing_path)
@_strict_option
@_output_option
def validate_bundle(paths: tuple[Path, ...], strict: bool, output: OutputFormat) -> None:
    """Validate CatalogBundle files; their items are looked up in the file's catalog root."""
    _validate_catalog(paths, strict, output)


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
@_output_option
def validate_request(path: Path, catalog_dir: Path, environments_file: Path | None, output: OutputFormat) -> None:
    """Validate a ServiceRequest manifest against its catalog item or bundle."""
    console = _console()
    environments = None
    if environments_file is not None:
        environments, problems = load_environments(environments_file)
        if environments is None:
            for problem in problems:
                click.echo(problem.render(), err=True)
            sys.exit(EXIT_INVALID)
    report = validate_request_file(path, catalog_dir, environments=environments)
    print_report(report, output=output, strict=False, console=console)
    sys.exit(EXIT_OK if report.ok() else EXIT_INVALID)


@cli.group()
def catalog() -> None:
    """The catalog in the cluster: its sources and their syncs."""


@catalog.command("refresh")
@click.argument("sources", nargs=-1)
@click.option(
    "-n",
    "--namespace",
    default=DEFAULT_OPERATOR_NAMESPACE,
    show_default=True,
    envvar="DEVCTL_OPERATOR_NAMESPACE",
    help="The operator's namespace, where CatalogSources live ($DEVCTL_OPERATOR_NAMESPACE).",
)
@click.option("--wait", is_flag=True, help="Wait until the sync has run; exit 1 with its errors if it failed.")
@click.option(
    "--timeout",
    default="2m",
    show_default=True,
    help="With --wait: give up after this long (exit 4). Accepts 30s, 5m, 1h.",
)
@click.option("--kubeconfig", envvar="KUBECONFIG", help="Path to the kubeconfig file ($KUBECONFIG).")
@click.option("--context", "kube_context", help="The kubeconfig context to use.")
@_output_option
def catalog_refresh(
    sources: tuple[str, ...],
    namespace: str,
    wait: bool,
    timeout: str,
    kubeconfig: str | None,
    kube_context: str | None,
    output: OutputFormat,
) -> None:
    """Ask the operator to sync CatalogSources now (all of the namespace's unless SOURCES are named).

    Sets the annotation orchestrator.dev/refresh; the operator reads the source again, even a revision it found
    invalid before, and records the request in status.lastHandledRefreshAt.
    """
    try:
        seconds = parse_duration(timeout)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--timeout") from None
    console = _console()
    try:
        cluster = Cluster(kubeconfig.split(os.pathsep)[0] if kubeconfig else None, kube_context)
        results = refresh_sources(cluster, namespace, list(sources), wait=wait, timeout=seconds)
    except ClusterError as error:
        click.echo(f"devctl: {error}", err=True)
        sys.exit(EXIT_INVALID)
    print_refresh(results, output=output, console=console)
    if any(result.outcome == "timeout" for result in results):
        sys.exit(EXIT_TIMEOUT)
    sys.exit(EXIT_OK if all(result.outcome in ("applied", "requested") for result in results) else EXIT_INVALID)


def main(argv: list[str] | None = None) -> Any:
    """Entry point: usage errors exit 2 (click), unexpected failures exit 3 with one line, never a traceback."""
    try:
        return cli.main(args=argv, prog_name="devctl", standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # last resort: a bug of ours must still not print a traceback at users
        click.echo(f"devctl: internal error: {type(exc).__name__}: {exc} (please report this)", err=True)
        sys.exit(EXIT_INTERNAL)
