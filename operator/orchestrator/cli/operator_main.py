"""`orchestrator`: the operator's own command (the image's entrypoint)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from pathlib import Path

import click

from .. import __version__
from ..api.render import to_yaml
from ..api.schema import crds
from .terraform_run import terraform_run


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="orchestrator")
def cli() -> None:
    """Platform Orchestrator operator."""


@cli.command("crds")
def print_crds() -> None:
    """Print the CustomResourceDefinitions (for `kubectl apply -f -`)."""
    documents = list(crds().values())
    click.echo("---\n".join(to_yaml(document) for document in documents), nl=False)


@cli.command("run")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="YAML settings file (also $ORCHESTRATOR_CONFIG); ORCHESTRATOR_* variables override it.",
)
@click.option("--kubeconfig", default=None, help="kubeconfig file; in-cluster service account when omitted.")
@click.option("--context", default=None, help="kubeconfig context.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def run(config_file: Path | None, kubeconfig: str | None, context: str | None, verbose: bool) -> None:
    """Run the operator (kopf) until SIGTERM."""
    from ..config import ConfigError, load_settings
    from ..handlers.operator import run_operator

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    try:
        settings = load_settings(config_file)
    except ConfigError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_operator(settings, kubeconfig=kubeconfig, context=context))


cli.add_command(terraform_run)


def main() -> None:
    cli(prog_name="orchestrator")


if __name__ == "__main__":  # `python -m orchestrator.cli.operator_main`, as the image and tests run it
    main()
