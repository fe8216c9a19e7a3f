"""`orchestrator`: the operator's own command (the image's entrypoint)."""

from __future__ import annotations

import click

from .. import __version__
from ..api.render import to_yaml
from ..api.schema import crds


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="orchestrator")
def cli() -> None:
    """Platform Orchestrator operator."""


@cli.command("crds")
def print_crds() -> None:
    """Print the CustomResourceDefinitions (for `kubectl apply -f -`)."""
    documents = list(crds().values())
    click.echo("---\n".join(to_yaml(document) for document in documents), nl=False)


def main() -> None:
    cli(prog_name="orchestrator")
